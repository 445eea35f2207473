# Companies: the same engine as contacts, driven by another descriptor.

use strict;
use warnings;

use Test::Nginx::Socket 'no_plan';
use CRM::Test;

CRM::Test::reset();
# customFields.tier is a custom field (t/140-custom-fields.t tests them)
CRM::Test::sql("INSERT INTO custom_fields (workspace_id, object, name, type)"
               . " VALUES ('$CRM::Test::WS_A', 'companies', 'tier', 'text')");
CRM::Test::sql(<<'_SQL_');
INSERT INTO companies (workspace_id, id, name, domain, industry, employees,
                       annual_revenue, created_at)
VALUES
 ('11111111-1111-4111-8111-111111111111',
  'c0000000-0000-4000-8000-000000000001', 'Acme', 'acme.test', 'Tools', 50,
  1200000.50, '2026-01-01T00:00:00Z'),
 ('11111111-1111-4111-8111-111111111111',
  'c0000000-0000-4000-8000-000000000002', 'Globex', 'globex.test', 'Energy',
  5000, 90000000, '2026-01-02T00:00:00Z'),
 ('22222222-2222-4222-8222-222222222222',
  'c0000000-0000-4000-8000-000000000003', 'Initech', 'initech.test',
  'Software', 200, NULL, '2026-01-03T00:00:00Z');
_SQL_

no_shuffle();
run_tests();

__DATA__

=== TEST 1: create a company with every kind of field
--- request
POST /api/v1/companies
{"name":"Umbrella","domain":"umbrella.test","employees":120,"annualRevenue":2500000.75,"address":{"street":"1 Main St","city":"Raccoon City","country":"US"},"customFields":{"tier":"gold"}}
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json
--- error_code: 201
--- response_headers_like
Location: /api/v1/companies/[0-9a-f-]{36}
--- response_body_like: ^\{"data":\{"id":"[0-9a-f-]{36}","name":"Umbrella","domain":"umbrella.test","website":null,"industry":null,"employees":120,"annualRevenue":2500000.75,"phone":null,"address":\{"city":"Raccoon City","street":"1 Main St","country":"US"\},"ownerId":null,"customFields":\{"tier":"gold"\},"createdAt":"[^"]+Z","updatedAt":"[^"]+Z"\},"meta":\{

=== TEST 2: a company needs a name
--- request
POST /api/v1/companies
{"domain":"nameless.test"}
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json
--- error_code: 422
--- response_body_like: "field":"name","code":"required"

=== TEST 3: an empty name is not a name
--- request
POST /api/v1/companies
{"name":""}
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json
--- error_code: 422
--- response_body_like: "field":"name","code":"required"

=== TEST 4: numbers must be numbers, objects objects
--- request
POST /api/v1/companies
{"name":"Typo Inc","employees":"many","annualRevenue":"lots","address":"Main St"}
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json
--- error_code: 422
--- response_body_like: (?=.*"field":"employees","code":"invalid_type")(?=.*"field":"annualRevenue","code":"invalid_type")(?=.*"field":"address","code":"invalid_type")

=== TEST 5: an integer field refuses a fraction
--- request
POST /api/v1/companies
{"name":"Half Inc","employees":1.5}
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json
--- error_code: 422
--- response_body_like: "field":"employees"

=== TEST 6: a company by id
--- request
GET /api/v1/companies/c0000000-0000-4000-8000-000000000002
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
--- error_code: 200
--- response_body_like: "name":"Globex",.*"employees":5000,"annualRevenue":90000000,

=== TEST 7: another workspace's company is not found
--- request
GET /api/v1/companies/c0000000-0000-4000-8000-000000000003
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
--- error_code: 404
--- response_body_like: "code":"RESOURCE_NOT_FOUND"

=== TEST 8: numeric range filters and sort
--- request
GET /api/v1/companies?employees[gte]=50&sort=-employees
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
--- error_code: 200
--- json_names: Globex Umbrella Acme

=== TEST 9: a numeric filter needs a number
--- request
GET /api/v1/companies?annualRevenue[gt]=a-lot
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
--- error_code: 400
--- response_body_like: "code":"INVALID_PARAMETER"

=== TEST 10: PATCH a company
--- request
PATCH /api/v1/companies/c0000000-0000-4000-8000-000000000001
{"industry":"Anvils","employees":51}
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json
--- error_code: 200
--- response_body_like: "name":"Acme",.*"industry":"Anvils","employees":51,

=== TEST 11: customFields cannot be null
--- request
PATCH /api/v1/companies/c0000000-0000-4000-8000-000000000001
{"customFields":null}
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json
--- error_code: 422
--- response_body_like: "field":"customFields"

=== TEST 12: delete a company
--- request
DELETE /api/v1/companies/c0000000-0000-4000-8000-000000000002
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
--- error_code: 204
--- response_body

=== TEST 13: deleted companies leave lists
--- request
GET /api/v1/companies?count=exact&sort=name
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
--- error_code: 200
--- json_names: Acme Umbrella
--- json_total: 2

=== TEST 14: a deleted company's contacts cannot be listed
--- request
GET /api/v1/companies/c0000000-0000-4000-8000-000000000002/contacts
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
--- error_code: 404
--- response_body_like: "code":"RESOURCE_NOT_FOUND"

=== TEST 15: a company item takes no POST
--- request
POST /api/v1/companies/c0000000-0000-4000-8000-000000000001
{"name":"x"}
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json
--- error_code: 405
--- response_headers
Allow: GET, HEAD, PUT, PATCH, DELETE
--- response_body_like: "code":"METHOD_NOT_ALLOWED"

=== TEST 16: a sub-collection takes GET only
--- request
POST /api/v1/companies/c0000000-0000-4000-8000-000000000001/contacts
{"email":"x@example.com"}
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json
--- error_code: 405
--- response_headers
Allow: GET, HEAD

=== TEST 17: an integer beyond 64 bits is out of range on its field, not broken JSON
--- request
POST /api/v1/companies
{"name":"Huge","employees":123456789012345678901234567890}
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json
--- error_code: 422
--- response_body_like: "field":"employees","code":"out_of_range"

=== TEST 18: a big number where any number goes is taken; the body's integers stay integers
--- request
POST /api/v1/companies
{"name":"Huge","employees":1234567,"annualRevenue":123456789012345678901234567890}
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json
--- error_code: 201
--- response_body_like: "employees":1234567,"annualRevenue":1234567890123456\d{14},

=== TEST 19: a NUL in a string is explained in the API's words
--- request eval
"POST /api/v1/companies
{\"name\":\"a\\u0000b\"}"
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json
--- error_code: 400
--- response_body_like: "code":"INVALID_JSON","status":400,"message":"invalid JSON at line 1, column \d+: a string holds a NUL character
--- response_body_unlike: JSON_ALLOW_NUL
