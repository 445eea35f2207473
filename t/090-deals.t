# Pipelines and deals: stages belong to their pipeline, probabilities
# default from the stage, money and currency are checked.

use strict;
use warnings;

use Test::Nginx::Socket 'no_plan';
use CRM::Test;

my $A = $CRM::Test::WS_A;
my $B = $CRM::Test::WS_B;

CRM::Test::reset();
CRM::Test::sql(<<"_SQL_");
INSERT INTO pipelines (workspace_id, id, name, stages, created_at) VALUES
 ('$A', 'b1000000-0000-4000-8000-000000000001', 'Sales',
  '[{"name":"Lead","probability":10},{"name":"Proposal","probability":50},
    {"name":"Won","probability":100}]', '2026-01-01T00:00:00Z'),
 ('$B', 'b1000000-0000-4000-8000-000000000002', 'Theirs',
  '[{"name":"Lead","probability":10}]', '2026-01-01T00:00:00Z');
INSERT INTO companies (workspace_id, id, name) VALUES
 ('$A', 'c0000000-0000-4000-8000-00000000000a', 'Acme');
INSERT INTO deals (workspace_id, id, name, amount, currency, pipeline_id,
                   stage, company_id, created_at) VALUES
 ('$A', 'd1000000-0000-4000-8000-000000000001', 'Big one', 50000, 'EUR',
  'b1000000-0000-4000-8000-000000000001', 'Proposal',
  'c0000000-0000-4000-8000-00000000000a', '2026-01-02T00:00:00Z'),
 ('$A', 'd1000000-0000-4000-8000-000000000002', 'Small one', 500, 'USD',
  'b1000000-0000-4000-8000-000000000001', 'Lead', NULL,
  '2026-01-03T00:00:00Z');
_SQL_

no_shuffle();
run_tests();

__DATA__

=== TEST 1: a deal takes its stage's probability
--- request
POST /api/v1/deals
{"name":"New deal","amount":1200.5,"currency":"EUR","pipelineId":"b1000000-0000-4000-8000-000000000001","stage":"Proposal","closeDate":"2026-03-31"}
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json
--- error_code: 201
--- response_body_like: "name":"New deal","amount":1200.5,"currency":"EUR","pipelineId":"b1000000-0000-4000-8000-000000000001","stage":"Proposal","probability":50,"closeDate":"2026-03-31","status":"open"

=== TEST 2: a stage must belong to the deal's pipeline
--- request
POST /api/v1/deals
{"name":"Bad stage","pipelineId":"b1000000-0000-4000-8000-000000000001","stage":"Negotiation"}
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json
--- error_code: 422
--- response_body_like: "field":"stage","code":"invalid_value"

=== TEST 3: another workspace's pipeline is not a pipeline here
--- request
POST /api/v1/deals
{"name":"Foreign","pipelineId":"b1000000-0000-4000-8000-000000000002","stage":"Lead"}
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json
--- error_code: 422
--- response_body_like: "field":"(stage|pipelineId)"

=== TEST 4: a currency is an ISO 4217 code
--- request
POST /api/v1/deals
{"name":"Pesos?","amount":10,"currency":"eur"}
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json
--- error_code: 422
--- response_body_like: "field":"currency","code":"invalid_value"

=== TEST 5: an amount cannot be negative
--- request
POST /api/v1/deals
{"name":"Refund","amount":-5}
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json
--- error_code: 422
--- response_body_like: "field":"amount","code":"invalid_value"

=== TEST 6: status is open, won or lost
--- request
PATCH /api/v1/deals/d1000000-0000-4000-8000-000000000001
{"status":"maybe"}
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json
--- error_code: 422
--- response_body_like: "field":"status","code":"invalid_value"

=== TEST 7: moving to another stage takes its probability
--- request
PATCH /api/v1/deals/d1000000-0000-4000-8000-000000000002
{"stage":"Won","status":"won"}
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json
--- error_code: 200
--- response_body_like: "stage":"Won","probability":100,.*"status":"won"

=== TEST 8: deals filter by amount and sort
--- request
GET /api/v1/deals?amount[gte]=1000&sort=-amount&fields=name,amount
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
--- error_code: 200
--- json_names: Big one New deal

=== TEST 9: a pipeline's deals
--- request
GET /api/v1/pipelines/b1000000-0000-4000-8000-000000000001/deals?stage=Won
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
--- error_code: 200
--- json_names: Small one

=== TEST 10: a company's deals
--- request
GET /api/v1/companies/c0000000-0000-4000-8000-00000000000a/deals
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
--- error_code: 200
--- json_names: Big one

=== TEST 11: a pipeline's stages are a list of name and probability
--- request
POST /api/v1/pipelines
{"name":"Partners","stages":[{"name":"Intro","probability":5},{"name":"Signed"}]}
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json
--- error_code: 422
--- response_body_like: "field":"stages","code":"invalid_value"

=== TEST 12: stages must be an array
--- request
POST /api/v1/pipelines
{"name":"Partners","stages":{"Intro":5}}
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json
--- error_code: 422
--- response_body_like: "field":"stages","code":"invalid_type"

=== TEST 13: a valid pipeline
--- request
POST /api/v1/pipelines
{"name":"Partners","stages":[{"name":"Intro","probability":5},{"name":"Signed","probability":100}]}
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json
--- error_code: 201
--- response_body_like: "name":"Partners","stages":\[\{"name":"Intro","probability":5\},\{"name":"Signed","probability":100\}\]

=== TEST 14: scopes name deals and pipelines
--- request
GET /api/v1/deals
--- more_headers
X-API-Key: test-key-b-0123456789abcdef
--- error_code: 200
--- response_body_like: ^\{"data":\[\],

=== TEST 15: a deleted company is not a company to refer to
--- sql
INSERT INTO companies (workspace_id, id, name, deleted_at) VALUES
 ('11111111-1111-4111-8111-111111111111',
  'c0000000-0000-4000-8000-0000000000de', 'Gone', now());
--- request
POST /api/v1/deals
{"name":"To the gone","companyId":"c0000000-0000-4000-8000-0000000000de"}
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json
--- error_code: 422
--- response_body_like: "field":"companyId","code":"not_found"

=== TEST 16: nor for a contact
--- request
POST /api/v1/contacts
{"email":"gone@deals.test","companyId":"c0000000-0000-4000-8000-0000000000de"}
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json
--- error_code: 422
--- response_body_like: "field":"companyId","code":"not_found"

=== TEST 17: a deleted pipeline is not a pipeline to put a deal in
--- sql
INSERT INTO pipelines (workspace_id, id, name, stages, deleted_at) VALUES
 ('11111111-1111-4111-8111-111111111111',
  'b1000000-0000-4000-8000-0000000000de', 'Gone',
  '[{"name":"Lead","probability":10}]', now());
--- request
POST /api/v1/deals
{"name":"In the gone","pipelineId":"b1000000-0000-4000-8000-0000000000de"}
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json
--- error_code: 422
--- response_body_like: "field":"pipelineId","code":"not_found"

=== TEST 18: a pipeline with deals is not deleted
--- request
DELETE /api/v1/pipelines/b1000000-0000-4000-8000-000000000001
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
--- error_code: 409
--- response_body_like: "code":"INVALID_STATE",.*"message":"the pipeline has deals: move or delete them first"

=== TEST 19: a deal whose pipeline lost its stage still takes other changes
--- sql
UPDATE pipelines SET stages = '[{"name":"Other","probability":1}]'
 WHERE id = 'b1000000-0000-4000-8000-000000000001';
--- request
PATCH /api/v1/deals/d1000000-0000-4000-8000-000000000001
{"name":"Big one, renamed"}
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json
--- error_code: 200
--- response_body_like: "name":"Big one, renamed",.*"stage":"[A-Za-z]+"

=== TEST 20: and its probability may be cleared (not its stage's to give now)
--- request
PATCH /api/v1/deals/d1000000-0000-4000-8000-000000000001
{"probability":null}
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json
--- error_code: 200
--- response_body_like: "name":"Big one, renamed",.*"probability":null


=== TEST 21: a stage's probability is a whole number
--- request
POST /api/v1/pipelines
{"name":"Fractions","stages":[{"name":"Half","probability":5.5}]}
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json
--- error_code: 422
--- response_body_like: "field":"stages","code":"invalid_value"

=== TEST 22: written as one: 100.0 is not
--- request
POST /api/v1/pipelines
{"name":"Fractions","stages":[{"name":"All","probability":100.0}]}
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json
--- error_code: 422
--- response_body_like: "field":"stages","code":"invalid_value"

=== TEST 23: a stage's name fits a deal's stage (100 characters)
--- request
POST /api/v1/pipelines
{"name":"Long","stages":[{"name":"sssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssss","probability":10}]}
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json
--- error_code: 422
--- response_body_like: "field":"stages","code":"invalid_value"

=== TEST 24: and is not only spaces
--- request
POST /api/v1/pipelines
{"name":"Blank","stages":[{"name":"   ","probability":10}]}
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json
--- error_code: 422
--- response_body_like: "field":"stages","code":"invalid_value"

=== TEST 25: 1e2 is no integer either, as for a deal's own probability
--- request
POST /api/v1/pipelines
{"name":"Exp","stages":[{"name":"Done","probability":1e2}]}
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json
--- error_code: 422
--- response_body_like: "field":"stages","code":"invalid_value"

=== TEST 26: the rules take what they must: 0, 100 and a name of 100
--- request
POST /api/v1/pipelines
{"name":"Edges","stages":[{"name":"None","probability":0},{"name":"ssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssss","probability":100}]}
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json
--- error_code: 201
--- response_body_like: "probability":0\},\{"name":"s{100}","probability":100\}

=== TEST 27: a probability sent with a stage move is kept, even when it is the old one
--- sql
INSERT INTO pipelines (workspace_id, id, name, stages) VALUES
 ('11111111-1111-4111-8111-111111111111',
  'b1000000-0000-4000-8000-000000000027', 'Sales again',
  '[{"name":"Lead","probability":10},{"name":"Proposal","probability":50},
    {"name":"Won","probability":100}]');
INSERT INTO deals (workspace_id, id, name, pipeline_id, stage, probability)
VALUES ('11111111-1111-4111-8111-111111111111',
        'd1000000-0000-4000-8000-000000000027', 'Steady',
        'b1000000-0000-4000-8000-000000000027', 'Lead', 40);
--- request
PATCH /api/v1/deals/d1000000-0000-4000-8000-000000000027
{"stage":"Won","probability":40}
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json
--- error_code: 200
--- response_body_like: "stage":"Won","probability":40,

=== TEST 28: a move without one takes the new stage's
--- request
PATCH /api/v1/deals/d1000000-0000-4000-8000-000000000027
{"stage":"Proposal"}
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json
--- error_code: 200
--- response_body_like: "stage":"Proposal","probability":50,

=== TEST 29: a probability of its own ...
--- request
PATCH /api/v1/deals/d1000000-0000-4000-8000-000000000027
{"probability":33}
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json
--- error_code: 200
--- response_body_like: "stage":"Proposal","probability":33,

=== TEST 30: ... stays when the stage sent is the one the deal is in
--- request
PATCH /api/v1/deals/d1000000-0000-4000-8000-000000000027
{"stage":"Proposal","name":"Steady, renamed"}
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json
--- error_code: 200
--- response_body_like: "name":"Steady, renamed",.*"stage":"Proposal","probability":33,

=== TEST 31: another pipeline's stage of the same name is another stage: its probability
--- sql
INSERT INTO pipelines (workspace_id, id, name, stages) VALUES
 ('11111111-1111-4111-8111-111111111111',
  'b1000000-0000-4000-8000-000000000031', 'Renewals',
  '[{"name":"Proposal","probability":70}]');
--- request
PATCH /api/v1/deals/d1000000-0000-4000-8000-000000000027
{"pipelineId":"b1000000-0000-4000-8000-000000000031"}
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json
--- error_code: 200
--- response_body_like: "pipelineId":"b1000000-0000-4000-8000-000000000031","stage":"Proposal","probability":70,

=== TEST 32: clearing the stage keeps the probability: nothing to derive another from
--- request
PATCH /api/v1/deals/d1000000-0000-4000-8000-000000000027
{"stage":null}
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json
--- error_code: 200
--- response_body_like: "stage":null,"probability":70,

=== TEST 33: unless one is sent with it
--- request
PATCH /api/v1/deals/d1000000-0000-4000-8000-000000000027
{"stage":"Proposal","probability":12}
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json
--- error_code: 200
--- response_body_like: "stage":"Proposal","probability":12,

=== TEST 34: a deal's ranges are reported together, with every other invalid field
--- request
POST /api/v1/deals
{"name":"Bad","amount":-1,"currency":"eur","probability":101,"closeDate":"tomorrow"}
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json
--- error_code: 422
--- response_body_like: "fields":\[\{"field":"amount","code":"invalid_value","message":"must not be negative"\},\{"field":"currency","code":"invalid_value","message":"must be an ISO 4217 code: three capital letters"\},\{"field":"probability","code":"invalid_value","message":"must be between 0 and 100"\},\{"field":"closeDate","code":"invalid_format"

=== TEST 35: the edges of the ranges are taken
--- request
POST /api/v1/deals
{"name":"Edges","amount":0,"currency":"JPY","probability":0}
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json
--- error_code: 201
--- response_body_like: "amount":0,"currency":"JPY",.*"probability":0,

=== TEST 36: a negative probability, an amount below zero written as a real
--- request
PATCH /api/v1/deals/d1000000-0000-4000-8000-000000000027
{"amount":-0.01,"probability":-1}
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json
--- error_code: 422
--- response_body_like: "fields":\[\{"field":"amount","code":"invalid_value","message":"must not be negative"\},\{"field":"probability","code":"invalid_value","message":"must be between 0 and 100"\}\]

=== TEST 37: a deal without a stage keeps its probability when its pipeline changes
--- sql
INSERT INTO deals (workspace_id, id, name, probability)
VALUES ('11111111-1111-4111-8111-111111111111',
        'd1000000-0000-4000-8000-000000000037', 'Stageless', 30);
--- request
PATCH /api/v1/deals/d1000000-0000-4000-8000-000000000037
{"pipelineId":"b1000000-0000-4000-8000-000000000027"}
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json
--- error_code: 200
--- response_body_like: "pipelineId":"b1000000-0000-4000-8000-000000000027","stage":null,"probability":30,
