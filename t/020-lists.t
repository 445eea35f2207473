# Lists: pagination (cursor, offset, page), filters, sort, fields, count,
# sub-collections, and the parameters clients get wrong.

use strict;
use warnings;

use Test::Nginx::Socket 'no_plan';
use CRM::Test;

my @names = qw(Ada Alan Barbara Claude Dennis Edsger Frances Grace Hedy
               Ivan John Ken);

CRM::Test::reset();
CRM::Test::sql(<<'_SQL_');
INSERT INTO companies (workspace_id, id, name, created_at) VALUES
 ('11111111-1111-4111-8111-111111111111',
  'c0000000-0000-4000-8000-00000000000a', 'Acme', '2026-01-01T00:00:00Z'),
 ('22222222-2222-4222-8222-222222222222',
  'c0000000-0000-4000-8000-00000000000b', 'Beta', '2026-01-01T00:00:00Z');
INSERT INTO contacts (workspace_id, id, first_name, last_name, email,
                      status, company_id, tags, created_at)
VALUES
 ('22222222-2222-4222-8222-222222222222',
  'e0000000-0000-4000-8000-000000000001', 'Zed', 'Other',
  'zed@example.org', 'lead', 'c0000000-0000-4000-8000-00000000000b', '{}',
  '2026-02-01T05:30:00Z');
_SQL_

for my $i (1 .. 12) {
    my $last = $i % 4 == 0 ? 'NULL' : "'Last$i'";
    my $status = ('active', 'customer', 'active', 'lead')[$i % 3 == 0 ? 3
                 : $i % 3];
    my $company = $i <= 3 ? "'c0000000-0000-4000-8000-00000000000a'"
                          : 'NULL';
    my $tags = $i % 2 ? "'{vip}'" : "'{}'";
    CRM::Test::sql(sprintf(
        "INSERT INTO contacts (workspace_id, id, first_name, last_name, "
        . "email, status, company_id, tags, created_at) VALUES "
        . "('$CRM::Test::WS_A', 'd0000000-0000-4000-8000-%012d', '%s', %s, "
        . "'user%d\@Example.org', '%s', %s, %s, "
        . "'2026-02-01T00:00:00Z'::timestamptz + interval '%d hours')",
        $i, $names[$i - 1], $last, $i, $status, $company, $tags, $i));
}

# statuses: 1,4,7,10 customer; 2,5,8,11 active; 3,6,9,12 lead

no_shuffle();
run_tests();

__DATA__

=== TEST 1: the first page has limit rows, a next cursor and hasMore
--- request
GET /api/v1/contacts?limit=5
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
--- error_code: 200
--- json_names: Ken John Ivan Hedy Grace
--- response_body_like: "limit":5,"cursor":\{"next":"[A-Za-z0-9_-]+","previous":null,"hasMore":true\}

=== TEST 2: maxSize is an alias of limit
--- request
GET /api/v1/contacts?maxSize=2
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
--- error_code: 200
--- json_names: Ken John

=== TEST 3: limit 0 is out of range
--- request
GET /api/v1/contacts?limit=0
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
--- error_code: 400
--- response_body_like: ^\{"error":\{"code":"INVALID_PARAMETER","status":400,"message":"(?:[^"\\]|\\.)+","details":\{"parameter":"limit"

=== TEST 4: limit over 200 is out of range
--- request
GET /api/v1/contacts?limit=201
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
--- error_code: 400
--- response_body_like: "parameter":"limit"

=== TEST 5: limit must be a number
--- request
GET /api/v1/contacts?limit=ten
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
--- error_code: 400
--- response_body_like: "parameter":"limit"

=== TEST 6: an unknown parameter is named, not ignored
--- request
GET /api/v1/contacts?limit=5&colour=blue
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
--- error_code: 400
--- response_body_like: "code":"INVALID_PARAMETER".*"parameter":"colour"

=== TEST 7: equality filter, with count
--- request
GET /api/v1/contacts?status=lead&count=exact
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
--- error_code: 200
--- json_names: Ken Hedy Edsger Barbara
--- json_total: 4

=== TEST 8: in takes a comma list
--- request
GET /api/v1/contacts?status[in]=lead,customer&sort=firstName
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
--- error_code: 200
--- json_names: Ada Barbara Claude Edsger Frances Hedy Ivan Ken

=== TEST 9: nin excludes a list
--- request
GET /api/v1/contacts?status[nin]=lead,customer&sort=firstName
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
--- error_code: 200
--- json_names: Alan Dennis Grace John

=== TEST 10: ne, written URL-encoded
--- request
GET /api/v1/contacts?status%5Bne%5D=active&sort=firstName&limit=3
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
--- error_code: 200
--- json_names: Ada Barbara Claude

=== TEST 11: like is a case-insensitive substring
--- request
GET /api/v1/contacts?email[like]=USER1&sort=createdAt
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
--- error_code: 200
--- json_names: Ada Ivan John Ken

=== TEST 12: is null and is notnull
--- request
GET /api/v1/contacts?lastName[is]=null&sort=firstName
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
--- error_code: 200
--- json_names: Claude Grace Ken

=== TEST 13: range operators on timestamps
--- request
GET /api/v1/contacts?createdAt[gte]=2026-02-01T03:00:00Z&createdAt[lt]=2026-02-01T06:00:00.000Z
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
--- error_code: 200
--- json_names: Dennis Claude Barbara

=== TEST 14: created_after and created_before shorthands
--- request
GET /api/v1/contacts?created_after=2026-02-01T09:00:00Z&createdBefore=2026-02-01T12:00:00Z
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
--- error_code: 200
--- json_names: John Ivan

=== TEST 15: array fields filter by membership
--- request
GET /api/v1/contacts?tags=vip&status=customer&sort=firstName
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
--- error_code: 200
--- json_names: Ada Frances

=== TEST 16: a filter on a field that does not filter is refused
--- request
GET /api/v1/contacts?customFields=x
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
--- error_code: 400
--- response_body_like: "code":"INVALID_PARAMETER"

=== TEST 17: an operator the field's type does not have is refused
--- request
GET /api/v1/contacts?tags[gt]=vip
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
--- error_code: 400
--- response_body_like: "code":"INVALID_PARAMETER"

=== TEST 18: an unknown operator is refused
--- request
GET /api/v1/contacts?status[regex]=.*
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
--- error_code: 400
--- response_body_like: "code":"INVALID_PARAMETER"

=== TEST 19: a filter value of the wrong type is refused
--- request
GET /api/v1/contacts?createdAt[gt]=yesterday
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
--- error_code: 400
--- response_body_like: "code":"INVALID_PARAMETER"

=== TEST 20: a filter on an id must be a uuid
--- request
GET /api/v1/contacts?companyId=42
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
--- error_code: 400
--- response_body_like: "code":"INVALID_PARAMETER"

=== TEST 21: an enum filter must name a known value
--- request
GET /api/v1/contacts?status=royalty
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
--- error_code: 400
--- response_body_like: "code":"INVALID_PARAMETER"

=== TEST 22: sort by several keys, descending with a minus
--- request
GET /api/v1/contacts?sort=-status,firstName&limit=6
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
--- error_code: 200
--- json_names: Barbara Edsger Hedy Ken Ada Claude

=== TEST 23: sort_by with order
--- request
GET /api/v1/contacts?sort_by=first_name&order=desc&limit=3
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
--- error_code: 200
--- json_names: Ken John Ivan

=== TEST 24: orderBy with order
--- request
GET /api/v1/contacts?orderBy=firstName&order=asc&limit=3
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
--- error_code: 200
--- json_names: Ada Alan Barbara

=== TEST 25: nulls sort last ascending
--- request
GET /api/v1/contacts?sort=lastName,firstName&limit=12
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
--- error_code: 200
--- json_names: Ada Ivan John Alan Barbara Dennis Edsger Frances Hedy Claude Grace Ken

=== TEST 26: sorting on a field that does not sort is refused
--- request
GET /api/v1/contacts?sort=phone
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
--- error_code: 400
--- response_body_like: "parameter":"sort"

=== TEST 27: more than three sort keys are refused
--- request
GET /api/v1/contacts?sort=firstName,lastName,email,status
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
--- error_code: 400
--- response_body_like: "parameter":"sort"

=== TEST 28: fields selects what is rendered; id always comes
--- request
GET /api/v1/contacts?fields=email,firstName&limit=1
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
--- error_code: 200
--- json_keys: email firstName id
--- response_body_like: ^\{"data":\[\{"id":"d0000000-0000-4000-8000-000000000012","firstName":"Ken","email":"user12@Example.org"\}\]

=== TEST 29: select is an alias of fields, in snake_case too
--- request
GET /api/v1/contacts?select=last_name&limit=1
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
--- error_code: 200
--- json_keys: id lastName

=== TEST 30: an unknown field in fields is refused
--- request
GET /api/v1/contacts?fields=email,password
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
--- error_code: 400
--- response_body_like: "parameter":"fields"

=== TEST 31: count=exact counts all matches, not the page
--- request
GET /api/v1/contacts?count=exact&limit=2
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
--- error_code: 200
--- json_total: 12
--- json_names: Ken John

=== TEST 31b: count=estimated is PostgreSQL's estimate of the filtered rows
--- sql
ANALYZE contacts;
--- request
GET /api/v1/contacts?count=estimated&status=customer&limit=1
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
--- error_code: 200
--- response_body_like: "total":[2-6]\}\}$

=== TEST 32: count takes exact or estimated only
--- request
GET /api/v1/contacts?count=maybe
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
--- error_code: 400
--- response_body_like: "parameter":"count"

=== TEST 33: offset paging
--- request
GET /api/v1/contacts?offset=2&limit=3
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
--- error_code: 200
--- json_names: Ivan Hedy Grace

=== TEST 34: page paging is 1-based
--- request
GET /api/v1/contacts?page=2&limit=5
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
--- error_code: 200
--- json_names: Frances Edsger Dennis Claude Barbara

=== TEST 35: page 0 is refused
--- request
GET /api/v1/contacts?page=0
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
--- error_code: 400
--- response_body_like: "parameter":"page"

=== TEST 36: a forged cursor is refused
--- request
GET /api/v1/contacts?cursor=eyJpZCI6ImEwMDAwMDAwIn0
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
--- error_code: 400
--- response_body_like: "parameter":"cursor"

=== TEST 37: filter, sort and fields together
--- request
GET /api/v1/contacts?status[in]=active,lead&tags=vip&sort=-firstName&fields=firstName,status&count=exact
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
--- error_code: 200
--- json_names: John Hedy Dennis Barbara
--- json_total: 4
--- json_keys: firstName id status

=== TEST 38: full-text q searches names and emails
--- request
GET /api/v1/contacts?q=grac
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
--- error_code: 200
--- json_names: Grace

=== TEST 39: a company's contacts are a paginated list
--- request
GET /api/v1/companies/c0000000-0000-4000-8000-00000000000a/contacts?limit=2&count=exact
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
--- error_code: 200
--- json_names: Barbara Alan
--- json_total: 3
--- response_body_like: "hasMore":true

=== TEST 40: a company's contacts filter like any list
--- request
GET /api/v1/companies/c0000000-0000-4000-8000-00000000000a/contacts?status=customer
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
--- error_code: 200
--- json_names: Ada

=== TEST 41: another workspace's company has no contacts to show
--- request
GET /api/v1/companies/c0000000-0000-4000-8000-00000000000b/contacts
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
--- error_code: 404
--- response_body_like: "code":"RESOURCE_NOT_FOUND"

=== TEST 42: an unknown sub-collection is 404
--- request
GET /api/v1/companies/c0000000-0000-4000-8000-00000000000a/invoices
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
--- error_code: 404
--- response_body_like: "code":"RESOURCE_NOT_FOUND"

=== TEST 43: a filter on another workspace's id finds nothing
--- request
GET /api/v1/contacts?companyId=c0000000-0000-4000-8000-00000000000b&count=exact
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
--- error_code: 200
--- json_total: 0
--- response_body_like: ^\{"data":\[\],

=== TEST 44: a repeated scalar parameter is refused
--- request
GET /api/v1/contacts?limit=2&limit=3
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
--- error_code: 400
--- response_body_like: "parameter":"limit"

=== TEST 45: cursor and offset cannot be mixed
--- request
GET /api/v1/contacts?offset=2&cursor=abc
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
--- error_code: 400
--- response_body_like: "code":"INVALID_PARAMETER"

=== TEST 46: a timestamp with an offset and a microsecond, bound in binary
Barbara was created at 03:00:00 exactly: the microsecond leaves her out.
--- request
GET /api/v1/contacts?createdAt[gte]=2026-02-01T08:30:00.000001%2B05:30&createdAt[lte]=2026-02-01T01:00:00-05:00
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
--- error_code: 200
--- json_names: Edsger Dennis Claude

=== TEST 47: a time without an offset is UTC; a date is its midnight
--- request
GET /api/v1/contacts?createdAt[gte]=2026-02-01&createdAt[lt]=2026-02-01T03:00&sort=createdAt
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
--- error_code: 200
--- json_names: Ada Alan

=== TEST 48: a fraction finer than a microsecond is rounded, as PostgreSQL does
The text is bound as it is: 02:59:59.9999999 is read as 03:00:00, and
"gt" leaves Barbara, created then, out.
--- request
GET /api/v1/contacts?createdAt[gt]=2026-02-01T02:59:59.9999999Z&createdAt[lt]=2026-02-01T05:00:00Z
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
--- error_code: 200
--- json_names: Claude

=== TEST 49: a uuid filter of upper case, bound in binary
--- request
GET /api/v1/contacts?companyId=C0000000-0000-4000-8000-00000000000A&sort=firstName
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
--- error_code: 200
--- json_names: Ada Alan Barbara

=== TEST 50: count=estimated with filters bound in binary
The estimate's statement carries its parameters as text.
--- request
GET /api/v1/contacts?count=estimated&createdAt[gte]=2026-02-01T03:00:00Z&companyId=c0000000-0000-4000-8000-00000000000a&limit=1
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
--- error_code: 200
--- response_body_like: "total":\d+\}\}$

=== TEST 51: the conninfo's options cannot change the session's time zone or date style
The module's TimeZone=UTC and DateStyle=ISO,YMD come after the
conninfo's own options: a record still renders, and a time without an
offset still means UTC.
--- http_config
    crm_postgres "$TEST_NGINX_PG_DSN options='-c DateStyle=SQL,DMY -c TimeZone=Asia/Tokyo'";
    crm_jobs off;
    crm_api_key test-key-a-0123456789abcdef 11111111-1111-4111-8111-111111111111;
--- request
GET /api/v1/contacts/d0000000-0000-4000-8000-000000000001
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
--- error_code: 200
--- response_body_like: "createdAt":"2026-02-01T01:00:00\.000Z"

=== TEST 52: the same options: a filter without an offset still means UTC
--- http_config
    crm_postgres "$TEST_NGINX_PG_DSN options='-c TimeZone=Asia/Tokyo'";
    crm_jobs off;
    crm_api_key test-key-a-0123456789abcdef 11111111-1111-4111-8111-111111111111;
--- request
GET /api/v1/contacts?createdAt[lt]=2026-02-01T02:30&count=exact
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
--- error_code: 200
--- json_names: Alan Ada
--- json_total: 2

=== TEST 53: a time compares as it is rendered, to the millisecond: createdAt= a record's createdAt finds it
Mu is stored with microseconds (.123456) and rendered .123.
--- sql
INSERT INTO contacts (workspace_id, id, first_name, email, status,
                      created_at, updated_at)
VALUES ('11111111-1111-4111-8111-111111111111',
        'd0000000-0000-4000-8000-000000000099', 'Mu', 'mu@example.org',
        'lead', '2026-03-01T00:00:00.123456Z',
        '2026-03-01T00:00:05.000999Z');
--- request
GET /api/v1/contacts?createdAt=2026-03-01T00:00:00.123Z
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
--- error_code: 200
--- json_names: Mu
--- response_body_like: "createdAt":"2026-03-01T00:00:00\.123Z","updatedAt":"2026-03-01T00:00:05\.000Z"

=== TEST 54: updated_after= the last record's updatedAt does not return that record again
--- request
GET /api/v1/contacts?updated_after=2026-03-01T00:00:05.000Z&updatedAt[lt]=2026-04-01T00:00:00Z
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
--- error_code: 200
--- response_body_like: ^\{"data":\[\],

=== TEST 55: gte and lte include the rendered millisecond
--- request
GET /api/v1/contacts?updatedAt[gte]=2026-03-01T00:00:05.000Z&updatedAt[lte]=2026-03-01T00:00:05Z
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
--- error_code: 200
--- json_names: Mu

=== TEST 56: a bound finer than a millisecond compares with the rendered time: .123 is before .1235
--- request
GET /api/v1/contacts?createdAt[lt]=2026-03-01T00:00:00.1235Z&created_after=2026-03-01T00:00:00.1229Z
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
--- error_code: 200
--- json_names: Mu

=== TEST 57: ... and not at or after .1231
--- request
GET /api/v1/contacts?createdAt[gte]=2026-03-01T00:00:00.1231Z&createdAt[lte]=2026-03-02T00:00:00Z
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
--- error_code: 200
--- response_body_like: ^\{"data":\[\],

=== TEST 58: eq finer than a millisecond matches nothing
--- request
GET /api/v1/contacts?createdAt=2026-03-01T00:00:00.1234Z
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
--- error_code: 200
--- response_body_like: ^\{"data":\[\],

=== TEST 59: in and ne compare the rendered millisecond too
--- request
GET /api/v1/contacts?createdAt[in]=2026-03-01T00:00:00.123Z,2026-01-01T00:00:00Z&createdAt[ne]=2026-03-01T00:00:00.124Z
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
--- error_code: 200
--- json_names: Mu

=== TEST 60: ne leaves the rendered millisecond out, nin too
--- request
GET /api/v1/contacts?createdAt[ne]=2026-03-01T00:00:00.123Z&createdAt[gte]=2026-03-01T00:00:00Z
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
--- error_code: 200
--- response_body_like: ^\{"data":\[\],

=== TEST 61: nin
--- request
GET /api/v1/contacts?createdAt[nin]=2026-03-01T00:00:00.123Z&createdAt[gte]=2026-03-01T00:00:00Z
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
--- error_code: 200
--- response_body_like: ^\{"data":\[\],
