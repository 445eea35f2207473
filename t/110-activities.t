# Activities: types, related records (validated per type and workspace),
# participants, tasks by status and due date, the activities of a
# contact, company, deal or lead; deals' contacts as a many-to-many link.

use strict;
use warnings;

use Test::Nginx::Socket 'no_plan';
use CRM::Test;

my $A = $CRM::Test::WS_A;
my $B = $CRM::Test::WS_B;

CRM::Test::reset();
CRM::Test::sql(<<"_SQL_");
INSERT INTO companies (workspace_id, id, name) VALUES
 ('$A', 'c0000000-0000-4000-8000-00000000000a', 'Acme'),
 ('$B', 'c0000000-0000-4000-8000-00000000000b', 'Theirs');
INSERT INTO contacts (workspace_id, id, email, first_name, created_at) VALUES
 ('$A', 'a0000000-0000-4000-8000-000000000001', 'ann\@a.test', 'Ann',
  '2026-01-01T00:00:00Z'),
 ('$A', 'a0000000-0000-4000-8000-000000000002', 'bob\@a.test', 'Bob',
  '2026-01-02T00:00:00Z'),
 ('$A', 'a0000000-0000-4000-8000-000000000003', 'cid\@a.test', 'Cid',
  '2026-01-03T00:00:00Z'),
 ('$B', 'a0000000-0000-4000-8000-00000000000b', 'zed\@b.test', 'Zed',
  '2026-01-01T00:00:00Z');
INSERT INTO deals (workspace_id, id, name, contact_ids, created_at) VALUES
 ('$A', 'd0000000-0000-4000-8000-000000000001', 'Deal one',
  '{a0000000-0000-4000-8000-000000000001}', '2026-01-01T00:00:00Z'),
 ('$A', 'd0000000-0000-4000-8000-000000000002', 'Deal two', '{}',
  '2026-01-02T00:00:00Z');
INSERT INTO leads (workspace_id, id, email) VALUES
 ('$A', 'e0000000-0000-4000-8000-000000000001', 'lead\@a.test');
INSERT INTO activities (workspace_id, id, type, subject, status, due_at,
                        related_type, related_id, contact_ids, created_at)
VALUES
 ('$A', 'f0000000-0000-4000-8000-000000000001', 'task', 'Call back', 'open',
  '2026-02-01T09:00:00Z', 'contact', 'a0000000-0000-4000-8000-000000000001',
  '{}', '2026-01-10T00:00:00Z'),
 ('$A', 'f0000000-0000-4000-8000-000000000002', 'task', 'Send offer',
  'completed', '2026-01-15T09:00:00Z', 'deal',
  'd0000000-0000-4000-8000-000000000001', '{}', '2026-01-11T00:00:00Z'),
 ('$A', 'f0000000-0000-4000-8000-000000000003', 'meeting', 'Kick-off',
  'open', NULL, 'company', 'c0000000-0000-4000-8000-00000000000a',
  '{a0000000-0000-4000-8000-000000000001,a0000000-0000-4000-8000-000000000002}',
  '2026-01-12T00:00:00Z'),
 ('$A', 'f0000000-0000-4000-8000-000000000004', 'task', 'Later', 'open',
  '2026-06-01T09:00:00Z', NULL, NULL, '{}', '2026-01-13T00:00:00Z'),
 ('$B', 'f0000000-0000-4000-8000-00000000000b', 'note', 'Theirs', 'open',
  NULL, 'contact', 'a0000000-0000-4000-8000-00000000000b', '{}',
  '2026-01-10T00:00:00Z');
_SQL_

add_block_preprocessor(sub {
    my $block = shift;
    my $h = $block->more_headers // '';
    $h = "X-API-Key: $CRM::Test::KEY_A\n$h" unless $h =~ /^X-API-Key:/m;
    $block->set_value('more_headers', "Content-Type: application/json\n$h");
});

no_shuffle();
run_tests();

__DATA__

=== TEST 1: a call related to a contact, with participants
--- request
POST /api/v1/activities
{"type":"call","subject":"Intro call","direction":"outbound","durationSec":300,"relatedType":"contact","relatedId":"a0000000-0000-4000-8000-000000000002","contactIds":["a0000000-0000-4000-8000-000000000002","a0000000-0000-4000-8000-000000000003","a0000000-0000-4000-8000-000000000002"]}
--- error_code: 201
--- response_body_like: "type":"call","subject":"Intro call","body":null,"status":"open","priority":"normal",.*"durationSec":300,"direction":"outbound","relatedType":"contact","relatedId":"a0000000-0000-4000-8000-000000000002","contactIds":\["a0000000-0000-4000-8000-000000000002","a0000000-0000-4000-8000-000000000003"\]

=== TEST 2: the type is required and one of four
--- request
POST /api/v1/activities
{"type":"email","subject":"x"}
--- error_code: 422
--- response_body_like: "field":"type","code":"invalid_value"

=== TEST 3: no type at all
--- request
POST /api/v1/activities
{"subject":"x"}
--- error_code: 422
--- response_body_like: "field":"type","code":"required"

=== TEST 4: a related record must exist (as that type)
--- request
POST /api/v1/activities
{"type":"note","relatedType":"deal","relatedId":"a0000000-0000-4000-8000-000000000001"}
--- error_code: 422
--- response_body_like: "field":"relatedId","code":"not_found"

=== TEST 5: another workspace's contact is not a related record here
--- request
POST /api/v1/activities
{"type":"note","relatedType":"contact","relatedId":"a0000000-0000-4000-8000-00000000000b"}
--- error_code: 422
--- response_body_like: "field":"relatedId","code":"not_found"

=== TEST 6: relatedType and relatedId go together, said so though the record exists
--- request
POST /api/v1/activities
{"type":"note","relatedId":"a0000000-0000-4000-8000-000000000002"}
--- error_code: 422
--- response_body_like: "field":"relatedId","code":"invalid_value","message":"relatedType and relatedId are set together, or neither"

=== TEST 7: an unknown relatedType
--- request
POST /api/v1/activities
{"type":"note","relatedType":"pipeline","relatedId":"a0000000-0000-4000-8000-000000000001"}
--- error_code: 422
--- response_body_like: "field":"relatedType","code":"invalid_value"

=== TEST 8: participants must be contacts of this workspace
--- request
POST /api/v1/activities
{"type":"meeting","contactIds":["a0000000-0000-4000-8000-000000000001","a0000000-0000-4000-8000-00000000000b"]}
--- error_code: 422
--- response_body_like: "field":"contactIds","code":"not_found"

=== TEST 9: participants are UUIDs
--- request
POST /api/v1/activities
{"type":"meeting","contactIds":["not-a-uuid"]}
--- error_code: 422
--- response_body_like: "field":"contactIds","code":"invalid_format"

=== TEST 10: participants are an array
--- request
POST /api/v1/activities
{"type":"meeting","contactIds":"a0000000-0000-4000-8000-000000000001"}
--- error_code: 422
--- response_body_like: "field":"contactIds","code":"invalid_type"

=== TEST 11: at most 100 participants
--- request eval
my @ids = map { sprintf('"a0000000-0000-4000-8000-%012d"', $_) } 1 .. 101;
"POST /api/v1/activities\n" . '{"type":"meeting","contactIds":[' . CORE::join(',', @ids) . ']}'
--- error_code: 422
--- response_body_like: "field":"contactIds","code":"too_long"

=== TEST 12: an end before the start
--- request
POST /api/v1/activities
{"type":"meeting","startAt":"2026-03-01T10:00:00Z","endAt":"2026-03-01T09:00:00Z"}
--- error_code: 422
--- response_body_like: "field":"endAt","code":"invalid_value"

=== TEST 13: a negative duration
--- request
POST /api/v1/activities
{"type":"call","durationSec":-1}
--- error_code: 422
--- response_body_like: "field":"durationSec","code":"invalid_value"

=== TEST 14: open tasks due before a date, soonest first
--- request
GET /api/v1/activities?type=task&status=open&dueAt[lte]=2026-03-01T00:00:00Z&sort=dueAt
--- error_code: 200
--- response_body_like: ^\{"data":\[\{"id":"f0000000-0000-4000-8000-000000000001",(?:(?!"id":).)*\}\],"meta"

=== TEST 15: tasks by due date, with a count
--- request
GET /api/v1/activities?type=task&sort=dueAt&fields=subject&count=exact
--- error_code: 200
--- response_body_like: "subject":"Send offer"\},\{"id":"[^"]+","subject":"Call back"\},\{"id":"[^"]+","subject":"Later"\}\].*"total":3

=== TEST 16: a filter on a participant
--- request
GET /api/v1/activities?contactIds=a0000000-0000-4000-8000-000000000002&fields=subject
--- error_code: 200
--- response_body_like: ^\{"data":\[\{"id":"[^"]+","subject":"(Intro call|Kick-off)"\},\{"id":"[^"]+","subject":"(Intro call|Kick-off)"\}\],

=== TEST 17: a participant filter takes a UUID
--- request
GET /api/v1/activities?contactIds=bob
--- error_code: 400
--- response_body_like: "INVALID_PARAMETER".*"parameter":"contactIds"

=== TEST 18: a contact's activities: related to it and those it took part in
--- request
GET /api/v1/contacts/a0000000-0000-4000-8000-000000000001/activities?sort=createdAt&fields=subject
--- error_code: 200
--- response_body_like: ^\{"data":\[\{"id":"f0000000-0000-4000-8000-000000000001","subject":"Call back"\},\{"id":"f0000000-0000-4000-8000-000000000003","subject":"Kick-off"\}\],

=== TEST 19: a company's activities
--- request
GET /api/v1/companies/c0000000-0000-4000-8000-00000000000a/activities?fields=subject
--- error_code: 200
--- response_body_like: ^\{"data":\[\{"id":"f0000000-0000-4000-8000-000000000003","subject":"Kick-off"\}\],

=== TEST 20: a deal's activities, filtered
--- request
GET /api/v1/deals/d0000000-0000-4000-8000-000000000001/activities?status=completed&fields=subject
--- error_code: 200
--- response_body_like: ^\{"data":\[\{"id":"f0000000-0000-4000-8000-000000000002","subject":"Send offer"\}\],

=== TEST 21: a lead's activities (none)
--- request
GET /api/v1/leads/e0000000-0000-4000-8000-000000000001/activities
--- error_code: 200
--- response_body_like: ^\{"data":\[\],

=== TEST 22: another workspace's contact has no activities here
--- request
GET /api/v1/contacts/a0000000-0000-4000-8000-00000000000b/activities
--- error_code: 404
--- response_body_like: "RESOURCE_NOT_FOUND"

=== TEST 23: a deal's contacts
--- request
GET /api/v1/deals/d0000000-0000-4000-8000-000000000001/contacts
--- error_code: 200
--- json_names: Ann

=== TEST 24: a contact's deals
--- request
GET /api/v1/contacts/a0000000-0000-4000-8000-000000000001/deals
--- error_code: 200
--- json_names: Deal one

=== TEST 25: adding a contact to a deal answers the deal
--- request
POST /api/v1/deals/d0000000-0000-4000-8000-000000000001/contacts
{"id":"a0000000-0000-4000-8000-000000000002"}
--- error_code: 200
--- response_headers
ETag: "2"
--- response_body_like: "contactIds":\["a0000000-0000-4000-8000-000000000001","a0000000-0000-4000-8000-000000000002"\]

=== TEST 26: adding it again changes nothing, not even the version
--- request
POST /api/v1/deals/d0000000-0000-4000-8000-000000000001/contacts
{"id":"a0000000-0000-4000-8000-000000000002"}
--- error_code: 200
--- response_headers
ETag: "2"
--- response_body_like: "contactIds":\["a0000000-0000-4000-8000-000000000001","a0000000-0000-4000-8000-000000000002"\]

=== TEST 27: the deal lists both
--- request
GET /api/v1/deals/d0000000-0000-4000-8000-000000000001/contacts?sort=firstName&count=exact
--- error_code: 200
--- json_names: Ann Bob
--- json_total: 2

=== TEST 28: another workspace's contact cannot be added
--- request
POST /api/v1/deals/d0000000-0000-4000-8000-000000000001/contacts
{"id":"a0000000-0000-4000-8000-00000000000b"}
--- error_code: 422
--- response_body_like: "field":"id","code":"not_found"

=== TEST 29: the body is {"id"} and nothing else
--- request
POST /api/v1/deals/d0000000-0000-4000-8000-000000000001/contacts
{"id":"a0000000-0000-4000-8000-000000000003","role":"buyer"}
--- error_code: 422
--- response_body_like: "field":"id","code":"required"

=== TEST 30: the id is a UUID
--- request
POST /api/v1/deals/d0000000-0000-4000-8000-000000000001/contacts
{"id":42}
--- error_code: 422
--- response_body_like: "field":"id","code":"invalid_format"

=== TEST 31: If-Match guards the link like any write
--- request
DELETE /api/v1/deals/d0000000-0000-4000-8000-000000000001/contacts/a0000000-0000-4000-8000-000000000001
--- more_headers
If-Match: "1"
--- error_code: 412
--- response_body_like: "PRECONDITION_FAILED"

=== TEST 32: removing a contact from a deal
--- request
DELETE /api/v1/deals/d0000000-0000-4000-8000-000000000001/contacts/a0000000-0000-4000-8000-000000000001
--- more_headers
If-Match: "2"
--- error_code: 200
--- response_headers
ETag: "3"
--- response_body_like: "contactIds":\["a0000000-0000-4000-8000-000000000002"\]

=== TEST 33: removing one that is not there is a no-op
--- request
DELETE /api/v1/deals/d0000000-0000-4000-8000-000000000001/contacts/a0000000-0000-4000-8000-000000000003
--- error_code: 200
--- response_headers
ETag: "3"

=== TEST 34: a deal of another workspace
--- request
POST /api/v1/deals/d0000000-0000-4000-8000-00000000000b/contacts
{"id":"a0000000-0000-4000-8000-000000000001"}
--- error_code: 404
--- response_body_like: "RESOURCE_NOT_FOUND"

=== TEST 35: a contact-of-deal id that is not a UUID
--- request
DELETE /api/v1/deals/d0000000-0000-4000-8000-000000000001/contacts/nope
--- error_code: 404
--- response_body_like: "RESOURCE_NOT_FOUND"

=== TEST 36: links that are not many-to-many cannot be written
--- request
POST /api/v1/companies/c0000000-0000-4000-8000-00000000000a/contacts
{"id":"a0000000-0000-4000-8000-000000000001"}
--- error_code: 405
--- response_headers
Allow: GET, HEAD

=== TEST 37: a link item only takes DELETE
--- request
GET /api/v1/deals/d0000000-0000-4000-8000-000000000001/contacts/a0000000-0000-4000-8000-000000000002
--- error_code: 405
--- response_headers
Allow: DELETE

=== TEST 38: participants of an activity
--- request
POST /api/v1/activities/f0000000-0000-4000-8000-000000000004/contacts
{"id":"a0000000-0000-4000-8000-000000000003"}
--- error_code: 200
--- response_body_like: "contactIds":\["a0000000-0000-4000-8000-000000000003"\]

=== TEST 39: a deleted contact leaves the links it was in
--- sql
UPDATE contacts SET deleted_at = now() WHERE id = 'a0000000-0000-4000-8000-000000000002';
--- request
GET /api/v1/activities/f0000000-0000-4000-8000-000000000003
--- error_code: 200
--- response_headers
ETag: "2"
--- response_body_like: "contactIds":\["a0000000-0000-4000-8000-000000000001"\]

=== TEST 40: the activity list of another workspace's key
--- request
GET /api/v1/activities?fields=subject
--- more_headers
X-API-Key: test-key-b-0123456789abcdef
--- error_code: 200
--- response_body_like: ^\{"data":\[\{"id":"f0000000-0000-4000-8000-00000000000b","subject":"Theirs"\}\],

=== TEST 41: an offset that moves a time past year 9999 in UTC
--- request
POST /api/v1/activities
{"type":"task","dueAt":"9999-12-31T23:59:59-05:00"}
--- error_code: 422
--- response_body_like: "field":"dueAt","code":"invalid_format"

=== TEST 42: an offset that moves a time before year 1 in UTC
--- request
POST /api/v1/activities
{"type":"task","startAt":"0001-01-01T00:00:00+05:00"}
--- error_code: 422
--- response_body_like: "field":"startAt","code":"invalid_format"

=== TEST 43: the last instant of year 9999, given with an offset, comes back in UTC
--- request
POST /api/v1/activities
{"type":"task","subject":"edge","dueAt":"9999-12-31T18:59:59.999-05:00"}
--- error_code: 201
--- response_body_like: "dueAt":"9999-12-31T23:59:59\.999Z"

=== TEST 44: a filter's time past year 9999 in UTC
--- request
GET /api/v1/activities?dueAt[lte]=9999-12-31T23:59:59-05:00
--- error_code: 400
--- response_body_like: "code":"INVALID_PARAMETER".*"details":\{"parameter":"dueAt\[lte\]","code":"invalid_value"\}

=== TEST 45: a fraction that PostgreSQL rounds into year 10000
--- request
POST /api/v1/activities
{"type":"task","dueAt":"9999-12-31T23:59:59.9999999Z"}
--- error_code: 422
--- response_body_like: "field":"dueAt","code":"invalid_format"

=== TEST 46: a link does not take a deal past 100 contacts
--- sql
INSERT INTO contacts (workspace_id, id, email)
SELECT '11111111-1111-4111-8111-111111111111',
       ('a7000000-0000-4000-8000-' || lpad(i::text, 12, '0'))::uuid,
       'many' || i || '@a.test'
  FROM generate_series(1, 101) i;
INSERT INTO deals (workspace_id, id, name, contact_ids)
SELECT '11111111-1111-4111-8111-111111111111',
       'd7000000-0000-4000-8000-000000000001', 'Crowded',
       ARRAY(SELECT ('a7000000-0000-4000-8000-' || lpad(i::text, 12, '0'))::uuid
               FROM generate_series(1, 100) i);
--- request
POST /api/v1/deals/d7000000-0000-4000-8000-000000000001/contacts
{"id":"a7000000-0000-4000-8000-000000000101"}
--- error_code: 422
--- response_body_like: "field":"contactIds","code":"too_long","message":"at most 100 contacts"

=== TEST 47: one already there is still no change
--- request
POST /api/v1/deals/d7000000-0000-4000-8000-000000000001/contacts
{"id":"a7000000-0000-4000-8000-000000000100"}
--- error_code: 200
--- response_body_like: "name":"Crowded"

=== TEST 48: a rule the database checks says what it is: an end before the start
--- request
POST /api/v1/activities
{"type":"meeting","startAt":"2026-03-01T10:00:00Z","endAt":"2026-03-01T09:00:00Z"}
--- error_code: 422
--- response_body_like: "field":"endAt","code":"invalid_value","message":"must not be before startAt"

=== TEST 49: ... a related type without its id
--- request
POST /api/v1/activities
{"type":"call","relatedType":"contact"}
--- error_code: 422
--- response_body_like: "field":"relatedId","code":"invalid_value","message":"relatedType and relatedId are set together, or neither"
