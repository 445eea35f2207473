# Search: q= on lists and GET /search across resources; substrings, typos,
# words in any order; ranked; scoped to the workspace and the credential;
# every searchable resource indexed on exactly the planner's expression.

use strict;
use warnings;

use Test::Nginx::Socket 'no_plan';
use Test::More;
use JSON::PP;
use CRM::Test qw(sql api);

my $A = $CRM::Test::WS_A;
my $B = $CRM::Test::WS_B;
my %K = %CRM::Test::KEYS;

CRM::Test::reset();
CRM::Test::stored_key($K{read_a}, $A, '{contacts:read}');
sql(<<"_SQL_");
INSERT INTO companies (workspace_id, name, domain) VALUES
 ('$A', 'Acme Rockets', 'acme.test'),
 ('$A', 'Globex', 'globex.test'),
 ('$B', 'Acme Rockets B', 'acme-b.test');
INSERT INTO contacts (workspace_id, first_name, last_name, email) VALUES
 ('$A', 'Ann', 'Smith', 'ann.smith\@acme.test'),
 ('$A', 'Bob', 'Smithers', 'bob\@globex.test'),
 ('$A', 'Carl', 'Jones', 'carl\@initech.test'),
 ('$B', 'Ann', 'Smith', 'ann\@b.test');
INSERT INTO deals (workspace_id, name) VALUES
 ('$A', 'Acme rocket fuel'),
 ('$B', 'Acme B deal');
_SQL_

add_block_preprocessor(sub {
    my $block = shift;
    my $h = $block->more_headers // '';
    $h = "X-API-Key: $CRM::Test::KEY_A\n$h" unless $h =~ /^X-API-Key:/m;
    $block->set_value('more_headers', $h);
});

sub snake {
    my ($s) = @_;
    $s =~ s/([A-Z])/_\l$1/g;
    return $s;
}

Test::Nginx::Socket::add_response_body_check(sub {
    my ($block, $body, $req_idx, $repeated, $dry_run) = @_;
    return if $dry_run;
    my $name = $block->name;

    if ($name =~ /TEST 4:/) {
        # a cursor walk through a search, one row a page
        my (@names, $url);
        $url = '/api/v1/contacts?q=smith&sort=firstName&limit=1';
        for (1 .. 4) {
            my ($s, $d) = api('GET', $url, $CRM::Test::KEY_A);
            last unless $s == 200 && @{ $d->{data} };
            push @names, $d->{data}[0]{firstName};
            my $next = $d->{meta}{cursor}{next} or last;
            $url = '/api/v1/contacts?q=smith&sort=firstName&limit=1'
                   . "&cursor=$next";
        }
        is(join(' ', @names), 'Ann Bob', 'a cursor walks a search');
    }

    if ($name =~ /TEST 13:/) {
        # every searchable resource: both indexes on the planner's doc
        my $doc = decode_json($body);
        my $n = 0;
        for my $res (@{ $doc->{data} }) {
            my @cols = map { snake($_->{name}) }
                       grep { $_->{searchable} } @{ $res->{fields} };
            next unless @cols;
            $n++;
            (my $table = $res->{name}) =~ s/-/_/g;
            # as PostgreSQL spells db_doc(a, b) back
            my $expr = 'db_doc(VARIADIC ARRAY[' . join(', ', @cols) . '])';
            my $defs = sql("SELECT string_agg(indexdef, E'\\n') FROM pg_indexes"
                           . " WHERE tablename = '$table'");
            like($defs, qr/USING gin \(\Q$expr\E gin_trgm_ops\)/,
                 "$res->{name}: trigram index on $expr");
            like($defs, qr/to_tsvector\('simple'::regconfig, \Q$expr\E\)/,
                 "$res->{name}: full-text index on $expr");
        }
        ok($n >= 8, "$n searchable resources checked");

    }
});

no_shuffle();
run_tests();

__DATA__

=== TEST 1: q= finds a substring
--- request
GET /api/v1/contacts?q=initech
--- error_code: 200
--- json_names: Carl

=== TEST 2: q= tolerates a typo
--- request
GET /api/v1/contacts?q=Smiht&sort=firstName
--- error_code: 200
--- json_names: Ann Bob

=== TEST 3: words in any order rank first
--- request
GET /api/v1/search?q=smith%20ann&types=contacts
--- error_code: 200
--- response_body_like: ^\{"data":\[\{"type":"contacts","score":[0-9.]+,"record":\{"id":"[^"]+","firstName":"Ann","lastName":"Smith",

=== TEST 4: q= with filters, counted
--- request
GET /api/v1/contacts?q=smith&firstName=Bob&count=exact
--- error_code: 200
--- json_names: Bob
--- json_total: 1

=== TEST 5: q= is literal text, not a pattern
--- request
GET /api/v1/contacts?q=%25%25%25
--- error_code: 200
--- response_body_like: ^\{"data":\[\],

=== TEST 6: /search ranks across resources
--- request
GET /api/v1/search?q=acme%20rockets&types=companies,deals,contacts
--- error_code: 200
--- response_body_like: ^\{"data":\[\{"type":"companies","score":1(\.0+)?,"record":\{"id":"[^"]+","name":"Acme Rockets".*\{"type":"deals","score":[0-9.]+,"record":\{"id":"[^"]+","name":"Acme rocket fuel".*"limit":20\}\}$

=== TEST 7: another workspace's records are never found
--- request
GET /api/v1/search?q=acme
--- error_code: 200
--- response_body_unlike: Acme (Rockets )?B|acme-b|Acme B deal

=== TEST 8: one type, with a typo, limited
--- request
GET /api/v1/search?q=smiht&types=contacts&limit=1
--- error_code: 200
--- response_body_like: ^\{"data":\[\{"type":"contacts","score":[0-9.]+,"record":\{"id":"[^"]+","firstName":"Ann","lastName":"Smith",(?:(?!"type").)*\}\],"meta".*"limit":1\}\}$

=== TEST 9: q is required
--- request
GET /api/v1/search?types=contacts
--- error_code: 400
--- response_body_like: "parameter":"q","code":"required"

=== TEST 10: q of one character
--- request
GET /api/v1/search?q=a
--- error_code: 400
--- response_body_like: "parameter":"q","code":"invalid_value"

=== TEST 11: an unknown parameter
--- request
GET /api/v1/search?q=acme&sort=name
--- error_code: 400
--- response_body_like: "code":"INVALID_PARAMETER".*"parameter":"sort","code":"unknown_parameter"

=== TEST 12: types must be searchable resources
--- request
GET /api/v1/search?q=acme&types=contacts,users
--- error_code: 400
--- response_body_like: "parameter":"types","code":"invalid_value"

=== TEST 13: every searchable resource is indexed for search
--- request
GET /api/v1/metadata/objects
--- error_code: 200

=== TEST 14: a limit out of range, said as a list says it
--- request
GET /api/v1/search?q=acme&limit=201
--- error_code: 400
--- response_body_like: "message":"\\"limit\\" must be between 1 and 200","details":\{"parameter":"limit","code":"out_of_range"\}

=== TEST 15: a key that reads only contacts searches only contacts
--- request
GET /api/v1/search?q=acme
--- more_headers eval
"X-API-Key: $CRM::Test::KEYS{read_a}"
--- error_code: 200
--- response_body_like: ^\{"data":\[\{"type":"contacts",(?:(?!"type").)*"email":"ann.smith@acme.test"(?:(?!"type").)*\}\],"meta"

=== TEST 16: ... and may not name another type
--- request
GET /api/v1/search?q=acme&types=contacts,companies
--- more_headers eval
"X-API-Key: $CRM::Test::KEYS{read_a}"
--- error_code: 403
--- response_body_like: "FORBIDDEN"

=== TEST 17: search is GET only
--- request
POST /api/v1/search?q=acme
--- error_code: 405

=== TEST 18: crm_search_similarity sets the typo tolerance (0.9: none)
--- http_config eval
$CRM::Test::HttpConfig . "    crm_search_similarity 0.9;\n"
--- request
GET /api/v1/contacts?q=Smiht
--- error_code: 200
--- response_body_like: ^\{"data":\[\],

=== TEST 19: ... while the exact word is still found
--- http_config eval
$CRM::Test::HttpConfig . "    crm_search_similarity 0.9;\n"
--- request
GET /api/v1/contacts?q=Smith&sort=firstName
--- error_code: 200
--- json_names: Ann Bob

=== TEST 20: q of two characters on a list (no trigram: no index could serve it)
--- request
GET /api/v1/contacts?q=ab
--- error_code: 400
--- response_body_like: "parameter":"q","code":"invalid_value"

=== TEST 21: /search with q of two characters
--- request
GET /api/v1/search?q=ab
--- error_code: 400
--- response_body_like: "parameter":"q","code":"invalid_value"

=== TEST 22: /search names a repeated parameter
--- request
GET /api/v1/search?q=acme&q=other
--- error_code: 400
--- response_body_like: "parameter":"q","code":"duplicate_parameter"

=== TEST 23: /search decodes as a list does: an encoded "?" is a character
--- request
GET /api/v1/search?q=%3Facme
--- error_code: 200

=== TEST 24: /search refuses what is not percent-encoded UTF-8
--- request
GET /api/v1/search?q=%ff%fe%fd
--- error_code: 400
--- response_body_like: "code":"invalid_encoding"

=== TEST 25: /search takes 200 characters of q, not 200 bytes
--- request
GET /api/v1/search?q=%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9
--- error_code: 200

=== TEST 26: and not 201
--- request
GET /api/v1/search?q=%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9
--- error_code: 400
--- response_body_like: "parameter":"q","code":"invalid_value"

=== TEST 27: /search puts records that contain q before those only close to it
--- sql
INSERT INTO contacts (workspace_id, first_name, last_name, email) VALUES
 ('11111111-1111-4111-8111-111111111111', 'Bo', 'Smit', 'bo@smit.test'),
 ('11111111-1111-4111-8111-111111111111', 'Jo', 'Goldsmith', 'jo@gold.test');
--- request
GET /api/v1/search?q=smith&types=contacts
--- error_code: 200
--- response_body_like: ^\{"data":\[\{"type":"contacts","score":1(?:\.0+)?,"record":\{[^}]*"lastName":"Smith",.*"lastName":"Goldsmith",.*\{"type":"contacts","score":0\.[0-9]+,"record":\{[^}]*"lastName":"Smit",(?:(?!"type").)*\}\],"meta"

=== TEST 28: q= on a list of records without searchable fields is 400, not an empty page
--- request
GET /api/v1/campaigns?q=abc
--- error_code: 400
--- response_body_like: "details":\{"parameter":"q","code":"not_searchable"\}

=== TEST 29: the event feed has none either
--- request
GET /api/v1/events?q=contact
--- error_code: 400
--- response_body_like: "parameter":"q","code":"not_searchable"
