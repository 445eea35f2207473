# The email outbox through the API: POST /emails/send queues (202) and
# sends nothing on the request path; validation, suppression, isolation,
# reads and their filters.  Delivery itself is t/171.

use strict;
use warnings;

use Test::Nginx::Socket 'no_plan';
use Test::More;
use CRM::Test qw(api sql);

my ($A, $B) = ($CRM::Test::WS_A, $CRM::Test::WS_B);

CRM::Test::reset();
sql(<<"_SQL_");
INSERT INTO contacts (workspace_id, id, first_name, last_name, email) VALUES
 ('$A', 'c7000000-0000-4000-8000-000000000001', 'Ada', 'Lovelace',
  'ada\@mail.test'),
 ('$A', 'c7000000-0000-4000-8000-000000000002', 'No', 'Address', NULL),
 ('$B', 'c7000000-0000-4000-8000-000000000003', 'Bea', 'Other',
  'bea\@mail.test');
INSERT INTO suppressions (workspace_id, email, reason) VALUES
 ('$A', 'gone\@mail.test', 'hard_bounce');
_SQL_

CRM::Test::stored_key($CRM::Test::KEYS{read_a}, $A, '{emails:read}');

my $KA = $CRM::Test::KEY_A;
my $KB = $CRM::Test::KEY_B;

Test::Nginx::Socket::add_response_body_check(sub {
    my ($block, $body, $req_idx, $repeated, $dry_run) = @_;
    my $name = $block->name;

    return if $dry_run;

    if ($name =~ /queues the email and sends nothing/) {
        my $d = JSON::PP::decode_json($body);
        my $id = $d->{data}{id};
        is(sql("SELECT status || ' ' || attempts FROM emails WHERE id = '$id'"),
           'queued 0', "$name - queued, no attempt");
        is(sql("SELECT string_agg(type, ',') FROM email_events"
               . " WHERE email_id = '$id'"),
           'queued', "$name - one event, in the same transaction");
        is($d->{data}{contactId}, 'c7000000-0000-4000-8000-000000000001',
           "$name - the address's contact is found");

    } elsif ($name =~ /a contact id as the recipient/) {
        my $d = JSON::PP::decode_json($body);
        is($d->{data}{to}, 'ada@mail.test', "$name - its address");
        is($d->{data}{toName}, 'Ada Lovelace', "$name - its name");

    } elsif ($name =~ /same Idempotency-Key queues one email/) {
        my $d = JSON::PP::decode_json($body);
        my ($s, $b) = CRM::Test::http_request('POST', '/api/v1/emails/send',
            ["X-API-Key: $KA", 'Content-Type: application/json',
             'Idempotency-Key: send-once-1'],
            '{"to":"idem@mail.test","subject":"once","text":"x"}');
        my $again = eval { JSON::PP::decode_json($b) } || {};
        is($s, 202, "$name - the retry is answered as the first");
        is($again->{data}{id}, $d->{data}{id}, "$name - with the same email");
        is(sql("SELECT count(*) FROM emails WHERE to_email = 'idem\@mail.test'"),
           1, "$name - one email queued");

    } elsif ($name =~ /suppression removed lets the address/) {
        my $sid = JSON::PP::decode_json($body)->{data}[0]{id};
        my ($s) = api('DELETE', "/api/v1/suppressions/$sid",
                      $CRM::Test::KEYS{read_a});
        is($s, 403, "$name - not by a key without the scope");
        ($s) = api('DELETE', "/api/v1/suppressions/$sid", $KA);
        is($s, 204, "$name - removed by an owner");
        ($s) = api('POST', '/api/v1/emails/send', $KA,
                   '{"to":"gone@mail.test","subject":"back","text":"x"}');
        is($s, 202, "$name - the address can be mailed again");

    } elsif ($name =~ /refused sends leave nothing/) {
        is(sql("SELECT count(*) FROM emails WHERE subject = 'refused'"), 0,
           "$name - no email row");
        is(sql("SELECT count(*) FROM email_events e WHERE NOT EXISTS"
               . " (SELECT 1 FROM emails m WHERE m.id = e.email_id)"), 0,
           "$name - no orphan event");
    }
});

no_shuffle();
run_tests();

__DATA__

=== TEST 1: a send queues the email and sends nothing (202, Location)
--- request
POST /api/v1/emails/send
{"to":"ada@mail.test","subject":"Hello","text":"Hi Ada","html":"<p>Hi Ada</p>"}
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json
--- error_code: 202
--- response_headers_like
Location: /api/v1/emails/[0-9a-f-]{36}$
--- response_body_like: ^\{"data":\{"id":"[0-9a-f-]{36}","to":"ada@mail.test",.*"status":"queued",.*"events":\[\{"type":"queued","details":\{\},"occurredAt":"[0-9T:.-]+Z"\}\]



=== TEST 2: a contact id as the recipient: its address and name
--- request
POST /api/v1/emails/send
{"to":"c7000000-0000-4000-8000-000000000001","subject":"Hi","text":"x"}
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json
--- error_code: 202
--- response_body_like: "status":"queued"



=== TEST 3: a contact of another workspace is not found
--- request
POST /api/v1/emails/send
{"to":"c7000000-0000-4000-8000-000000000003","subject":"refused","text":"x"}
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json
--- error_code: 422
--- response_body_like: "field":"to","code":"not_found"



=== TEST 4: a contact without an address cannot be mailed
--- request
POST /api/v1/emails/send
{"to":"c7000000-0000-4000-8000-000000000002","subject":"refused","text":"x"}
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json
--- error_code: 422
--- response_body_like: "field":"to","code":"no_address"



=== TEST 5: a suppressed address is refused with a clear 422
--- request
POST /api/v1/emails/send
{"to":"GONE@mail.test","subject":"refused","text":"x"}
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json
--- error_code: 422
--- response_body_like: "field":"to","code":"suppressed","message":"the address is suppressed



=== TEST 6: the same address is not suppressed in another workspace
--- request
POST /api/v1/emails/send
{"to":"gone@mail.test","subject":"Hi B","text":"x"}
--- more_headers
X-API-Key: test-key-b-0123456789abcdef
Content-Type: application/json
--- error_code: 202
--- response_body_like: "to":"gone@mail.test"



=== TEST 7: required fields and wrong types, per field
--- request
POST /api/v1/emails/send
{"cc":"not-an-array","text":5}
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json
--- error_code: 422
--- response_body_like: (?s)"field":"to","code":"required".*"field":"subject","code":"required"



=== TEST 8: an address that is not one
--- request
POST /api/v1/emails/send
{"to":"ada at mail.test","subject":"refused","text":"x"}
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json
--- error_code: 422
--- response_body_like: "field":"to","code":"invalid_format"



=== TEST 9: a header injection in a cc address is refused
--- request
POST /api/v1/emails/send
{"to":"ada@mail.test","cc":["x@mail.test\r\nBcc: y@evil.test"],"subject":"refused","text":"x"}
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json
--- error_code: 422
--- response_body_like: "field":"cc"



=== TEST 10: neither text nor html
--- request
POST /api/v1/emails/send
{"to":"ada@mail.test","subject":"refused"}
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json
--- error_code: 422
--- response_body_like: "field":"text","code":"required"



=== TEST 11: the status is the server's
--- request
POST /api/v1/emails/send
{"to":"ada@mail.test","subject":"refused","text":"x","status":"sent"}
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json
--- error_code: 422
--- response_body_like: "field":"status"



=== TEST 12: an unknown field
--- request
POST /api/v1/emails/send
{"to":"ada@mail.test","subject":"refused","text":"x","priority":1}
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json
--- error_code: 422
--- response_body_like: "field":"priority","code":"unknown_field"



=== TEST 13: refused sends leave nothing behind
--- request
GET /api/v1/emails?status=queued&fields=id
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
--- error_code: 200



=== TEST 14: emails cannot be created, changed or deleted otherwise
--- request
POST /api/v1/emails
{"to":"ada@mail.test","subject":"x","text":"x"}
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json
--- error_code: 405
--- response_headers
Allow: GET, HEAD
--- response_body_like: "code":"METHOD_NOT_ALLOWED"



=== TEST 15: no PUT on an email
--- request
PUT /api/v1/emails/c7000000-0000-4000-8000-000000000001
{"subject":"x"}
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json
--- error_code: 405
--- response_body_like: "code":"METHOD_NOT_ALLOWED"



=== TEST 16: no bulk for emails
--- request
POST /api/v1/emails/bulk
{"operations":[]}
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json
--- error_code: 404
--- response_body_like: "code":"RESOURCE_NOT_FOUND"



=== TEST 17: GET on the send route is 405
--- request
GET /api/v1/emails/send
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
--- error_code: 405
--- response_headers
Allow: POST
--- response_body_like: "code":"METHOD_NOT_ALLOWED"



=== TEST 18: the list filters on status and contact
--- request
GET /api/v1/emails?contactId=c7000000-0000-4000-8000-000000000001&status=queued&fields=to,status
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
--- error_code: 200
--- response_body_like: ^\{"data":\[\{"id":"[0-9a-f-]{36}","to":"ada@mail.test","status":"queued"\},\{"id":"[0-9a-f-]{36}","to":"ada@mail.test","status":"queued"\}\]



=== TEST 19: another workspace sees none of them
--- request
GET /api/v1/emails?fields=to
--- more_headers
X-API-Key: test-key-b-0123456789abcdef
--- error_code: 200
--- response_body_like: ^\{"data":\[\{"id":"[0-9a-f-]{36}","to":"gone@mail.test"\}\]



=== TEST 20: a contact's emails
--- request
GET /api/v1/contacts/c7000000-0000-4000-8000-000000000001/emails?fields=status
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
--- error_code: 200
--- response_body_like: ^\{"data":\[\{"id":"[0-9a-f-]{36}","status":"queued"\},\{"id":"[0-9a-f-]{36}","status":"queued"\}\]



=== TEST 21: an unknown filter is a 400
--- request
GET /api/v1/emails?priority=1
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
--- error_code: 400
--- response_body_like: "code":"INVALID_PARAMETER"



=== TEST 22: the suppressions list, and a manual suppression
--- request
POST /api/v1/suppressions
{"email":"Manual@Mail.test","reason":"manual"}
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json
--- error_code: 201
--- response_body_like: "email":"manual@mail.test","reason":"manual"



=== TEST 23: a suppression twice is a duplicate
--- request
POST /api/v1/suppressions
{"email":"manual@mail.test"}
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json
--- error_code: 409
--- response_body_like: "code":"DUPLICATE"



=== TEST 24: emails need the emails:write scope
--- request
POST /api/v1/emails/send
{"to":"ada@mail.test","subject":"refused","text":"x"}
--- more_headers
X-API-Key: crmk_b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2
Content-Type: application/json
--- error_code: 403
--- response_body_like: "code":"FORBIDDEN"



=== TEST 25: a retried send with the same Idempotency-Key queues one email
--- request
POST /api/v1/emails/send
{"to":"idem@mail.test","subject":"once","text":"x"}
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json
Idempotency-Key: send-once-1
--- error_code: 202
--- response_body_like: "status":"queued"



=== TEST 26: another workspace's email is not found
--- request
GET /api/v1/emails/00000000-0000-4000-8000-000000000000
--- more_headers
X-API-Key: test-key-b-0123456789abcdef
--- error_code: 404
--- response_body_like: "code":"RESOURCE_NOT_FOUND"



=== TEST 27: a body that is not JSON
--- request
POST /api/v1/emails/send
{"to":"ada@mail.test","subject":
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json
--- error_code: 400
--- response_body_like: "code":"INVALID_JSON"



=== TEST 28: a subject of the wrong type
--- request
POST /api/v1/emails/send
{"to":"ada@mail.test","subject":["x"],"text":"x"}
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json
--- error_code: 422
--- response_body_like: "field":"subject","code":"invalid_type"



=== TEST 29: a send while the database is away is a 503, nothing queued
--- pg: stop
--- request
POST /api/v1/emails/send
{"to":"down@mail.test","subject":"down","text":"x"}
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json
--- error_code: 503
--- response_body_like: "code":"SERVICE_UNAVAILABLE"



=== TEST 30: after it, the database is back
--- pg: start
--- request
GET /api/v1/emails?to=down@mail.test
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
--- error_code: 200
--- response_body_like: ^\{"data":\[\],



=== TEST 31: a suppression removed lets the address be mailed again
--- request
GET /api/v1/suppressions?email=gone@mail.test&fields=email
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
--- error_code: 200
--- response_body_like: "email":"gone@mail.test"



=== TEST 32: an address the relay could not be given is refused at once
--- request
POST /api/v1/emails/send
{"to":"jösé@mail.test","subject":"refused","text":"x"}
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json
--- error_code: 422
--- response_body_like: "field":"to","code":"invalid_format"



=== TEST 33: an email from an address of its own
--- request
POST /api/v1/emails/send
{"to":"Case@Mail.Test","from":"Sales@Mail.Test","subject":"case","text":"x"}
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json
--- error_code: 202
--- response_body_like: "to":"Case@Mail.Test",.*"from":"Sales@Mail.Test"



=== TEST 34: to and from compare addresses in any case, as email filters do
--- request
GET /api/v1/emails?to=case@MAIL.test&from=SALES@mail.TEST&fields=to,from
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
--- error_code: 200
--- response_body_like: ^\{"data":\[\{"id":"[0-9a-f-]{36}","to":"Case@Mail.Test","from":"Sales@Mail.Test"\}\]



=== TEST 35: and so does in
--- request
GET /api/v1/emails?to[in]=CASE@MAIL.TEST,x@mail.test&fields=to
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
--- error_code: 200
--- response_body_like: ^\{"data":\[\{"id":"[0-9a-f-]{36}","to":"Case@Mail.Test"\}\]



=== TEST 36: and ne: the same address in another case is not another
--- request
GET /api/v1/emails?to[like]=case@&from[ne]=SALES@MAIL.TEST&fields=to
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
--- error_code: 200
--- response_body_like: ^\{"data":\[\],



=== TEST 37: cc and bcc hold at most 50 copies together
--- request eval
"POST /api/v1/emails/send\n" . JSON::PP::encode_json({ to => 'many@mail.test', subject => 's', text => 't', cc => [ map { "c$_\@mail.test" } 1 .. 25 ], bcc => [ map { "b$_\@mail.test" } 1 .. 26 ] })
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json
--- error_code: 422
--- response_body_like: "fields":\[\{"field":"bcc","code":"too_long","message":"cc and bcc hold at most 50 addresses together"\}\]



=== TEST 38: 50 are taken
--- request eval
"POST /api/v1/emails/send\n" . JSON::PP::encode_json({ to => 'many@mail.test', subject => 's', text => 't', cc => [ map { "c$_\@mail.test" } 1 .. 25 ], bcc => [ map { "b$_\@mail.test" } 1 .. 25 ] })
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json
--- error_code: 202



=== TEST 39: every invalid field of a send is named in one answer
--- request
POST /api/v1/emails/send
{"to":"bad","cc":["ok@mail.test","also bad"],"bcc":["x@"],"from":"x","replyTo":"y@y@y","subject":""}
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json
--- error_code: 422
--- response_body_like: "details":\{"fields":\[(?=.*\{"field":"subject","code":"required")(?=.*\{"field":"to","code":"invalid_format","message":"an email address or a contact id is expected"\})(?=.*\{"field":"from","code":"invalid_format")(?=.*\{"field":"replyTo","code":"invalid_format")(?=.*\{"field":"cc","code":"invalid_format","message":"\\"also bad\\" is not an email address"\})(?=.*\{"field":"bcc","code":"invalid_format")(?=.*\{"field":"text","code":"required","message":"text or html is required"\})
