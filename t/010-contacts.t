# Contacts through the descriptor-driven engine: CRUD, validation,
# errors, and what a client gets wrong.

use strict;
use warnings;

use Test::Nginx::Socket 'no_plan';
use CRM::Test;

CRM::Test::reset();
# customFields.tier is a custom field (t/140-custom-fields.t tests them)
CRM::Test::sql("INSERT INTO custom_fields (workspace_id, object, name, type)"
               . " VALUES ('$CRM::Test::WS_A', 'contacts', 'tier', 'number')");
CRM::Test::sql(<<'_SQL_');
INSERT INTO companies (workspace_id, id, name, domain, employees, created_at)
VALUES
 ('11111111-1111-4111-8111-111111111111',
  'c0000000-0000-4000-8000-00000000000a', 'Acme', 'acme.test', 50,
  '2026-01-01T00:00:00Z'),
 ('22222222-2222-4222-8222-222222222222',
  'c0000000-0000-4000-8000-00000000000b', 'Beta Corp', 'beta.test', 5,
  '2026-01-01T00:00:00Z');
INSERT INTO contacts (workspace_id, id, first_name, last_name, email,
                      company_id, status, tags, created_at)
VALUES
 ('11111111-1111-4111-8111-111111111111',
  'a0000000-0000-4000-8000-000000000001', 'Ada', 'Lovelace',
  'ada@example.com', 'c0000000-0000-4000-8000-00000000000a', 'customer',
  '{vip}', '2026-01-02T00:00:00Z'),
 ('11111111-1111-4111-8111-111111111111',
  'a0000000-0000-4000-8000-000000000002', 'Alan', 'Turing',
  'alan@example.com', NULL, 'lead', '{}', '2026-01-03T00:00:00Z'),
 ('11111111-1111-4111-8111-111111111111',
  'a0000000-0000-4000-8000-000000000003', 'Grace', 'Hopper',
  'grace@example.com', NULL, 'active', '{}', '2026-01-04T00:00:00Z'),
 ('22222222-2222-4222-8222-222222222222',
  'b0000000-0000-4000-8000-000000000004', 'Bob', 'Other',
  'bob@example.com', 'c0000000-0000-4000-8000-00000000000b', 'lead', '{}',
  '2026-01-05T00:00:00Z');
_SQL_

no_shuffle();
run_tests();

__DATA__

=== TEST 1: a list holds the workspace's contacts, newest first
--- request
GET /api/v1/contacts
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
--- error_code: 200
--- response_headers_like
Content-Type: application/json
X-Request-Id: req_[0-9a-f]{24}
--- response_body_like: ^\{"data":\[\{"id":"a0000000-0000-4000-8000-000000000003","firstName":"Grace".*"firstName":"Alan".*"firstName":"Ada".*\],"meta":\{"requestId":"req_[0-9a-f]{24}","timestamp":"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z","limit":20,"cursor":\{"next":null,"previous":null,"hasMore":false\}\}\}$

=== TEST 2: another workspace's contacts never appear in a list
--- request
GET /api/v1/contacts?count=exact
--- more_headers
X-API-Key: test-key-b-0123456789abcdef
--- error_code: 200
--- response_body_like: ^\{"data":\[\{"id":"b0000000-0000-4000-8000-000000000004",.*"total":1\}\}$

=== TEST 3: a contact by id, with every field rendered
--- request
GET /api/v1/contacts/a0000000-0000-4000-8000-000000000001
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
--- error_code: 200
--- response_body_like: ^\{"data":\{"id":"a0000000-0000-4000-8000-000000000001","firstName":"Ada","lastName":"Lovelace","email":"ada@example.com","phone":null,"title":null,"companyId":"c0000000-0000-4000-8000-00000000000a","ownerId":null,"status":"customer","source":null,"tags":\["vip"\],"customFields":\{\},"createdAt":"2026-01-02T00:00:00.000Z","updatedAt":"\d{4}-.*Z"\},"meta":\{"requestId":"req_

=== TEST 4: another workspace's id is not found, never forbidden
--- request
GET /api/v1/contacts/b0000000-0000-4000-8000-000000000004
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
--- error_code: 404
--- response_body_like: ^\{"error":\{"code":"RESOURCE_NOT_FOUND","status":404,"message":"(?:[^"\\]|\\.)+","details":\{\}\},"meta":\{"requestId":"req_

=== TEST 5: an id that is not a uuid is not found
--- request
GET /api/v1/contacts/not-a-uuid
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
--- error_code: 404
--- response_body_like: "code":"RESOURCE_NOT_FOUND"

=== TEST 6: create returns 201, the record and its Location
--- request
POST /api/v1/contacts
{"firstName":"Katherine","lastName":"Johnson","email":"kj@example.com","tags":["nasa"],"customFields":{"tier":2}}
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json
--- error_code: 201
--- response_headers_like
Location: /api/v1/contacts/[0-9a-f-]{36}
--- response_body_like: ^\{"data":\{"id":"[0-9a-f-]{36}","firstName":"Katherine","lastName":"Johnson","email":"kj@example.com",.*"status":"active",.*"tags":\["nasa"\],"customFields":\{"tier":2\}

=== TEST 7: the same email twice among live contacts is a duplicate
--- request
POST /api/v1/contacts
{"firstName":"Kate","email":"KJ@example.com"}
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json
--- error_code: 409
--- response_body_like: ^\{"error":\{"code":"DUPLICATE","status":409,"message":"(?:[^"\\]|\\.)+","details":\{"fields":\[\{"field":"email","code":"duplicate"

=== TEST 8: the same email in another workspace is fine
--- request
POST /api/v1/contacts
{"email":"kj@example.com"}
--- more_headers
X-API-Key: test-key-b-0123456789abcdef
Content-Type: application/json
--- error_code: 201
--- response_body_like: "email":"kj@example.com"

=== TEST 9: a missing required field is named
--- request
POST /api/v1/contacts
{"firstName":"Nobody"}
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json
--- error_code: 422
--- response_body_like: ^\{"error":\{"code":"VALIDATION_FAILED","status":422,"message":"(?:[^"\\]|\\.)+","details":\{"fields":\[\{"field":"email","code":"required"

=== TEST 10: every invalid field is reported, not just the first
--- request
POST /api/v1/contacts
{"email":"not-an-email","firstName":42,"status":"royalty","nickname":"x","companyId":"nope","id":"a0000000-0000-4000-8000-000000000009"}
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json
--- error_code: 422
--- response_body_like: (?=.*"field":"email","code":"invalid_format")(?=.*"field":"firstName","code":"invalid_type")(?=.*"field":"status","code":"invalid_value")(?=.*"field":"nickname","code":"unknown_field")(?=.*"field":"companyId","code":"invalid_format")(?=.*"field":"id","code":"read_only")

=== TEST 11: a string over its length limit is too long
--- request eval
"POST /api/v1/contacts\n" . '{"email":"long@example.com","firstName":"' . ("x" x 101) . '"}'
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json
--- error_code: 422
--- response_body_like: "field":"firstName","code":"too_long"

=== TEST 12: broken JSON is INVALID_JSON with its position
--- request
POST /api/v1/contacts
{"email": "a@b.co",
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json
--- error_code: 400
--- response_body_like: ^\{"error":\{"code":"INVALID_JSON","status":400,"message":"invalid JSON at line \d+, column \d+: [^"]+","details":\{"line":\d+,"column":\d+,"position":\d+\}\}

=== TEST 13: a JSON array is not a record
--- request
POST /api/v1/contacts
[{"email":"a@b.co"}]
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json
--- error_code: 400
--- response_body_like: "code":"BAD_REQUEST"

=== TEST 14: duplicate keys in the JSON object are rejected
--- request
POST /api/v1/contacts
{"email":"a@b.co","email":"c@d.co"}
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json
--- error_code: 400
--- response_body_like: "code":"INVALID_JSON"

=== TEST 15: a body that is not JSON is 415
--- request
POST /api/v1/contacts
email=a@b.co
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/x-www-form-urlencoded
--- error_code: 415
--- response_body_like: "code":"UNSUPPORTED_MEDIA_TYPE"

=== TEST 16: a body over crm_max_body_size is 413
--- request eval
"POST /api/v1/contacts\n" . '{"email":"big@example.com","firstName":"' . ("x" x 1100000) . '"}'
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json
--- error_code: 413
--- response_body_like: "code":"PAYLOAD_TOO_LARGE"

=== TEST 17: deeply nested JSON is refused
--- request eval
"POST /api/v1/contacts\n" . '{"email":"deep@example.com","customFields":' . ('{"a":' x 40) . '1' . ('}' x 40) . '}'
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json
--- error_code: 400
--- response_body_like: "code":"INVALID_JSON"

=== TEST 18: PATCH changes only the fields sent
--- request
PATCH /api/v1/contacts/a0000000-0000-4000-8000-000000000002
{"title":"Mathematician","status":"customer"}
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json
--- error_code: 200
--- response_body_like: "firstName":"Alan","lastName":"Turing","email":"alan@example.com","phone":null,"title":"Mathematician",.*"status":"customer"

=== TEST 19: PUT is a partial update too, and null clears a field
--- request
PUT /api/v1/contacts/a0000000-0000-4000-8000-000000000002
{"title":null}
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json
--- error_code: 200
--- response_body_like: "firstName":"Alan",.*"title":null,.*"status":"customer"

=== TEST 20: a required field cannot be cleared
--- request
PATCH /api/v1/contacts/a0000000-0000-4000-8000-000000000002
{"email":null}
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json
--- error_code: 422
--- response_body_like: "field":"email","code":"required"

=== TEST 21: updating another workspace's contact is not found
--- request
PATCH /api/v1/contacts/b0000000-0000-4000-8000-000000000004
{"title":"Hijacked"}
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json
--- error_code: 404
--- response_body_like: "code":"RESOURCE_NOT_FOUND"

=== TEST 22: a contact cannot point at another workspace's company
--- request
PATCH /api/v1/contacts/a0000000-0000-4000-8000-000000000002
{"companyId":"c0000000-0000-4000-8000-00000000000b"}
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json
--- error_code: 422
--- response_body_like: "field":"companyId","code":"not_found"

=== TEST 23: delete is 204 with no body
--- request
DELETE /api/v1/contacts/a0000000-0000-4000-8000-000000000003
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
--- error_code: 204
--- response_body

=== TEST 24: a deleted contact is gone from reads
--- request
GET /api/v1/contacts/a0000000-0000-4000-8000-000000000003
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
--- error_code: 404
--- response_body_like: "code":"RESOURCE_NOT_FOUND"

=== TEST 25: deleting twice is not found
--- request
DELETE /api/v1/contacts/a0000000-0000-4000-8000-000000000003
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
--- error_code: 404
--- response_body_like: "code":"RESOURCE_NOT_FOUND"

=== TEST 26: a deleted contact's email can be used again
--- request
POST /api/v1/contacts
{"email":"grace@example.com","firstName":"Grace","lastName":"Brewster"}
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json
--- error_code: 201
--- response_body_like: "lastName":"Brewster"

=== TEST 27: deleting another workspace's contact is not found
--- request
DELETE /api/v1/contacts/b0000000-0000-4000-8000-000000000004
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
--- error_code: 404
--- response_body_like: "code":"RESOURCE_NOT_FOUND"

=== TEST 28: no credentials is 401 with WWW-Authenticate
--- request
GET /api/v1/contacts
--- error_code: 401
--- response_headers
WWW-Authenticate: Bearer realm="crm"
--- response_body_like: ^\{"error":\{"code":"UNAUTHENTICATED","status":401,

=== TEST 29: a wrong key is 401
--- request
GET /api/v1/contacts
--- more_headers
X-API-Key: test-key-a-0123456789abcdeX
--- error_code: 401
--- response_body_like: "code":"UNAUTHENTICATED"

=== TEST 30: a bearer token works like X-API-Key
--- request
GET /api/v1/contacts/a0000000-0000-4000-8000-000000000001
--- more_headers
Authorization: Bearer test-key-a-0123456789abcdef
--- error_code: 200
--- response_body_like: "firstName":"Ada"

=== TEST 31: a method the route does not serve is 405 with Allow
--- request
DELETE /api/v1/contacts
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
--- error_code: 405
--- response_headers
Allow: GET, HEAD, POST
--- response_body_like: "code":"METHOD_NOT_ALLOWED"

=== TEST 32: an unknown resource is 404
--- request
GET /api/v1/widgets
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
--- error_code: 404
--- response_body_like: "code":"RESOURCE_NOT_FOUND"

=== TEST 33: a sane incoming X-Request-Id is kept
--- request
GET /api/v1/contacts/not-a-uuid
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
X-Request-Id: trace-42.abc
--- error_code: 404
--- response_headers
X-Request-Id: trace-42.abc
--- response_body_like: "requestId":"trace-42\.abc"

=== TEST 34: an insane X-Request-Id is replaced
--- request
GET /api/v1/contacts/not-a-uuid
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
X-Request-Id: <script>
--- error_code: 404
--- response_headers_like
X-Request-Id: req_[0-9a-f]{24}

=== TEST 35: the API is mounted at /v1/ too
--- request
GET /v1/contacts/a0000000-0000-4000-8000-000000000001
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
--- error_code: 200
--- response_body_like: "firstName":"Ada"

=== TEST 36: Location follows the mount point
--- request
POST /v1/contacts
{"email":"mount@example.com"}
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json
--- error_code: 201
--- response_headers_like
Location: /v1/contacts/[0-9a-f-]{36}

=== TEST 37: fields= on a single record
--- request
GET /api/v1/contacts/a0000000-0000-4000-8000-000000000001?fields=email,first_name
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
--- error_code: 200
--- response_body_like: ^\{"data":\{"id":"a0000000-0000-4000-8000-000000000001","firstName":"Ada","email":"ada@example.com"\},"meta"

=== TEST 38: a single record takes no other parameter
--- request
GET /api/v1/contacts/a0000000-0000-4000-8000-000000000001?expand=company
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
--- error_code: 400
--- response_body_like: "code":"INVALID_PARAMETER".*"parameter":"expand"

=== TEST 39: create with a query parameter is refused
--- request
POST /api/v1/contacts?dryRun=1
{"email":"q@example.com"}
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json
--- error_code: 400
--- response_body_like: "code":"INVALID_PARAMETER"

=== TEST 40: an empty body is INVALID_JSON
--- request
POST /api/v1/contacts
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json
--- error_code: 400
--- response_body_like: "code":"INVALID_JSON"

=== TEST 41: a record renders as PostgreSQL rendered it, compact: escapes, UTF-8, arrays, times in UTC to the millisecond
--- sql
INSERT INTO contacts (workspace_id, id, first_name, last_name, email, title,
                      tags, custom_fields, created_at, updated_at)
VALUES ('11111111-1111-4111-8111-111111111111',
        'a0000000-0000-4000-8000-0000000000f1', E'Zo\u00eb "Q"',
        E'back\\slash\ttab\x01', 'render@example.com', E'line\nbreak',
        ARRAY['a"b', 'c d', 'x,y', 'NULL'], '{"tier": 2}',
        '2026-01-02 03:04:05.999999+00', '2026-01-02 23:30:00-03');
--- request
GET /api/v1/contacts/a0000000-0000-4000-8000-0000000000f1
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
--- error_code: 200
--- response_body_like: ^\{"data":\{"id":"a0000000-0000-4000-8000-0000000000f1","firstName":"Zoë \\"Q\\"","lastName":"back\\\\slash\\ttab\\u0001","email":"render@example.com","phone":null,"title":"line\\nbreak","companyId":null,"ownerId":null,"status":("[a-z]+"|null),"source":null,"tags":\["a\\"b","c d","x,y","NULL"\],"customFields":\{"tier":2\},"createdAt":"2026-01-02T03:04:05\.999Z","updatedAt":"2026-01-03T02:30:00\.000Z"\},"meta":\{

=== TEST 42: a list renders its records the same way
--- request
GET /api/v1/contacts?email=render@example.com&fields=lastName,tags,createdAt
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
--- error_code: 200
--- response_body_like: ^\{"data":\[\{"id":"a0000000-0000-4000-8000-0000000000f1","lastName":"back\\\\slash\\ttab\\u0001","tags":\["a\\"b","c d","x,y","NULL"\],"createdAt":"2026-01-02T03:04:05\.999Z"\}\],"meta":\{

=== TEST 43: a contact's status is not null
--- request
POST /api/v1/contacts
{"email":"nullstatus@example.com","status":null}
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json
--- error_code: 422
--- response_body_like: "field":"status","code":"required","message":"is required and cannot be null"

=== TEST 44: a JSON scalar is not a record either
--- request
POST /api/v1/contacts
"a@b.co"
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json
--- error_code: 400
--- response_body_like: "code":"BAD_REQUEST","status":400,"message":"the request body must be a JSON object"

=== TEST 45: a body said to be in another charset is 415
--- request
POST /api/v1/contacts
{"email":"latin@example.com"}
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json; charset=ISO-8859-1
--- error_code: 415
--- response_body_like: "code":"UNSUPPORTED_MEDIA_TYPE",.*"message":"the request body must be JSON in UTF-8

=== TEST 46: UTF-8 said so, in any case and quoted, is taken
--- request
POST /api/v1/contacts
{"email":"utf8said@example.com"}
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json; charset="UTF-8"
--- error_code: 201

=== TEST 47: a compressed body is 415, not a JSON error
--- request
POST /api/v1/contacts
{"email":"gzip@example.com"}
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json
Content-Encoding: gzip
--- error_code: 415
--- response_body_like: "code":"UNSUPPORTED_MEDIA_TYPE",.*"message":"a request body is taken without a Content-Encoding"

=== TEST 48: any Content-Encoding but identity is 415, whichever header says it
--- request
POST /api/v1/contacts
{"email":"gzip2@example.com"}
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json
Content-Encoding: identity
Content-Encoding: gzip
--- error_code: 415
--- response_body_like: "code":"UNSUPPORTED_MEDIA_TYPE"

=== TEST 49: an empty charset is no UTF-8
--- request
POST /api/v1/contacts
{"email":"emptycharset@example.com"}
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json; charset=
--- error_code: 415
--- response_body_like: "code":"UNSUPPORTED_MEDIA_TYPE"

=== TEST 50: a PATCH takes no query parameter: none is ignored
--- request
PATCH /api/v1/contacts/a0000000-0000-4000-8000-000000000001?fields=email
{"title":"Countess"}
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json
--- error_code: 400
--- response_body_like: "details":\{"parameter":"fields","code":"unknown_parameter"\}

=== TEST 51: and nothing was written
--- request
GET /api/v1/contacts/a0000000-0000-4000-8000-000000000001?fields=title
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
--- error_code: 200
--- response_body_unlike: Countess

=== TEST 52: nor does a DELETE
--- request
DELETE /api/v1/contacts/a0000000-0000-4000-8000-000000000001?hard=true
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
--- error_code: 400
--- response_body_like: "details":\{"parameter":"hard","code":"unknown_parameter"\}

=== TEST 53: an empty tag names nothing and is refused
--- request
POST /api/v1/contacts
{"email":"empty-tag@example.com","tags":["vip",""]}
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json
--- error_code: 422
--- response_body_like: "field":"tags","code":"invalid_value","message":"element 1 must not be empty"
