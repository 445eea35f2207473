# POST /<resource>/bulk: up to 200 operations, one result each (200 when
# all succeed, 207 otherwise), "atomic" all or nothing, errors as the
# single routes give them, other workspaces' ids not found, rate limits
# counted by operations.

use strict;
use warnings;

use Test::Nginx::Socket 'no_plan';
use Test::More;
use CRM::Test qw(sql api);

my $A = $CRM::Test::WS_A;
my $B = $CRM::Test::WS_B;

CRM::Test::reset();
sql(<<"_SQL_");
INSERT INTO contacts (workspace_id, id, email, first_name) VALUES
 ('$A', 'a0000000-0000-4000-8000-000000000001', 'ann\@a.test', 'Ann'),
 ('$A', 'a0000000-0000-4000-8000-000000000002', 'bob\@a.test', 'Bob'),
 ('$A', 'a0000000-0000-4000-8000-000000000003', 'cid\@a.test', 'Cid'),
 ('$B', 'a0000000-0000-4000-8000-00000000000b', 'zed\@b.test', 'Zed');
INSERT INTO pipelines (workspace_id, id, name, stages) VALUES
 ('$A', 'b0000000-0000-4000-8000-000000000001', 'Sales',
  '[{"name":"Lead","probability":10}]');
_SQL_

add_block_preprocessor(sub {
    my $block = shift;
    my $h = $block->more_headers // '';
    $h = "X-API-Key: $CRM::Test::KEY_A\n$h" unless $h =~ /^X-API-Key:/m;
    $block->set_value('more_headers', "Content-Type: application/json\n$h");
});

# the state a block left behind, read back from the database
my %AFTER = (
    'TEST 22:' => sub {
        my ($status, $d, $head) = api('POST', '/api/v1/contacts/bulk',
            $CRM::Test::KEY_A,
            '{"operations":[{"method":"create","data":{"email":"x"}},'
            . '{"method":"create","data":{"email":"reason@a.test"}}]}');
        is($status, 207, 'a mixed batch is 207');
        like($head, qr{\AHTTP/1\.1 207 Multi-Status\r?\n},
             '207 has its reason phrase');
        ($status, $d, $head) = api('POST', '/api/v1/contacts',
            $CRM::Test::KEY_A, '{"email":"not an email"}');
        is($status, 422, 'an invalid email is 422');
        like($head, qr{\AHTTP/1\.1 422 Unprocessable Content\r?\n},
             '422 has its reason phrase');
        ($status, $d, $head) = api('GET', '/api/v1/contacts/'
            . 'a0000000-0000-4000-8000-0000000000ff', $CRM::Test::KEY_A);
        like($head, qr{\AHTTP/1\.1 404 Not Found\r?\n},
             "nginx's own phrases are left alone");
    },
    'TEST 2:' => sub {
        is(sql("SELECT first_name FROM contacts WHERE id = "
               . "'a0000000-0000-4000-8000-000000000001'"),
           'Annie', 'the update was applied');
        is(sql("SELECT count(*) FROM contacts WHERE id = "
               . "'a0000000-0000-4000-8000-000000000002'"
               . " AND deleted_at IS NULL"), 0, 'the delete was applied');
        is(sql("SELECT count(*) FROM contacts WHERE email = 'dup\@a.test'"),
           1, 'one of the two creates with one email was applied');
    },
    'TEST 3:' => sub {
        is(sql("SELECT count(*) FROM contacts WHERE email LIKE 'atomic%'"),
           0, 'an atomic batch that failed left nothing');
        is(sql("SELECT first_name FROM contacts WHERE id = "
               . "'a0000000-0000-4000-8000-000000000003'"),
           'Cid', 'not even its update');
    },
    'TEST 5:' => sub {
        is(sql("SELECT first_name FROM contacts WHERE id = "
               . "'a0000000-0000-4000-8000-00000000000b'"),
           'Zed', "B's contact is untouched");
    },
    'TEST 6:' => sub {
        is(sql("SELECT count(*) FROM contacts WHERE email LIKE 'valid%'"),
           0, 'an atomic batch with an invalid operation ran nothing');
    },
    'TEST 18:' => sub {
        my $over = '{"operations":[' . join(',', map {
            qq({"method":"create","data":{"email":"over$_\@a.test"}}) } 1 .. 11)
            . ']}';
        my ($s, $d, $h) = api('POST', '/api/v1/contacts/bulk',
                              $CRM::Test::KEY_A, $over);
        is($s, 429, 'a batch over what is left of the window waits');
        like($h, qr/^Retry-After: \d+/mi, '... and says how long');
        is(sql("SELECT count(*) FROM contacts WHERE email LIKE 'over%'"), 0,
           '... and applies nothing');
    },
    'TEST 20:' => sub {
        ok(CRM::Test::wait_redis(), 'Redis is reachable');
        my $k = 'bulk-once-' . int(rand(1e9));
        my @h = ("X-API-Key: $CRM::Test::KEY_A",
                 'Content-Type: application/json', "Idempotency-Key: $k");
        my $body = '{"operations":[{"method":"create","data":'
                   . '{"email":"idem1@a.test"}},{"method":"create","data":'
                   . '{"email":"idem2@a.test"}}]}';
        my ($s1, $b1) = CRM::Test::http_request('POST',
                                                '/api/v1/contacts/bulk',
                                                \@h, $body);
        is($s1, 200, 'a bulk request with an Idempotency-Key');
        my ($s2, $b2, $h2) = CRM::Test::http_request('POST',
                                                     '/api/v1/contacts/bulk',
                                                     \@h, $body);
        is($s2, 200, 'the same again: the first answer');
        like($h2, qr/^Idempotent-Replayed: true/mi, '... replayed');
        is($b2, $b1, '... the same body');
        is(sql("SELECT count(*) FROM contacts WHERE email LIKE 'idem%'"), 2,
           '... and nothing applied twice');
    },
    'TEST 17:' => sub {
        is(sql("SELECT count(*) FROM contacts WHERE email LIKE 'many%'"),
           200, '200 creates in one request');
    },
);

Test::Nginx::Socket::add_response_body_check(sub {
    my ($block, $body, $req_idx, $repeated, $dry_run) = @_;
    return if $dry_run;
    for my $k (keys %AFTER) {
        $AFTER{$k}->() if index($block->name, $k) >= 0;
    }
});

no_shuffle();
run_tests();

__DATA__

=== TEST 1: creates that all succeed: 200, one result each, in order
--- request
POST /api/v1/contacts/bulk
{"operations":[{"method":"create","data":{"email":"one@a.test","firstName":"One"}},{"method":"create","data":{"email":"two@a.test","firstName":"Two"}}]}
--- error_code: 200
--- response_body_like: ^\{"data":\[\{"index":0,"status":201,"data":\{"id":"[0-9a-f-]{36}",.*"firstName":"One".*\},\{"index":1,"status":201,"data":\{.*"firstName":"Two".*\}\],"meta":\{"requestId":"[^"]+","timestamp":"[^"]+","atomic":false,"succeeded":2,"failed":0\}\}$

=== TEST 2: a mixed batch: each operation succeeds or fails alone (207)
--- request
POST /api/v1/contacts/bulk
{"operations":[
 {"method":"update","id":"a0000000-0000-4000-8000-000000000001","data":{"firstName":"Annie"}},
 {"method":"create","data":{"email":"not an email"}},
 {"method":"update","id":"a0000000-0000-4000-8000-0000000000ff","data":{"firstName":"X"}},
 {"method":"delete","id":"a0000000-0000-4000-8000-000000000002"},
 {"method":"create","data":{"email":"dup@a.test"}},
 {"method":"create","data":{"email":"dup@a.test"}},
 {"method":"patch","id":"a0000000-0000-4000-8000-000000000001","data":{}}
]}
--- error_code: 207
--- response_body_like: ^\{"data":\[\{"index":0,"status":200,"data":\{[^}]*"firstName":"Annie".*\},\{"index":1,"status":422,"error":\{"code":"VALIDATION_FAILED",.*"field":"email","code":"invalid_format".*\},\{"index":2,"status":404,"error":\{"code":"RESOURCE_NOT_FOUND".*\},\{"index":3,"status":204\},\{"index":4,"status":201,"data":\{.*\},\{"index":5,"status":409,"error":\{"code":"DUPLICATE".*"field":"email".*\},\{"index":6,"status":400,"error":\{"code":"BAD_REQUEST".*"succeeded":3,"failed":4\}\}$

=== TEST 3: atomic: one failure and nothing is applied
--- request
POST /api/v1/contacts/bulk
{"atomic":true,"operations":[
 {"method":"create","data":{"email":"atomic1@a.test"}},
 {"method":"update","id":"a0000000-0000-4000-8000-000000000003","data":{"firstName":"Changed"}},
 {"method":"create","data":{"email":"ann@a.test"}},
 {"method":"create","data":{"email":"atomic2@a.test"}}
]}
--- error_code: 207
--- response_body_like: ^\{"data":\[\{"index":0,"status":424,"error":\{"code":"NOT_APPLIED","status":424,"message":"[^"]*","details":\{\}\}\},\{"index":1,"status":424,"error":\{"code":"NOT_APPLIED","status":424,"message":"[^"]*","details":\{\}\}\},\{"index":2,"status":409,"error":\{"code":"DUPLICATE".*\},\{"index":3,"status":424,"error":\{"code":"NOT_APPLIED","status":424,"message":"[^"]*","details":\{\}\}\}\],"meta":\{.*"atomic":true,"succeeded":0,"failed":4\}\}$

=== TEST 4: atomic and all good: everything applied
--- request
POST /api/v1/contacts/bulk
{"atomic":true,"operations":[{"method":"create","data":{"email":"atomic-ok@a.test"}},{"method":"update","id":"a0000000-0000-4000-8000-000000000003","data":{"title":"CTO"}}]}
--- error_code: 200
--- response_body_like: "atomic":true,"succeeded":2,"failed":0

=== TEST 5: another workspace's records are not found, one by one
--- request
POST /api/v1/contacts/bulk
{"operations":[{"method":"update","id":"a0000000-0000-4000-8000-00000000000b","data":{"firstName":"Mine"}},{"method":"delete","id":"a0000000-0000-4000-8000-00000000000b"}]}
--- error_code: 207
--- response_body_like: ^\{"data":\[\{"index":0,"status":404,.*\{"index":1,"status":404,.*"succeeded":0,"failed":2

=== TEST 6: atomic with an invalid operation: nothing is run
--- request
POST /api/v1/contacts/bulk
{"atomic":true,"operations":[{"method":"create","data":{"email":"valid@a.test"}},{"method":"create","data":{"email":"valid2@a.test","colour":"red"}}]}
--- error_code: 207
--- response_body_like: \{"index":0,"status":424,.*\{"index":1,"status":422,.*"field":"colour","code":"unknown_field"

=== TEST 7: operations are required
--- request
POST /api/v1/contacts/bulk
{"atomic":false}
--- error_code: 422
--- response_body_like: "field":"operations","code":"required"

=== TEST 8: operations are an array
--- request
POST /api/v1/contacts/bulk
{"operations":{"method":"create"}}
--- error_code: 422
--- response_body_like: "field":"operations","code":"invalid_type"

=== TEST 9: an empty batch
--- request
POST /api/v1/contacts/bulk
{"operations":[]}
--- error_code: 422
--- response_body_like: "field":"operations","code":"required"

=== TEST 10: at most 200 operations
--- request eval
"POST /api/v1/contacts/bulk\n" . '{"operations":[' . CORE::join(',', ('{"method":"delete","id":"a0000000-0000-4000-8000-000000000001"}') x 201) . ']}'
--- error_code: 422
--- response_body_like: "field":"operations","code":"too_long"

=== TEST 11: atomic is a boolean, and nothing else is taken
--- request
POST /api/v1/contacts/bulk
{"operations":[{"method":"delete","id":"a0000000-0000-4000-8000-000000000001"}],"atomic":"yes","dryRun":true}
--- error_code: 422
--- response_body_like: "field":"atomic","code":"invalid_type".*"field":"dryRun","code":"unknown_field"

=== TEST 12: malformed operations are 400 each
--- request
POST /api/v1/contacts/bulk
{"operations":[42,{"method":"create","id":"a0000000-0000-4000-8000-000000000001","data":{"email":"x@a.test"}},{"method":"update","data":{}},{"method":"delete","id":"a0000000-0000-4000-8000-000000000001","data":{}},{"method":"update","id":"nope","data":{}},{"method":"create","data":{"email":"x@a.test"},"extra":1}]}
--- error_code: 207
--- response_body_like: ^\{"data":\[\{"index":0,"status":400,.*\{"index":1,"status":400,.*\{"index":2,"status":400,.*\{"index":3,"status":400,.*\{"index":4,"status":404,.*\{"index":5,"status":400,.*"succeeded":0,"failed":6

=== TEST 13: not JSON
--- request
POST /api/v1/contacts/bulk
{"operations":[
--- error_code: 400
--- response_body_like: "INVALID_JSON"

=== TEST 14: bulk is POST only
--- request
GET /api/v1/contacts/bulk
--- error_code: 405
--- response_headers
Allow: POST

=== TEST 15: no bulk for API keys (each is made with its secret)
--- request
POST /api/v1/api-keys/bulk
{"operations":[{"method":"create","data":{"name":"k","scopes":["*"]}}]}
--- error_code: 404

=== TEST 16: a database rule of another resource, per operation (deals)
--- request
POST /api/v1/deals/bulk
{"operations":[{"method":"create","data":{"name":"ok","pipelineId":"b0000000-0000-4000-8000-000000000001","stage":"Lead"}},{"method":"create","data":{"name":"bad","pipelineId":"b0000000-0000-4000-8000-000000000001","stage":"Nope"}}]}
--- error_code: 207
--- response_body_like: \{"index":0,"status":201,"data":\{.*"probability":10.*\{"index":1,"status":422,.*"field":"stage","code":"invalid_value"

=== TEST 17: 200 operations
--- request eval
"POST /api/v1/contacts/bulk\n" . '{"operations":[' . CORE::join(',', map { qq({"method":"create","data":{"email":"many$_\@a.test"}}) } 1 .. 200) . ']}'
--- error_code: 200
--- response_body_like: "succeeded":200,"failed":0

=== TEST 18: a bulk request counts as many requests as it has operations
--- http_config eval
$CRM::Test::HttpConfig . "    crm_rate_limit zone=crm_limit:1m per_minute=10 per_hour=1000;\n"
--- request
POST /api/v1/contacts/bulk
{"operations":[{"method":"create","data":{"email":"rl1@a.test"}},{"method":"create","data":{"email":"rl2@a.test"}},{"method":"create","data":{"email":"rl3@a.test"}},{"method":"create","data":{"email":"rl4@a.test"}}]}
--- error_code: 200
--- response_headers
X-RateLimit-Limit: 10
X-RateLimit-Remaining: 6

=== TEST 19: activities in bulk, with participants
--- request
POST /api/v1/activities/bulk
{"operations":[{"method":"create","data":{"type":"task","subject":"Follow up","contactIds":["a0000000-0000-4000-8000-000000000001"]}},{"method":"create","data":{"type":"task","contactIds":["a0000000-0000-4000-8000-00000000000b"]}}]}
--- error_code: 207
--- response_body_like: \{"index":0,"status":201,.*"contactIds":\["a0000000-0000-4000-8000-000000000001"\].*\{"index":1,"status":422,.*"field":"contactIds","code":"not_found"

=== TEST 20: a bulk request with an Idempotency-Key is applied once
--- request
GET /api/v1/health
--- error_code: 200

=== TEST 21: a number beyond 64 bits comes back as PostgreSQL wrote it, as from a single create
--- request
POST /api/v1/deals/bulk
{"operations":[{"method":"create","data":{"name":"Big","amount":1e20}},{"method":"create","data":{"name":"Small","amount":2.5}}]}
--- error_code: 200
--- response_body_like: ^\{"data":\[\{"index":0,"status":201,"data":\{[^{}]*"name":"Big","amount":100000000000000000000,.*\},\{"index":1,"status":201,"data":\{[^{}]*"name":"Small","amount":2\.5,.*"succeeded":2,"failed":0\}\}$

=== TEST 22: statuses nginx has no reason phrase for get one (207, 422)
The checks are raw requests (%AFTER): the block itself only reads.
--- request
GET /api/v1/contacts?limit=1
--- error_code: 200
