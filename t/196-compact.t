# Every answer of the API is compact JSON: no white space between tokens,
# whoever made it (a record rendered in the worker from its columns, a
# row or an object PostgreSQL built with json_build_object(), a jsonb
# column, an error, a list, an action's result, analytics).  White space
# inside strings stays as it is.

use strict;
use warnings;

use Test::Nginx::Socket 'no_plan';
use Test::More;
use CRM::Test qw(sql);

my $A = $CRM::Test::WS_A;

CRM::Test::reset();
sql(<<"_SQL_");
INSERT INTO custom_fields (workspace_id, object, name, type) VALUES
 ('$A', 'contacts', 'note', 'text'), ('$A', 'contacts', 'n', 'number');
INSERT INTO pipelines (workspace_id, id, name, stages) VALUES
 ('$A', 'b1960000-0000-4000-8000-000000000001', 'Sales',
  '[{"name": "Lead in", "probability": 10}]');
INSERT INTO contacts (workspace_id, id, email, first_name, tags,
                      custom_fields) VALUES
 ('$A', 'a1960000-0000-4000-8000-000000000001', 'ann\@compact.test',
  'Ann Lee', '{"a b",c}', '{"note": "x, y: z", "n": 2}');
INSERT INTO deals (workspace_id, id, name, contact_ids) VALUES
 ('$A', 'd1960000-0000-4000-8000-000000000001', 'Deal, one', '{}');
INSERT INTO leads (workspace_id, id, first_name, email, company_name) VALUES
 ('$A', 'e1960000-0000-4000-8000-000000000001', 'Lin', 'lin\@compact.test',
  'Lead Co');
_SQL_

Test::Nginx::Socket::add_block_preprocessor(sub {
    my $block = shift;
    my $h = $block->more_headers // '';
    $h = "X-API-Key: $CRM::Test::KEY_A\n$h" unless $h =~ /^X-API-Key:/m;
    $block->set_value('more_headers', "Content-Type: application/json\n$h");
});

# the body without its strings has no white space
Test::Nginx::Socket::add_response_body_check(sub {
    my ($block, $body, $req_idx, $repeated, $dry_run) = @_;

    return if $dry_run;

    (my $tokens = $body) =~ s/"(?:[^"\\]|\\.)*"/""/gs;
    my ($ws) = $tokens =~ /(.{0,20}\s.{0,20})/s;
    ok(!defined $ws && $body =~ /\A[\[{]/, $block->name . ' - compact JSON'
                                             . (defined $ws ? " ($ws)" : ''));
});

no_shuffle();
run_tests();

__DATA__

=== TEST 1: a create
--- request
POST /api/v1/contacts
{"email":"new@compact.test","firstName":"Bo Ray","tags":["x y","z"]}
--- error_code: 201
--- response_body_like: "firstName":"Bo Ray",.*"tags":\["x y","z"\],"customFields":\{\},

=== TEST 2: an update
--- request
PATCH /api/v1/contacts/a1960000-0000-4000-8000-000000000001
{"title":"Chief, of: things"}
--- error_code: 200
--- response_body_like: "title":"Chief, of: things",.*"customFields":\{"n":2,"note":"x, y: z"\}

=== TEST 3: a read
--- request
GET /api/v1/contacts/a1960000-0000-4000-8000-000000000001
--- error_code: 200
--- response_body_like: "tags":\["a b","c"\],"customFields":\{"n":2,"note":"x, y: z"\}

=== TEST 4: a list
--- request
GET /api/v1/contacts?limit=5&sort=email
--- error_code: 200
--- response_body_like: ^\{"data":\[\{"id":

=== TEST 5: a jsonb object in a create's answer
--- request
POST /api/v1/companies
{"name":"Umbrella","address":{"city":"Raccoon City","street":"1 Main St"}}
--- error_code: 201
--- response_body_like: "address":\{"city":"Raccoon City","street":"1 Main St"\}

=== TEST 6: a jsonb list
--- request
POST /api/v1/pipelines
{"name":"Partners","stages":[{"name":"Intro call","probability":5},{"name":"Won","probability":100}]}
--- error_code: 201
--- response_body_like: "stages":\[\{"name":"Intro call","probability":5\},\{"name":"Won","probability":100\}\]

=== TEST 7: a link
--- request
POST /api/v1/deals/d1960000-0000-4000-8000-000000000001/contacts
{"id":"a1960000-0000-4000-8000-000000000001"}
--- error_code: 200
--- response_body_like: "name":"Deal, one",.*"contactIds":\["a1960000-0000-4000-8000-000000000001"\]

=== TEST 8: an action's result, made by a SQL function
--- request
POST /api/v1/leads/e1960000-0000-4000-8000-000000000001/convert
{}
--- error_code: 200
--- response_body_like: ^\{"data":\{"dealId":

=== TEST 9: an API key with its secret first
--- request
POST /api/v1/api-keys
{"name":"compact key","scopes":["contacts:read"]}
--- error_code: 201
--- response_body_like: ^\{"data":\{"key":"crmk_[0-9a-f]{40}","id":"[0-9a-f-]{36}","name":"compact key",

=== TEST 10: the event feed: the events' jsonb data
--- request
GET /api/v1/events?limit=3
--- error_code: 200
--- response_body_like: "data":\{"object":\{"id":"

=== TEST 11: a campaign
--- request
POST /api/v1/campaigns
{"name":"Spring, sale","subject":"Hi {{firstName|there}}","text":"Hello there","audience":{"tags":["a b"]}}
--- error_code: 201
--- response_body_like: "name":"Spring, sale",.*"audience":\{"tags":\["a b"\]\}

=== TEST 12: an email queued
--- request
POST /api/v1/emails/send
{"to":"x@mail.test","subject":"Hi, you","text":"Hello there"}
--- error_code: 202
--- response_body_like: "subject":"Hi, you",.*"status":"queued"

=== TEST 13: analytics, made by a SQL function
--- request
GET /api/v1/analytics/emails?from=2020-01-01T00:00:00Z&to=2020-01-01T03:00:00Z&interval=hour
--- error_code: 200
--- response_body_like: "series":\[\{"start":"2020-01-01T00:00:00.000Z","sent":0,

=== TEST 14: a contact's analytics
--- request
GET /api/v1/analytics/contacts/a1960000-0000-4000-8000-000000000001
--- error_code: 200
--- response_body_like: "emails":0,"totals":\{

=== TEST 15: a bulk
--- request
POST /api/v1/contacts/bulk
{"operations":[{"method":"create","data":{"email":"b1@compact.test","lastName":"Van Dyke"}},{"method":"create","data":{"email":"bad"}}]}
--- error_code: 207
--- response_body_like: "lastName":"Van Dyke"

=== TEST 16: search
--- request
GET /api/v1/search?q=ann%20lee
--- error_code: 200
--- response_body_like: "type":"contacts","score":

=== TEST 17: metadata
--- request
GET /api/v1/metadata/objects/contacts
--- error_code: 200
--- response_body_like: ^\{"data":\{

=== TEST 18: an error about the body
--- request
POST /api/v1/contacts
{"email": 
--- error_code: 400
--- response_body_like: "code":"INVALID_JSON"

=== TEST 19: a validation error
--- request
POST /api/v1/contacts
{"email":"not an address"}
--- error_code: 422
--- response_body_like: "code":"VALIDATION_FAILED"

=== TEST 20: health
--- request
GET /api/v1/health
--- error_code: 200
--- response_body_like: ^\{"data":\{"status":"ok"
