# A cursor walk over many pages, forwards and backwards, while rows are
# inserted: no duplicate, no gap.

use strict;
use warnings;

use Test::Nginx::Socket 'no_plan';
use Test::More;
use JSON::PP;
use CRM::Test qw(http_request sql);

my @H = ("X-API-Key: $CRM::Test::KEY_A");

CRM::Test::reset();

# 25 contacts; created_at repeats in pairs, so the id breaks ties
sql("INSERT INTO contacts (workspace_id, id, email, first_name, created_at)"
    . " SELECT '$CRM::Test::WS_A',"
    . " ('f0000000-0000-4000-8000-' || lpad(i::text, 12, '0'))::uuid,"
    . " 'walk' || i || '\@example.com', 'W' || i,"
    . " '2026-03-01T00:00:00Z'::timestamptz + ((i / 2) || ' minutes')::interval"
    . " FROM generate_series(1, 25) AS i");

sub page {
    my ($query) = @_;
    my ($status, $body) = http_request('GET', "/api/v1/contacts?$query", \@H);
    die "page $query: status $status: $body\n" unless $status == 200;
    return decode_json($body);
}

# pages of the list "$base" from "$first" (default: $base itself) on, by
# the cursors of $dir: the ids in the order read, the number of pages,
# the pages

sub walk {
    my ($base, $dir, $first) = @_;
    my (@ids, @docs, $doc);
    my $q = $first // $base;

    for (;;) {
        $doc = page($q);
        push @docs, $doc;
        push @ids, map { $_->{id} } @{ $doc->{data} };
        my $c = $doc->{meta}{cursor}{$dir} // last;
        $q = "$base&cursor=$c";
        last if @docs > 50;
    }

    return (\@ids, scalar(@docs), \@docs);
}

Test::Nginx::Socket::add_response_body_check(sub {
    my ($block, $body, $req_idx, $repeated, $dry_run) = @_;
    my $name = $block->name;
    my $orig = [map { $_->{id} } @{ decode_json($body)->{data} }];

    if ($name =~ /forwards/) {
        # walk page by page, inserting rows between pages
        my $doc = decode_json($body);
        my @seen = @$orig;
        my $pages = 1;
        my $next = $doc->{meta}{cursor}{next};

        while (defined $next) {
            if ($pages == 2) {
                # newer than everything: before the cursor, never shown
                sql("INSERT INTO contacts (workspace_id, email, created_at)"
                    . " VALUES ('$CRM::Test::WS_A', 'new1\@example.com',"
                    . " '2026-04-01T00:00:00Z')");
                # at the very end: after the cursor, shown once
                sql("INSERT INTO contacts (workspace_id, email, created_at)"
                    . " VALUES ('$CRM::Test::WS_A', 'old1\@example.com',"
                    . " '2026-01-01T00:00:00Z')");
            }

            $doc = page("limit=4&cursor=$next");
            $pages++;
            push @seen, map { $_->{id} } @{ $doc->{data} };
            ok(@{ $doc->{data} } <= 4, "$name - page $pages has at most 4");
            $next = $doc->{meta}{cursor}{next};
            last if $pages > 50;
        }

        my %n;
        $n{$_}++ for @seen;
        is(scalar(grep { $n{$_} > 1 } keys %n), 0, "$name - no duplicate");

        my @want = map { sprintf('f0000000-0000-4000-8000-%012d', $_) }
                   reverse 1 .. 25;
        is(scalar(grep { !$n{$_} } @want), 0, "$name - no gap");
        is(scalar(@seen), 26, "$name - 25 rows and the one added behind");
        is($pages, 7, "$name - seven pages of four");
        ok(!$doc->{meta}{cursor}{hasMore}, "$name - the last page says so");

        # the order holds across pages: same as one big page
        my $all = page('limit=200');
        my @one = grep { $n{$_} } map { $_->{id} } @{ $all->{data} };
        is(join(',', @seen), join(',', @one), "$name - same order as one page");

    } elsif ($name =~ /backwards/) {
        # from the last page back to the first with previous cursors
        my ($fwd) = walk('limit=4', 'next');

        # walk forward to the end, then back with "previous"
        my $q = 'limit=4';
        my @pages;
        for (;;) {
            my $d = page($q);
            push @pages, $d;
            my $c = $d->{meta}{cursor}{next} // last;
            $q = "limit=4&cursor=$c";
        }

        my @back = map { $_->{id} } @{ $pages[-1]{data} };
        my $prev = $pages[-1]{meta}{cursor}{previous};
        my $n = 1;
        while (defined $prev) {
            my $d = page("limit=4&cursor=$prev");
            unshift @back, map { $_->{id} } @{ $d->{data} };
            is(join(',', map { $_->{id} } @{ $d->{data} }),
               join(',', map { $_->{id} } @{ $pages[-1 - $n]{data} }),
               "$name - page " . (scalar(@pages) - $n) . " is the same");
            $prev = $d->{meta}{cursor}{previous};
            $n++;
            last if $n > 50;
        }

        is($n, scalar(@pages), "$name - back to the first page");
        is(join(',', @back), join(',', @$fwd), "$name - no duplicate, no gap");

    } elsif ($name =~ /leave the sort keys out/) {
        # the keys are not among the columns rendered: fetched apart,
        # and a NULL firstName (the rows test 1 added) among them
        my $list = 'limit=4&fields=email&sort=firstName,-createdAt';
        my $doc = decode_json($body);
        my @seen = @$orig;
        my $pages = 1;

        is(join(',', sort keys %{ $doc->{data}[0] }), 'email,id',
           "$name - the fields asked for");

        while (defined(my $c = $doc->{meta}{cursor}{next})) {
            $doc = page("$list&cursor=$c");
            push @seen, map { $_->{id} } @{ $doc->{data} };
            last if ++$pages > 50;
        }

        my $all = page('limit=200&sort=firstName,-createdAt');
        is(join(',', @seen), join(',', map { $_->{id} } @{ $all->{data} }),
           "$name - the order of one page, no duplicate, no gap");
        is($pages, 7, "$name - seven pages of four");

    } elsif ($name =~ /ties across page boundaries/) {
        # pages of 3 over times that repeat in pairs: a page ends inside
        # a pair every other page, so the next page starts at the id that
        # breaks the tie; forwards and backwards, both directions of the
        # time, against one big page of the same order
        for my $sort ('-createdAt', 'createdAt', '-createdAt,-id',
                      'createdAt,-id')
        {
            my $all = page("limit=200&sort=$sort");
            my @one = map { $_->{id} } @{ $all->{data} };
            my $base = "limit=3&sort=$sort";

            my ($fwd, undef, $pages) = walk($base, 'next');
            is(join(',', @$fwd), join(',', @one),
               "$name - $sort: forwards, the order of one page");

            # back from the last page: the pages come newest first
            my @back = map { $_->{id} } @{ $pages->[-1]{data} };
            my $prev = $pages->[-1]{meta}{cursor}{previous};
            if (defined $prev) {
                my (undef, undef, $earlier) =
                    walk($base, 'previous', "$base&cursor=$prev");
                unshift @back, map { $_->{id} }
                               map { @{ $_->{data} } } reverse @$earlier;
            }

            is(join(',', @back), join(',', @one),
               "$name - $sort: backwards, the same rows in the same order");
        }

    } elsif ($name =~ /one sort is refused/) {
        my $c = page('limit=2')->{meta}{cursor}{next};
        my ($status, $b) = http_request('GET',
                                        "/api/v1/contacts?sort=email&cursor=$c",
                                        \@H);
        is($status, 400, "$name - 400");
        like($b, qr/"parameter":"cursor"/, "$name - names the cursor");

        # and a cursor with one byte changed
        substr($c, 5, 1) = substr($c, 5, 1) eq 'A' ? 'B' : 'A';
        ($status) = http_request('GET', "/api/v1/contacts?cursor=$c", \@H);
        is($status, 400, "$name - a tampered cursor is 400 too");
    }
});

no_shuffle();
run_tests();

__DATA__

=== TEST 1: walking forwards while rows are inserted
--- request
GET /api/v1/contacts?limit=4
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
--- error_code: 200
--- response_body_like: "previous":null,"hasMore":true

=== TEST 2: walking backwards with previous cursors
--- request
GET /api/v1/contacts?limit=4&sort=-createdAt,firstName
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
--- error_code: 200

=== TEST 3: a cursor made for one sort is refused under another
--- request
GET /api/v1/contacts?limit=4&sort=email&cursor=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
--- error_code: 400
--- response_body_like: "parameter":"cursor"

=== TEST 4: walking with fields that leave the sort keys out
--- request
GET /api/v1/contacts?limit=4&fields=email&sort=firstName,-createdAt
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
--- error_code: 200
--- response_body_like: "previous":null,"hasMore":true


=== TEST 5: ties across page boundaries
--- request
GET /api/v1/contacts?limit=3
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
--- error_code: 200
--- response_body_like: "hasMore":true
