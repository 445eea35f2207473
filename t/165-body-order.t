# A body the API refuses (415, 400) is answered after the credential, the
# rate limit and the permission are checked: an unknown key learns 401
# whatever it sends, a client over its budget 429, and a refused body
# counts against the budget as any request.  A 413 stays nginx's, before
# any of them.

use strict;
use warnings;

use Test::Nginx::Socket 'no_plan';
use Test::More;
use CRM::Test qw(http_request sql);

my %K = %CRM::Test::KEYS;
my $A = $CRM::Test::WS_A;
my $JSON = 'Content-Type: application/json';

CRM::Test::reset();
CRM::Test::stored_key($K{owner_a}, $A, '{*}');
CRM::Test::stored_key($K{read_a}, $A, '{contacts:read}');
CRM::Test::stored_key($K{keys_a}, $A, '{*}');
sql("UPDATE api_keys SET rate_limit_per_minute = 2"
    . " WHERE prefix = left('$K{keys_a}', 16)");

Test::Nginx::Socket::add_response_body_check(sub {
    my ($block, $body, $req_idx, $repeated, $dry_run) = @_;
    my $name = $block->name;

    return if $dry_run;

    if ($name =~ /counts against the budget/) {
        my @h = ("X-API-Key: $K{keys_a}", $JSON);

        # the block's own request spent 1 of 2
        my ($s, $b) = http_request('POST', '/api/v1/contacts', \@h, '{');
        is($s, 400, "$name - the second bad body is still 400");
        like($b, qr/"code":"INVALID_JSON"/, "$name - INVALID_JSON");

        ($s, $b) = http_request('POST', '/api/v1/contacts', \@h, '{');
        is($s, 429, "$name - the third is over the budget");
        like($b, qr/"code":"RATE_LIMITED"/, "$name - RATE_LIMITED");

        ($s, $b) = http_request('POST', '/api/v1/contacts',
                                ["X-API-Key: $K{keys_a}",
                                 'Content-Type: text/plain'], 'x');
        is($s, 429, "$name - a 415 body is over the budget too");

    } elsif ($name =~ /nothing is kept for the key/) {
        my @h = ("X-API-Key: $K{owner_a}", $JSON,
                 'Idempotency-Key: body-order-1');
        my ($s, $b, $head) = http_request('POST', '/api/v1/contacts', \@h,
                                          '{"email":"kept@example.com"}');
        is($s, 201, "$name - the same key with a good body creates");
        unlike($head, qr/Idempotent-Replayed/i, "$name - not a replay");
    }
});

no_shuffle();
run_tests();

__DATA__

=== TEST 1: an unknown key with malformed JSON is 401, not 400
--- request
POST /api/v1/contacts
{"email":
--- more_headers
X-API-Key: crmk_00000000000000000000000000000000000000ff
Content-Type: application/json
--- error_code: 401
--- response_headers
WWW-Authenticate: Bearer realm="crm"
--- response_body_like: ^\{"error":\{"code":"UNAUTHENTICATED","status":401,

=== TEST 2: an unknown key with a body that is not JSON is 401, not 415
--- request
POST /api/v1/contacts
email=a@b.co
--- more_headers
X-API-Key: crmk_00000000000000000000000000000000000000ff
Content-Type: application/x-www-form-urlencoded
--- error_code: 401
--- response_body_like: "code":"UNAUTHENTICATED"

=== TEST 3: an unknown key with an empty body is 401
--- request
POST /api/v1/contacts
--- more_headers
X-API-Key: crmk_00000000000000000000000000000000000000ff
Content-Type: application/json
--- error_code: 401
--- response_body_like: "code":"UNAUTHENTICATED"

=== TEST 4: a key without the scope gets 403 for a malformed body
--- request
POST /api/v1/contacts
[1,
--- more_headers eval
"X-API-Key: $CRM::Test::KEYS{read_a}\nContent-Type: application/json"
--- error_code: 403
--- response_body_like: "code":"FORBIDDEN"

=== TEST 5: a known key still learns where its JSON broke
--- request
POST /api/v1/contacts
{"email": "a@b.co",
 "x": }
--- more_headers eval
"X-API-Key: $CRM::Test::KEYS{owner_a}\nContent-Type: application/json"
--- error_code: 400
--- response_body_like: ^\{"error":\{"code":"INVALID_JSON","status":400,"message":"invalid JSON at line 2, column \d+: [^"]+","details":\{"line":2,"column":\d+,"position":\d+\}\},"meta":\{"requestId":"req_[0-9a-f]{24}","timestamp":"[^"]+"\}\}$

=== TEST 6: a known key still gets 415 for a body that is not JSON
--- request
POST /api/v1/contacts
email=a@b.co
--- more_headers eval
"X-API-Key: $CRM::Test::KEYS{owner_a}\nContent-Type: text/csv"
--- error_code: 415
--- response_body_like: "code":"UNSUPPORTED_MEDIA_TYPE"

=== TEST 7: a refused body counts against the budget
--- http_config eval
$CRM::Test::HttpConfig
. "    crm_rate_limit zone=crm_limit:1m per_minute=100;\n"
--- request
POST /api/v1/contacts
{
--- more_headers eval
"X-API-Key: $CRM::Test::KEYS{keys_a}\nContent-Type: application/json"
--- error_code: 400
--- response_headers
X-RateLimit-Limit: 2
X-RateLimit-Remaining: 1
--- response_body_like: "code":"INVALID_JSON"

=== TEST 8: a route without a credential still refuses a bad body
--- request
POST /api/v1/auth/login
{"email":
--- more_headers
Content-Type: application/json
--- error_code: 400
--- response_body_like: "code":"INVALID_JSON"

=== TEST 9: an unknown key's bulk request with a body that is not an object is 401
--- request
POST /api/v1/contacts/bulk
[]
--- more_headers
X-API-Key: crmk_00000000000000000000000000000000000000ff
Content-Type: application/json
--- error_code: 401
--- response_body_like: "code":"UNAUTHENTICATED"

=== TEST 10: a malformed body with an Idempotency-Key: nothing is kept for the key
--- request
POST /api/v1/contacts
{"email":
--- more_headers eval
"X-API-Key: $CRM::Test::KEYS{owner_a}\nContent-Type: application/json\nIdempotency-Key: body-order-1"
--- error_code: 400
--- response_body_like: "code":"INVALID_JSON"

=== TEST 11: a declared length over the limit is still 413 before the credential
--- http_config eval
$CRM::Test::HttpConfig
--- config
    location /api/v1/ {
        crm_api;
        crm_max_body_size 1k;
    }
--- request eval
"POST /api/v1/contacts\n" . ('x' x 2000)
--- more_headers
X-API-Key: crmk_00000000000000000000000000000000000000ff
Content-Type: application/json
--- error_code: 413
--- response_body_like: "code":"PAYLOAD_TOO_LARGE"
