# Custom fields: admins define them per resource (name, type, options,
# required); customFields values are checked against the definitions on
# every write path; they can be filtered and sorted on; the metadata
# shows them; each workspace has its own.

use strict;
use warnings;

use Test::Nginx::Socket 'no_plan';
use Test::More;
use JSON::PP;
use CRM::Test qw(sql api);

my $A = $CRM::Test::WS_A;
my $B = $CRM::Test::WS_B;
my %K = %CRM::Test::KEYS;
my $KA = $CRM::Test::KEY_A;

CRM::Test::reset();
CRM::Test::stored_key($K{read_a}, $A, '{contacts:write,contacts:read}');
sql(<<"_SQL_");
INSERT INTO custom_fields (workspace_id, object, name, type, options) VALUES
 ('$A', 'contacts', 'tier', 'select', '["gold","silver"]');
INSERT INTO contacts (workspace_id, email, first_name, custom_fields) VALUES
 ('$A', 'low\@a.test', 'Low', '{"tier":"silver"}'),
 ('$A', 'none\@a.test', 'None', '{}');
_SQL_

add_block_preprocessor(sub {
    my $block = shift;
    my $h = $block->more_headers // '';
    $h = "X-API-Key: $KA\n$h" unless $h =~ /^X-API-Key:/m;
    $block->set_value('more_headers', "Content-Type: application/json\n$h");
});

my %AFTER = (
    'TEST 38:' => sub {
        # silver leaves the options; Low keeps it, and is found by it
        my ($s, $d) = api('GET', '/api/v1/custom-fields?name=tier', $KA);
        my $id = $d->{data}[0]{id};
        ($s) = api('PATCH', "/api/v1/custom-fields/$id", $KA,
                   '{"options":["gold","platinum"]}');
        is($s, 200, 'the options change');
        ($s, $d) = api('GET', '/api/v1/contacts?customFields.tier=silver',
                       $KA);
        is($s . ' ' . join(',', map { $_->{firstName} } @{ $d->{data} || [] }),
           '200 Low', 'a value the options lost still finds its records');
        ($s, $d) = api('GET', '/api/v1/contacts?customFields.tier[in]='
                       . 'silver,bronze', $KA);
        is($s . ' ' . join(',', map { $_->{firstName} } @{ $d->{data} || [] }),
           '200 Low', 'in a list too');
    },
    'TEST 17:' => sub {
        # a definition's id, then what may change about it
        my ($s, $d) = api('GET', '/api/v1/custom-fields?name=budget', $KA);
        my $id = $d->{data}[0]{id};
        ok($id, 'the definition is a custom-fields record');
        ($s, $d) = api('PATCH', "/api/v1/custom-fields/$id", $KA,
                       '{"type":"text"}');
        is($s, 422, 'its type is set at creation only');
        is($d->{error}{details}{fields}[0]{code}, 'read_only', '... read_only');
        ($s, $d) = api('PATCH', "/api/v1/custom-fields/$id", $KA,
                       '{"label":"Yearly budget","required":false}');
        is($s, 200, 'its label can change');
        ($s) = api('GET', "/api/v1/custom-fields/$id", $CRM::Test::KEY_B);
        is($s, 404, "another workspace does not see it");

        # a cursor walk on a custom field
        my @seen;
        my $url = '/api/v1/contacts?sort=customFields.budget,id&limit=1'
                  . '&customFields.budget[gte]=1';
        for (1 .. 5) {
            ($s, $d) = api('GET', $url, $KA);
            last unless $s == 200 && @{ $d->{data} };
            push @seen, $d->{data}[0]{customFields}{budget};
            my $next = $d->{meta}{cursor}{next} or last;
            $url = '/api/v1/contacts?sort=customFields.budget,id&limit=1'
                   . "&customFields.budget[gte]=1&cursor=$next";
        }
        is(join(',', @seen), '250,5000', 'a cursor walks a custom-field sort');

        # deleting the definition: the key is no longer accepted
        ($s) = api('DELETE', "/api/v1/custom-fields/$id", $KA);
        is($s, 204, 'a definition can be deleted');
        ($s, $d) = api('POST', '/api/v1/contacts', $KA,
                       '{"email":"after@a.test","customFields":{"budget":1}}');
        is($s, 422, 'its key is then unknown');
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

=== TEST 1: an admin defines a number field on contacts
--- request
POST /api/v1/metadata/objects/contacts/fields
{"name":"budget","type":"number","label":"Budget"}
--- error_code: 201
--- response_body_like: "object":"contacts","name":"budget","label":"Budget","type":"number","options":\[\],"required":false

=== TEST 2: a select needs options
--- request
POST /api/v1/metadata/objects/contacts/fields
{"name":"size","type":"select"}
--- error_code: 422
--- response_body_like: "field":"options","code":"invalid_value"

=== TEST 3: options are distinct strings
--- request
POST /api/v1/metadata/objects/contacts/fields
{"name":"size","type":"select","options":["s","s"]}
--- error_code: 422
--- response_body_like: "field":"options"

=== TEST 4: only a select has options
--- request
POST /api/v1/metadata/objects/contacts/fields
{"name":"size","type":"text","options":["s"]}
--- error_code: 422
--- response_body_like: "field":"options"

=== TEST 5: a name is an identifier
--- request
POST /api/v1/metadata/objects/contacts/fields
{"name":"1 bad'name","type":"text"}
--- error_code: 422
--- response_body_like: "field":"name","code":"invalid_value"

=== TEST 6: a name is unique per resource
--- request
POST /api/v1/metadata/objects/contacts/fields
{"name":"tier","type":"text"}
--- error_code: 409
--- response_body_like: "DUPLICATE".*"field":"name"

=== TEST 7: the type is one of five
--- request
POST /api/v1/metadata/objects/contacts/fields
{"name":"colour","type":"color"}
--- error_code: 422
--- response_body_like: "field":"type","code":"invalid_value"

=== TEST 8: the path names the object
--- request
POST /api/v1/metadata/objects/contacts/fields
{"name":"colour","type":"text","object":"companies"}
--- error_code: 422
--- response_body_like: "field":"object","code":"invalid_value"

=== TEST 9: resources without customFields have no custom fields
--- request
POST /api/v1/metadata/objects/users/fields
{"name":"colour","type":"text"}
--- error_code: 404

=== TEST 10: a key without the custom-fields scope may not define them
--- request
POST /api/v1/metadata/objects/contacts/fields
{"name":"colour","type":"text"}
--- more_headers eval
"X-API-Key: $CRM::Test::KEYS{read_a}"
--- error_code: 403

=== TEST 11: a value of the wrong type
--- request
POST /api/v1/contacts
{"email":"bad1@a.test","customFields":{"budget":"lots"}}
--- error_code: 422
--- response_body_like: "field":"customFields.budget","code":"invalid_type","message":"must be a number"

=== TEST 12: a value outside a select's options
--- request
POST /api/v1/contacts
{"email":"bad2@a.test","customFields":{"tier":"bronze"}}
--- error_code: 422
--- response_body_like: "field":"customFields.tier","code":"invalid_value"

=== TEST 13: an undefined key
--- request
POST /api/v1/contacts
{"email":"bad3@a.test","customFields":{"budget":1,"nope":true}}
--- error_code: 422
--- response_body_like: "field":"customFields.nope","code":"unknown_field"

=== TEST 14: good values; nulls are dropped
--- request
POST /api/v1/contacts
{"email":"rich@a.test","firstName":"Rich","customFields":{"budget":5000,"tier":"gold","x":null}}
--- error_code: 201
--- response_body_like: "customFields":\{"tier":"gold","budget":5000\}

=== TEST 15: filter on a custom field
--- sql
UPDATE contacts SET custom_fields = '{"tier":"silver","budget":250}' WHERE email = 'low@a.test';
--- request
GET /api/v1/contacts?customFields.budget[gte]=1000&count=exact
--- error_code: 200
--- json_names: Rich
--- json_total: 1

=== TEST 16: sort on a custom field, and a select filter
--- request
GET /api/v1/contacts?sort=-customFields.budget&customFields.tier[in]=gold,silver
--- error_code: 200
--- json_names: Rich Low

=== TEST 17: definitions are records: patch, walk, delete
--- request
GET /api/v1/contacts?customFields.budget[is]=null
--- error_code: 200
--- json_names: None

=== TEST 18: an unknown custom field in a filter
--- request
GET /api/v1/contacts?customFields.nope=1
--- error_code: 400
--- response_body_like: "parameter":"customFields.nope"

=== TEST 19: a select filter takes a value its options lack (records may still hold one), and finds nobody here
--- request
GET /api/v1/contacts?customFields.tier=bronze
--- error_code: 200
--- response_body_like: ^\{"data":\[\],

=== TEST 20: a required field
--- request
POST /api/v1/metadata/objects/leads/fields
{"name":"region","type":"text","required":true}
--- error_code: 201

=== TEST 21: ... must be there on create
--- request
POST /api/v1/leads
{"email":"l@a.test"}
--- error_code: 422
--- response_body_like: "field":"customFields.region","code":"required"

=== TEST 22: ... and in bulk, per operation
--- request
POST /api/v1/leads/bulk
{"operations":[{"method":"create","data":{"email":"l1@a.test","customFields":{"region":"EU"}}},{"method":"create","data":{"email":"l2@a.test"}}]}
--- error_code: 207
--- response_body_like: \{"index":0,"status":201,.*\{"index":1,"status":422,.*"field":"customFields.region","code":"required"

=== TEST 23: the metadata shows a resource's custom fields
--- request
GET /api/v1/metadata/objects/contacts
--- error_code: 200
--- response_body_like: "customFields":\[\{"name":"tier","label":null,"type":"select","options":\["gold","silver"\],"required":false\}\]

=== TEST 24: the custom fields of one resource
--- request
GET /api/v1/metadata/objects/leads/fields
--- error_code: 200
--- json_names: region

=== TEST 25: another workspace has its own definitions
--- request
POST /api/v1/contacts
{"email":"b1@b.test","customFields":{"tier":"gold"}}
--- more_headers
X-API-Key: test-key-b-0123456789abcdef
--- error_code: 422
--- response_body_like: "field":"customFields.tier","code":"unknown_field"

=== TEST 26: a date field
--- request
POST /api/v1/metadata/objects/deals/fields
{"name":"signedOn","type":"date"}
--- error_code: 201

=== TEST 27: a date that does not exist
--- request
POST /api/v1/deals
{"name":"d1","customFields":{"signedOn":"2026-02-30"}}
--- error_code: 422
--- response_body_like: "field":"customFields.signedOn","code":"invalid_format","message":"must be a date \(YYYY-MM-DD\)"

=== TEST 28: a date with a time
--- request
POST /api/v1/deals
{"name":"d2","customFields":{"signedOn":"2026-02-03T10:00:00Z"}}
--- error_code: 422
--- response_body_like: "field":"customFields.signedOn"

=== TEST 29: a leap day
--- request
POST /api/v1/deals
{"name":"d3","customFields":{"signedOn":"2028-02-29"}}
--- error_code: 201

=== TEST 30: a date filter on it
--- request
GET /api/v1/deals?customFields.signedOn[gte]=2028-01-01&fields=name
--- error_code: 200
--- json_names: d3

=== TEST 31: a boolean field takes only booleans
--- request eval
"POST /api/v1/metadata/objects/companies/fields\n{\"name\":\"partner\",\"type\":\"boolean\"}"
--- error_code: 201

=== TEST 32: ... not the string "true"
--- request
POST /api/v1/companies
{"name":"C","customFields":{"partner":"true"}}
--- error_code: 422
--- response_body_like: "field":"customFields.partner","code":"invalid_type"

=== TEST 33: the same rules on update
--- sql
INSERT INTO contacts (workspace_id, id, email)
VALUES ('11111111-1111-4111-8111-111111111111',
        'a0000000-0000-4000-8000-0000000000c1', 'upd@a.test');
--- request
PATCH /api/v1/contacts/a0000000-0000-4000-8000-0000000000c1
{"customFields":{"tier":"bronze"}}
--- error_code: 422
--- response_body_like: "field":"customFields.tier","code":"invalid_value"

=== TEST 34: definitions in bulk
--- request
POST /api/v1/custom-fields/bulk
{"operations":[{"method":"create","data":{"object":"companies","name":"segment","type":"select","options":["smb","enterprise"]}},{"method":"create","data":{"object":"companies","name":"segment","type":"text"}}]}
--- error_code: 207
--- response_body_like: \{"index":0,"status":201,.*\{"index":1,"status":409,.*"code":"DUPLICATE"

=== TEST 35: ... not by a key without the scope
--- request
POST /api/v1/custom-fields/bulk
{"operations":[{"method":"create","data":{"object":"companies","name":"x","type":"text"}}]}
--- more_headers eval
"X-API-Key: $CRM::Test::KEYS{read_a}"
--- error_code: 403

=== TEST 36: a field defined again with another type: its old values are no number, not an error
--- sql
INSERT INTO custom_fields (workspace_id, object, name, type)
VALUES ('11111111-1111-4111-8111-111111111111', 'companies', 'redef', 'text');
INSERT INTO companies (workspace_id, name, custom_fields) VALUES
 ('11111111-1111-4111-8111-111111111111', 'Redef Text', '{"redef": "v"}');
UPDATE custom_fields SET deleted_at = now()
 WHERE workspace_id = '11111111-1111-4111-8111-111111111111' AND name = 'redef';
INSERT INTO custom_fields (workspace_id, object, name, type)
VALUES ('11111111-1111-4111-8111-111111111111', 'companies', 'redef', 'number');
INSERT INTO companies (workspace_id, name, custom_fields) VALUES
 ('11111111-1111-4111-8111-111111111111', 'Redef Number', '{"redef": 7}');
--- request
GET /api/v1/companies?customFields.redef[gt]=1&fields=name
--- error_code: 200
--- response_body_like: ^\{"data":\[\{"id":"[^"]+","name":"Redef Number"\}\],

=== TEST 37: ... and sorting by it puts them with the empty ones
--- request
GET /api/v1/companies?customFields.redef[is]=notnull&sort=customFields.redef&fields=name
--- error_code: 200
--- response_body_like: ^\{"data":\[\{"id":"[^"]+","name":"Redef Number"\}\],

=== TEST 38: a select's old value still finds the records that hold it
The checks are API calls (%AFTER): the options change, then the filter.
--- request
GET /api/v1/contacts?customFields.tier=gold&fields=firstName
--- error_code: 200

=== TEST 39: a definition's options error says the rule
--- request
POST /api/v1/metadata/objects/contacts/fields
{"name":"size","type":"select","options":[]}
--- error_code: 422
--- response_body_like: "field":"options","code":"invalid_value","message":"a select has 1 to 100 distinct options of 1 to 200 characters; other types have none"

=== TEST 40: every problem of customFields comes in one answer
--- sql
INSERT INTO custom_fields (workspace_id, object, name, type) VALUES
 ('11111111-1111-4111-8111-111111111111', 'contacts', 'score', 'number'),
 ('11111111-1111-4111-8111-111111111111', 'contacts', 'note', 'text');
--- request
POST /api/v1/contacts
{"email":"all@a.test","customFields":{"tier":"bronze","score":"high","zz":1}}
--- error_code: 422
--- response_body_like: "details":\{"fields":\[\{"field":"customFields.zz","code":"unknown_field","message":"is not a custom field of contacts"\},\{"field":"customFields.score","code":"invalid_type","message":"must be a number"\},\{"field":"customFields.tier","code":"invalid_value","message":"must be one of [^}]+\}\]\}

=== TEST 41: ... with the other fields' problems, on create
--- request
POST /api/v1/contacts
{"email":"not-an-address","firstName":5,"customFields":{"score":"high"}}
--- error_code: 422
--- response_body_like: "details":\{"fields":\[(?=.*\{"field":"email","code":"invalid_format")(?=.*\{"field":"firstName","code":"invalid_type")\{[^\]]*\{"field":"customFields.score","code":"invalid_type","message":"must be a number"\}\]\}

=== TEST 42: ... and on update
--- request
PATCH /api/v1/contacts/a0000000-0000-4000-8000-0000000000c1
{"email":"not-an-address","customFields":{"score":"high","tier":"bronze"}}
--- error_code: 422
--- response_body_like: "details":\{"fields":\[\{"field":"email","code":"invalid_format","message":"[^"]+"\},\{"field":"customFields.score","code":"invalid_type","message":"must be a number"\},\{"field":"customFields.tier","code":"invalid_value","message":"[^}]+\}\]\}

=== TEST 43: a required field missing on create is named with the others
--- request
POST /api/v1/leads
{"email":"not-an-address"}
--- error_code: 422
--- response_body_like: "details":\{"fields":\[\{"field":"email","code":"invalid_format","message":"[^"]+"\},\{"field":"customFields.region","code":"required","message":"is required"\}\]\}

=== TEST 44: an update that does not write customFields names only its own fields
--- request
PATCH /api/v1/contacts/a0000000-0000-4000-8000-0000000000c1
{"email":"not-an-address"}
--- error_code: 422
--- response_body_like: "details":\{"fields":\[\{"field":"email","code":"invalid_format","message":"[^"]+"\}\]\}

=== TEST 45: a text over 10000 characters is too_long
--- request eval
"POST /api/v1/contacts\n" . '{"email":"long@a.test","customFields":{"note":"' . ('x' x 10001) . '","score":1}}'
--- error_code: 422
--- response_body_like: "details":\{"fields":\[\{"field":"customFields.note","code":"too_long","message":"must be at most 10000 characters"\}\]\}

=== TEST 46: a date that is not a string is invalid_type
--- request
POST /api/v1/deals
{"name":"d9","customFields":{"signedOn":20260203}}
--- error_code: 422
--- response_body_like: "field":"customFields.signedOn","code":"invalid_type","message":"must be a date string \(YYYY-MM-DD\)"

=== TEST 47: in bulk, an operation names all its custom fields' problems
--- request
POST /api/v1/contacts/bulk
{"operations":[{"method":"create","data":{"email":"blk@a.test","customFields":{"score":"x","tier":"bronze"}}}]}
--- error_code: 207
--- response_body_like: \{"index":0,"status":422,"error":\{"code":"VALIDATION_FAILED","status":422,"message":"the request is not valid","details":\{"fields":\[\{"field":"customFields.score","code":"invalid_type","message":"must be a number"\},\{"field":"customFields.tier","code":"invalid_value","message":"[^}]+\}\]\}\}\}

=== TEST 48: with the database away, the other fields' 422 is still sent
--- pg: stop
--- request
POST /api/v1/contacts
{"email":"not-an-address","customFields":{"score":"high"}}
--- error_code: 422
--- response_body_like: "details":\{"fields":\[\{"field":"email","code":"invalid_format","message":"[^"]+"\}\]\}
--- error_log
the custom fields of a refused body were not checked

=== TEST 49: the database is back for the next suites
--- pg: start
--- request
POST /api/v1/contacts
{"email":"not-an-address","customFields":{"score":"high"}}
--- error_code: 422
--- response_body_like: "field":"customFields.score","code":"invalid_type"
