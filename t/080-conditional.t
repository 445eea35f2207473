# Conditional requests: ETag on records, If-None-Match gives 304,
# If-Match protects writes from lost updates (412).

use strict;
use warnings;

use Test::Nginx::Socket 'no_plan';
use CRM::Test;

my $ID = 'a0000000-0000-4000-8000-000000000001';

CRM::Test::reset();
CRM::Test::sql("INSERT INTO contacts (workspace_id, id, email, version)"
               . " VALUES ('$CRM::Test::WS_A', '$ID', 'etag\@example.com', 3)");

no_shuffle();
run_tests();

__DATA__

=== TEST 1: a record carries its version as ETag
--- request
GET /api/v1/contacts/a0000000-0000-4000-8000-000000000001
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
--- error_code: 200
--- response_headers
ETag: "3"

=== TEST 2: If-None-Match with the current ETag is 304 without a body
--- request
GET /api/v1/contacts/a0000000-0000-4000-8000-000000000001
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
If-None-Match: "3"
--- error_code: 304
--- response_body

=== TEST 3: an older ETag gets the record
--- request
GET /api/v1/contacts/a0000000-0000-4000-8000-000000000001
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
If-None-Match: "2", "1"
--- error_code: 200
--- response_body_like: "email":"etag@example.com"

=== TEST 4: a write with the current version succeeds and raises it
--- request
PATCH /api/v1/contacts/a0000000-0000-4000-8000-000000000001
{"title":"First"}
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json
If-Match: "3"
--- error_code: 200
--- response_headers
ETag: "4"

=== TEST 5: a write with a stale version is 412, and nothing changes
--- request
PATCH /api/v1/contacts/a0000000-0000-4000-8000-000000000001
{"title":"Lost update"}
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json
If-Match: "3"
--- error_code: 412
--- response_body_like: ^\{"error":\{"code":"PRECONDITION_FAILED","status":412,

=== TEST 6: the stale write did not land
--- request
GET /api/v1/contacts/a0000000-0000-4000-8000-000000000001?fields=title
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
--- error_code: 200
--- response_body_like: "title":"First"
--- response_headers
ETag: "4"

=== TEST 7: a weak ETag matches too
--- request
PUT /api/v1/contacts/a0000000-0000-4000-8000-000000000001
{"title":"Second"}
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json
If-Match: W/"4"
--- error_code: 200
--- response_headers
ETag: "5"

=== TEST 8: If-Match on a missing record is 404, not 412
--- request
PATCH /api/v1/contacts/a0000000-0000-4000-8000-000000000099
{"title":"x"}
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json
If-Match: "1"
--- error_code: 404
--- response_body_like: "code":"RESOURCE_NOT_FOUND"

=== TEST 9: a malformed If-Match cannot match
--- request
DELETE /api/v1/contacts/a0000000-0000-4000-8000-000000000001
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
If-Match: version-five
--- error_code: 412
--- response_body_like: "code":"PRECONDITION_FAILED"

=== TEST 10: delete with a stale version is 412
--- request
DELETE /api/v1/contacts/a0000000-0000-4000-8000-000000000001
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
If-Match: "4"
--- error_code: 412

=== TEST 11: delete with the current version is 204
--- request
DELETE /api/v1/contacts/a0000000-0000-4000-8000-000000000001
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
If-Match: "5"
--- error_code: 204
--- response_body

=== TEST 12: a new record starts at version 1
--- request
POST /api/v1/companies
{"name":"Fresh"}
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json
--- error_code: 201
--- response_headers
ETag: "1"

=== TEST 13: a record without a version has no ETag: no tag matches it
--- request
PATCH /api/v1/workspaces/current
{}
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json
If-Match: "1"
--- error_code: 412
--- response_body_like: "code":"PRECONDITION_FAILED"

=== TEST 14: but "*" does
--- request
PATCH /api/v1/workspaces/current
{}
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json
If-Match: *
--- error_code: 200
--- response_body_like: "data":\{"id":"11111111-1111-4111-8111-111111111111"

=== TEST 15: If-Match with a list matches when one of its tags names the version
--- sql
INSERT INTO contacts (workspace_id, id, email, version)
VALUES ('11111111-1111-4111-8111-111111111111',
        'a0000000-0000-4000-8000-000000000015', 'list@example.com', 7);
--- request
PATCH /api/v1/contacts/a0000000-0000-4000-8000-000000000015
{"title":"one"}
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json
If-Match: "1", W/"7"
--- error_code: 200
--- response_headers
ETag: "8"

=== TEST 16: a list of stale versions is 412, and nothing changes
--- request
PATCH /api/v1/contacts/a0000000-0000-4000-8000-000000000015
{"title":"two"}
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json
If-Match: "6","7"
--- error_code: 412
--- response_body_like: "code":"PRECONDITION_FAILED"

=== TEST 17: a second If-Match header is refused by nginx, as JSON
--- request
PATCH /api/v1/contacts/a0000000-0000-4000-8000-000000000015
{"title":"three"}
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json
If-Match: "3"
If-Match: "8"
--- error_code: 400
--- response_body_like: "code":"BAD_REQUEST"

=== TEST 18: empty elements of the list are skipped
--- request
PATCH /api/v1/contacts/a0000000-0000-4000-8000-000000000015
{"title":"four"}
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json
If-Match: , "8" ,
--- error_code: 200
--- response_headers
ETag: "9"

=== TEST 19: a malformed element makes the list malformed: 412
--- request
PATCH /api/v1/contacts/a0000000-0000-4000-8000-000000000015
{"title":"five"}
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json
If-Match: "9", version-nine
--- error_code: 412
--- response_body_like: "code":"PRECONDITION_FAILED"

=== TEST 20: a version beyond an integer cannot match: 412, not an error
--- request
DELETE /api/v1/contacts/a0000000-0000-4000-8000-000000000015
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
If-Match: "9999999999"
--- error_code: 412
--- response_body_like: "code":"PRECONDITION_FAILED"

=== TEST 21: the record is at version 9
--- request
GET /api/v1/contacts/a0000000-0000-4000-8000-000000000015
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
--- error_code: 200
--- response_headers
ETag: "9"
--- response_body_like: "title":"four"

=== TEST 22: a tag that names no version matches nothing, and the list may still match
--- request
PATCH /api/v1/contacts/a0000000-0000-4000-8000-000000000015
{"title":"five"}
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json
If-Match: "abc", "", "99999999999", "9"
--- error_code: 200
--- response_headers
ETag: "10"

=== TEST 23: If-None-Match: * on a record without a version (no ETag) is 304 too
--- request
GET /api/v1/workspaces/current
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
If-None-Match: *
--- error_code: 304
--- response_body:

=== TEST 24: and a tag does not match it
--- request
GET /api/v1/workspaces/current
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
If-None-Match: "1"
--- error_code: 200
--- response_body_like: ^\{"data":\{"id":"11111111-1111-4111-8111-111111111111"
