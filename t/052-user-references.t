# ownerId and assignedUserId name a user of the record's own workspace,
# as companyId names one of its companies: another workspace's user, or
# no user at all, is 422 not_found on the field, on every write path.

use strict;
use warnings;

use Test::Nginx::Socket 'no_plan';
use CRM::Test;

CRM::Test::reset();
CRM::Test::sql(<<'_SQL_');
DELETE FROM users WHERE id IN ('e0000000-0000-4000-8000-00000000000a',
                               'e0000000-0000-4000-8000-00000000000b',
                               'e0000000-0000-4000-8000-00000000000c');
INSERT INTO users (workspace_id, id, email) VALUES
 ('11111111-1111-4111-8111-111111111111',
  'e0000000-0000-4000-8000-00000000000a', 'ref-owner@a.test'),
 ('11111111-1111-4111-8111-111111111111',
  'e0000000-0000-4000-8000-00000000000c', 'ref-other@a.test'),
 ('22222222-2222-4222-8222-222222222222',
  'e0000000-0000-4000-8000-00000000000b', 'ref-owner@b.test');
INSERT INTO contacts (workspace_id, id, email) VALUES
 ('11111111-1111-4111-8111-111111111111',
  'a0000000-0000-4000-8000-000000000001', 'ann@a.test');
INSERT INTO companies (workspace_id, id, name) VALUES
 ('11111111-1111-4111-8111-111111111111',
  'c0000000-0000-4000-8000-000000000001', 'Acme');
INSERT INTO deals (workspace_id, id, name) VALUES
 ('11111111-1111-4111-8111-111111111111',
  'd0000000-0000-4000-8000-000000000001', 'Big deal');
INSERT INTO activities (workspace_id, id, type) VALUES
 ('11111111-1111-4111-8111-111111111111',
  'f0000000-0000-4000-8000-000000000001', 'call');
_SQL_

add_block_preprocessor(sub {
    my $block = shift;
    $block->set_value('more_headers',
                      "X-API-Key: $CRM::Test::KEY_A\n"
                      . "Content-Type: application/json\n");
});

no_shuffle();
run_tests();

__DATA__

=== TEST 1: a contact cannot be owned by another workspace's user
--- request
POST /api/v1/contacts
{"email":"x1@a.test","ownerId":"e0000000-0000-4000-8000-00000000000b"}
--- error_code: 422
--- response_body_like: ^\{"error":\{"code":"VALIDATION_FAILED",.*"details":\{"fields":\[\{"field":"ownerId","code":"not_found","message":"the referenced record does not exist"\}\]\}

=== TEST 2: nor by an id that is no user at all
--- request
POST /api/v1/contacts
{"email":"x2@a.test","ownerId":"e0000000-0000-4000-8000-0000000000ff"}
--- error_code: 422
--- response_body_like: "field":"ownerId","code":"not_found"

=== TEST 3: a user of the workspace owns a new contact
--- request
POST /api/v1/contacts
{"email":"x3@a.test","ownerId":"e0000000-0000-4000-8000-00000000000a"}
--- error_code: 201
--- response_body_like: "ownerId":"e0000000-0000-4000-8000-00000000000a"

=== TEST 4: PATCH gives a contact an owner of the workspace
--- request
PATCH /api/v1/contacts/a0000000-0000-4000-8000-000000000001
{"ownerId":"e0000000-0000-4000-8000-00000000000a"}
--- error_code: 200
--- response_body_like: "ownerId":"e0000000-0000-4000-8000-00000000000a"

=== TEST 5: PATCH to another workspace's user is refused
--- request
PATCH /api/v1/contacts/a0000000-0000-4000-8000-000000000001
{"ownerId":"e0000000-0000-4000-8000-00000000000b"}
--- error_code: 422
--- response_body_like: "field":"ownerId","code":"not_found"

=== TEST 6: PUT to another workspace's user is refused
--- request
PUT /api/v1/contacts/a0000000-0000-4000-8000-000000000001
{"email":"ann@a.test","ownerId":"e0000000-0000-4000-8000-00000000000b"}
--- error_code: 422
--- response_body_like: "field":"ownerId","code":"not_found"

=== TEST 7: the refused writes changed nothing
--- request
GET /api/v1/contacts/a0000000-0000-4000-8000-000000000001
--- error_code: 200
--- response_body_like: "ownerId":"e0000000-0000-4000-8000-00000000000a"

=== TEST 8: null still clears the owner
--- request
PATCH /api/v1/contacts/a0000000-0000-4000-8000-000000000001
{"ownerId":null}
--- error_code: 200
--- response_body_like: "ownerId":null

=== TEST 9: a company cannot be owned by another workspace's user
--- request
POST /api/v1/companies
{"name":"Other","ownerId":"e0000000-0000-4000-8000-00000000000b"}
--- error_code: 422
--- response_body_like: "field":"ownerId","code":"not_found"

=== TEST 10: nor moved to one
--- request
PATCH /api/v1/companies/c0000000-0000-4000-8000-000000000001
{"ownerId":"e0000000-0000-4000-8000-00000000000b"}
--- error_code: 422
--- response_body_like: "field":"ownerId","code":"not_found"

=== TEST 11: a company takes an owner of its workspace
--- request
PATCH /api/v1/companies/c0000000-0000-4000-8000-000000000001
{"ownerId":"e0000000-0000-4000-8000-00000000000c"}
--- error_code: 200
--- response_body_like: "ownerId":"e0000000-0000-4000-8000-00000000000c"

=== TEST 12: a deal cannot be owned by another workspace's user
--- request
POST /api/v1/deals
{"name":"Other","ownerId":"e0000000-0000-4000-8000-00000000000b"}
--- error_code: 422
--- response_body_like: "field":"ownerId","code":"not_found"

=== TEST 13: nor moved to one
--- request
PATCH /api/v1/deals/d0000000-0000-4000-8000-000000000001
{"ownerId":"e0000000-0000-4000-8000-00000000000b"}
--- error_code: 422
--- response_body_like: "field":"ownerId","code":"not_found"

=== TEST 14: an activity cannot be assigned to another workspace's user
--- request
POST /api/v1/activities
{"type":"task","assignedUserId":"e0000000-0000-4000-8000-00000000000b"}
--- error_code: 422
--- response_body_like: "field":"assignedUserId","code":"not_found"

=== TEST 15: nor reassigned to one
--- request
PATCH /api/v1/activities/f0000000-0000-4000-8000-000000000001
{"assignedUserId":"e0000000-0000-4000-8000-00000000000b"}
--- error_code: 422
--- response_body_like: "field":"assignedUserId","code":"not_found"

=== TEST 16: an activity is assigned to a user of its workspace
--- request
POST /api/v1/activities
{"type":"task","assignedUserId":"e0000000-0000-4000-8000-00000000000a"}
--- error_code: 201
--- response_body_like: "assignedUserId":"e0000000-0000-4000-8000-00000000000a"

=== TEST 17: in bulk, each reference is checked as its single write would
--- request
POST /api/v1/contacts/bulk
{"operations":[{"method":"create","data":{"email":"b1@a.test","ownerId":"e0000000-0000-4000-8000-00000000000b"}},{"method":"update","id":"a0000000-0000-4000-8000-000000000001","data":{"ownerId":"e0000000-0000-4000-8000-00000000000b"}},{"method":"create","data":{"email":"b3@a.test","ownerId":"e0000000-0000-4000-8000-00000000000a"}}]}
--- error_code: 207
--- response_body_like: \{"index":0,"status":422,.*"field":"ownerId","code":"not_found".*\{"index":1,"status":422,.*"field":"ownerId","code":"not_found".*\{"index":2,"status":201,.*"ownerId" ?: ?"e0000000-0000-4000-8000-00000000000a"

=== TEST 18: an atomic bulk with one foreign assignee applies nothing
--- request
POST /api/v1/activities/bulk
{"atomic":true,"operations":[{"method":"create","data":{"type":"note","subject":"kept?"}},{"method":"update","id":"f0000000-0000-4000-8000-000000000001","data":{"assignedUserId":"e0000000-0000-4000-8000-00000000000b"}}]}
--- error_code: 207
--- response_body_like: \{"index":0,"status":424,.*\{"index":1,"status":422,.*"field":"assignedUserId","code":"not_found"

=== TEST 19: the metadata says what the ids refer to
--- request
GET /api/v1/metadata/objects/activities
--- error_code: 200
--- response_body_like: \{"name":"assignedUserId","type":"uuid",[^}]*"references":"users"
