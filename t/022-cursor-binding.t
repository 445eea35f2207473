# A cursor is good for the list, workspace, sort, filters and q it was
# made for, and nowhere else: anything else is 400 INVALID_PARAMETER
# naming "cursor" with code invalid_cursor.  Walks still work.

use strict;
use warnings;

use Test::Nginx::Socket 'no_plan';
use Test::More;
use CRM::Test qw(api sql);

my ($A, $B) = ($CRM::Test::WS_A, $CRM::Test::WS_B);
my ($KA, $KB) = ($CRM::Test::KEY_A, $CRM::Test::KEY_B);
my $C1 = 'c0000000-0000-4000-8000-000000000001';
my $C2 = 'c0000000-0000-4000-8000-000000000002';

CRM::Test::reset();
sql(<<"_SQL_");
INSERT INTO companies (workspace_id, id, name) VALUES
 ('$A', '$C1', 'One'), ('$A', '$C2', 'Two'),
 ('$A', 'c0000000-0000-4000-8000-000000000003', 'Three');
INSERT INTO contacts (workspace_id, email, status, company_id)
SELECT '$A', 'bind' || i || '\@a.test',
       CASE WHEN i % 2 = 0 THEN 'lead' ELSE 'active' END,
       CASE WHEN i <= 3 THEN '$C1'::uuid ELSE '$C2'::uuid END
  FROM generate_series(1, 6) AS i;
INSERT INTO contacts (workspace_id, email)
SELECT '$B', 'bind' || i || '\@b.test' FROM generate_series(1, 3) AS i;
INSERT INTO custom_fields (workspace_id, object, name, type) VALUES
 ('$A', 'contacts', 'one', 'text'), ('$A', 'contacts', 'two', 'text'),
 ('$A', 'contacts', 'three', 'text'), ('$A', 'companies', 'other', 'text');
_SQL_

# the next cursor of a first page of one row
sub next_cursor {
    my ($path, $key) = @_;
    my $sep = $path =~ /\?/ ? '&' : '?';
    my ($s, $d) = api('GET', "$path${sep}limit=1", $key);
    die "GET $path: $s\n" unless $s == 200 && $d->{meta}{cursor}{next};
    return $d->{meta}{cursor}{next};
}

# the cursor is refused with the documented error
sub refused {
    my ($path, $key, $what) = @_;
    my ($s, $d) = api('GET', $path, $key);
    is($s, 400, "$what: 400");
    is($d->{error}{code} // '', 'INVALID_PARAMETER',
       "$what: INVALID_PARAMETER");
    is($d->{error}{details}{parameter} // '', 'cursor',
       "$what: names the cursor");
    is($d->{error}{details}{code} // '', 'invalid_cursor',
       "$what: invalid_cursor");
}

sub accepted {
    my ($path, $key, $what) = @_;
    my ($s, $d) = api('GET', $path, $key);
    is($s, 200, "$what: 200");
    return $d;
}

# the default configuration with a pool of one connection and no jobs
sub one_connection {
    (my $c = $CRM::Test::HttpConfig)
        =~ s/crm_postgres_pool_size \d+;/crm_postgres_pool_size 1;/;
    return $c . "    crm_jobs off;\n";
}

# every page of a walk, one row a page: the names or emails seen
sub walk {
    my ($path, $key) = @_;
    my $sep = $path =~ /\?/ ? '&' : '?';
    my ($q, @seen) = ("$path${sep}limit=1");
    for (1 .. 20) {
        my ($s, $d) = api('GET', $q, $key);
        return "status $s" unless $s == 200;
        push @seen, map { $_->{name} // $_->{email} } @{ $d->{data} };
        my $c = $d->{meta}{cursor}{next} // last;
        $q = "$path${sep}limit=1&cursor=$c";
    }
    return join(' ', @seen);
}

Test::Nginx::Socket::add_response_body_check(sub {
    my ($block, $body, $req_idx, $repeated, $dry_run) = @_;
    return if $dry_run;
    my $name = $block->name;

    if ($name =~ /another resource/) {
        my $c = next_cursor('/api/v1/contacts', $KA);
        accepted("/api/v1/contacts?cursor=$c", $KA, 'on contacts');
        for my $n (qw(companies users api-keys pipelines deals leads
                      activities custom-fields))
        {
            refused("/api/v1/$n?cursor=$c", $KA,
                    "a contacts cursor on /$n");
        }

        # the same list under the other mount point is the same list
        accepted("/v1/contacts?cursor=$c", $KA, 'on /v1/contacts');

    } elsif ($name =~ /another workspace/) {
        my $c = next_cursor('/api/v1/contacts', $KB);
        accepted("/api/v1/contacts?cursor=$c", $KB, "B's cursor in B");
        refused("/api/v1/contacts?cursor=$c", $KA, "B's cursor in A");

        $c = next_cursor('/api/v1/contacts', $KA);
        refused("/api/v1/contacts?cursor=$c", $KB, "A's cursor in B");

    } elsif ($name =~ /another sort/) {
        my $c = next_cursor('/api/v1/contacts?sort=email', $KA);
        accepted("/api/v1/contacts?sort=email&cursor=$c", $KA,
                 'the same sort');
        refused("/api/v1/contacts?sort=-email&cursor=$c", $KA,
                'the other direction');
        refused("/api/v1/contacts?cursor=$c", $KA, 'the default sort');
        refused("/api/v1/contacts?sort=email,status&cursor=$c", $KA,
                'one key more');

    } elsif ($name =~ /another filter/) {
        my $c = next_cursor('/api/v1/contacts?status=lead&q=bind', $KA);
        accepted("/api/v1/contacts?q=bind&status=lead&limit=5&cursor=$c",
                 $KA, 'the same filters in another order, another limit');
        accepted("/api/v1/contacts?status=lead&q=bind&fields=email"
                 . "&count=exact&cursor=$c", $KA, 'with fields and count');
        refused("/api/v1/contacts?cursor=$c", $KA, 'without the filters');
        refused("/api/v1/contacts?status=active&q=bind&cursor=$c", $KA,
                'another status');
        refused("/api/v1/contacts?status=lead&cursor=$c", $KA,
                'without q');
        refused("/api/v1/contacts?status=lead&q=bind2&cursor=$c", $KA,
                'another q');

    } elsif ($name =~ /another parent/) {
        my $c = next_cursor("/api/v1/companies/$C1/contacts", $KA);
        accepted("/api/v1/companies/$C1/contacts?cursor=$c", $KA,
                 'the same parent');
        accepted("/api/v1/companies/\U$C1\E/contacts?cursor=$c", $KA,
                 'the same parent in capitals');
        refused("/api/v1/companies/$C2/contacts?cursor=$c", $KA,
                'another parent');
        refused("/api/v1/contacts?cursor=$c", $KA, 'the whole collection');
        refused("/api/v1/companies/$C1/deals?cursor=$c", $KA,
                "another link of the parent");

        $c = next_cursor('/api/v1/contacts', $KA);
        refused("/api/v1/companies/$C1/contacts?cursor=$c", $KA,
                "the collection's cursor on a sub-collection");

        $c = next_cursor('/api/v1/metadata/objects/contacts/fields', $KA);
        refused("/api/v1/metadata/objects/companies/fields?cursor=$c", $KA,
                "another object's custom fields");
        refused("/api/v1/custom-fields?cursor=$c", $KA,
                'all custom fields');

    } elsif ($name =~ /statement cache is full/) {
        # one connection: more distinct statements than it keeps
        # prepared (CRM_PG_STMT_CACHE, 128; a list's statement depends
        # on its filters, not on fields=), so what comes next runs
        # unnamed, its cursor's bounds bound in binary all the same
        my @f = qw(firstName lastName email phone title companyId ownerId
                   status source createdAt updatedAt);
        my @shapes;
        for my $x (@f) {
            push @shapes, map { "$x\[is]=notnull&$_\[is]=null" }
                          grep { $_ ne $x } @f;
            push @shapes, map { "$x\[is]=null&$_\[is]=null" }
                          grep { $_ gt $x } @f;
        }
        my $ok = grep { (api('GET', "/api/v1/contacts?$_", $KA))[0] == 200 }
                 @shapes;
        is($ok, scalar(@shapes), "$ok of " . scalar(@shapes)
           . ' distinct statements answered');
        is(walk('/api/v1/contacts?sort=email&status=lead', $KA),
           'bind2@a.test bind4@a.test bind6@a.test', 'a filtered walk');
        is(walk('/api/v1/contacts?sort=-createdAt,email&status=active',
                $KA),
           'bind1@a.test bind3@a.test bind5@a.test',
           'a walk by time (a binary timestamp bound)');
        is(walk("/api/v1/companies/$C1/contacts?sort=email", $KA),
           'bind1@a.test bind2@a.test bind3@a.test', 'a sub-collection walk');

    } elsif ($name =~ /long sort values/) {
        # three contacts whose custom text is 600 characters of two
        # octets (longer than a filter's value may be), a fourth's
        # 3,000 (too long for a cursor)
        sql("INSERT INTO contacts (workspace_id, email, custom_fields)"
            . " SELECT '$A', 'long' || i || '\@a.test',"
            . " jsonb_build_object('two', repeat(chr(232 + i), 600))"
            . " FROM generate_series(1, 3) AS i");
        is(walk('/api/v1/contacts?sort=customFields.two'
                . '&customFields.two[is]=notnull', $KA),
           'long1@a.test long2@a.test long3@a.test',
           'a walk by values of 1,200 octets');
        is(walk('/api/v1/contacts?sort=-customFields.two'
                . '&customFields.two[is]=notnull', $KA),
           'long3@a.test long2@a.test long1@a.test', 'and back');
        sql("UPDATE contacts SET custom_fields = jsonb_build_object('two',"
            . " repeat(chr(233), 3000)) WHERE email = 'long1\@a.test'");
        my ($s, $d) = api('GET', '/api/v1/contacts?sort=customFields.two'
                          . '&customFields.two[is]=notnull&limit=1', $KA);
        is($s, 400, 'a value too long for a cursor at the page edge: 400');
        is(($d->{error}{details}{parameter} // '') . ' '
           . ($d->{error}{details}{code} // ''), 'sort sort_key_too_long',
           'naming sort, sort_key_too_long');
        ($s) = api('GET', '/api/v1/contacts?sort=customFields.two'
                   . '&customFields.two[is]=notnull&limit=5', $KA);
        is($s, 200, 'the same list in one page: 200');
        ($s, $d) = api('GET', '/api/v1/contacts?sort=customFields.two'
                       . '&customFields.two[is]=notnull&limit=1&offset=0',
                       $KA);
        is($s . ' ' . ($d->{data}[0]{email} // '') . ' '
           . (defined $d->{meta}{cursor}{next} ? 'next' : 'null') . ' '
           . ($d->{meta}{cursor}{hasMore} ? 'more' : 'last'),
           '200 long1@a.test null more',
           'paged by offset, as the error says: 200, no next cursor,'
           . ' hasMore');
        ($d) = (api('GET', '/api/v1/contacts?sort=customFields.two'
                    . '&customFields.two[is]=notnull&limit=1&page=2',
                    $KA))[1];
        is(($d->{data}[0]{email} // '') . ' '
           . (defined $d->{meta}{cursor}{next} ? 'next' : 'null'),
           'long2@a.test next', 'the next page by page=, with its cursor');

    } elsif ($name =~ /still walk/) {
        is(walk('/api/v1/contacts?sort=email&status=lead', $KA),
           'bind2@a.test bind4@a.test bind6@a.test', 'a filtered walk');
        is(walk("/api/v1/companies/$C1/contacts?sort=email", $KA),
           'bind1@a.test bind2@a.test bind3@a.test', 'a sub-collection walk');
        is(walk('/api/v1/metadata/objects/contacts/fields?sort=name', $KA),
           'one three two', "a walk through one object's custom fields");
        is(walk('/api/v1/companies?sort=name', $KA), 'One Three Two',
           'a walk through companies');
        is(walk('/api/v1/contacts?sort=email', $KB),
           'bind1@b.test bind2@b.test bind3@b.test', "a walk in B");
    }
});

no_shuffle();
run_tests();

__DATA__

=== TEST 1: a cursor of another resource is refused
--- request
GET /api/v1/contacts?limit=1
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
--- error_code: 200

=== TEST 2: a cursor of another workspace is refused
--- request
GET /api/v1/contacts?limit=1
--- more_headers
X-API-Key: test-key-b-0123456789abcdef
--- error_code: 200

=== TEST 3: a cursor of another sort is refused
--- request
GET /api/v1/contacts?limit=1&sort=email
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
--- error_code: 200

=== TEST 4: a cursor of another filter or q is refused
--- request
GET /api/v1/contacts?limit=1&status=lead
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
--- error_code: 200

=== TEST 5: a sub-collection's cursor is refused under another parent
--- request
GET /api/v1/companies/c0000000-0000-4000-8000-000000000001/contacts?limit=1
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
--- error_code: 200

=== TEST 6: cursors still walk every kind of list
--- request
GET /api/v1/contacts?limit=1
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
--- error_code: 200
--- no_error_log
[alert]
[emerg]



=== TEST 7: cursors walk when the connection's statement cache is full (unnamed statements)
--- http_config eval
main::one_connection()
--- request
GET /api/v1/contacts?limit=1
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
--- error_code: 200
--- no_error_log
[error]



=== TEST 8: cursors carry long sort values; one too long for a cursor is said so
--- request
GET /api/v1/contacts?limit=1
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
--- error_code: 200
--- no_error_log
[error]
