# Leads and their conversion: contact (+ company, + deal) in one
# transaction; converting twice is INVALID_STATE.

use strict;
use warnings;

use Test::Nginx::Socket 'no_plan';
use Test::More;
use JSON::PP;
use CRM::Test qw(api sql);

my ($A, $B) = ($CRM::Test::WS_A, $CRM::Test::WS_B);

CRM::Test::reset();
sql(<<"_SQL_");
INSERT INTO pipelines (workspace_id, id, name, stages) VALUES
 ('$A', 'b1000000-0000-4000-8000-000000000001', 'Sales',
  '[{"name":"Lead","probability":10}]');
INSERT INTO leads (workspace_id, id, first_name, last_name, email,
                   company_name, source) VALUES
 ('$A', 'e1000000-0000-4000-8000-000000000001', 'Lin', 'Lead',
  'lin\@lead.test', 'Lead Co', 'web'),
 ('$A', 'e1000000-0000-4000-8000-000000000002', 'Solo', 'Person',
  'solo\@lead.test', NULL, 'event'),
 ('$A', 'e1000000-0000-4000-8000-000000000003', 'Dup', 'Mail',
  'taken\@lead.test', 'Dup Co', NULL),
 ('$B', 'e1000000-0000-4000-8000-000000000004', 'Other', 'Tenant',
  'b\@lead.test', 'B Co', NULL),
 ('$A', 'e1000000-0000-4000-8000-000000000005', 'No', 'Mail',
  NULL, NULL, NULL),
 ('$A', 'e1000000-0000-4000-8000-000000000006', 'Bare', 'Post',
  'bare\@lead.test', NULL, NULL),
 ('$A', 'e1000000-0000-4000-8000-000000000007', 'Neg', 'Amount',
  'neg\@lead.test', NULL, NULL);
INSERT INTO contacts (workspace_id, email) VALUES ('$A', 'taken\@lead.test');
_SQL_

my $KA = $CRM::Test::KEY_A;

Test::Nginx::Socket::add_response_body_check(sub {
    my ($block, $body, $req_idx, $repeated, $dry_run) = @_;
    my $name = $block->name;

    if ($name =~ /sort by conversion pages through the unconverted too/) {
        # every lead of the workspace, two a page, converted ones first
        my ($s, $d) = api('GET', '/api/v1/leads?count=exact&limit=1', $KA);
        my $total = $d->{meta}{total};
        my (%seen, $nulls, $cursor);
        for (1 .. 100) {
            ($s, $d) = api('GET', '/api/v1/leads?sort=convertedAt&limit=2'
                           . ($cursor ? "&cursor=$cursor" : ''), $KA);
            last if $s != 200;
            for my $l (@{ $d->{data} }) {
                $seen{ $l->{id} }++;
                $nulls++ if !defined $l->{convertedAt};
            }
            $cursor = $d->{meta}{cursor}{next} or last;
        }
        is($s, 200, "$name - every page answered");
        ok($nulls && $nulls < $total, "$name - converted and unconverted");
        is(scalar keys %seen, $total, "$name - as many as count=exact says");
        ok(!grep({ $_ > 1 } values %seen), "$name - each once");

    } elsif ($name =~ /converts into a contact, a company and a deal/) {
        my ($s, $d) = api('GET', '/api/v1/leads/e1000000-0000-4000-8000-'
                          . '000000000001', $KA);
        is($d->{data}{status}, 'converted', "$name - the lead is converted");
        my $c = $d->{data}{convertedContactId};
        ($s, $d) = api('GET', "/api/v1/contacts/$c", $KA);
        is($s, 200, "$name - the contact exists");
        is($d->{data}{email}, 'lin@lead.test', "$name - with the lead's email");
        my $co = $d->{data}{companyId};
        ($s, $d) = api('GET', "/api/v1/companies/$co", $KA);
        is($d->{data}{name}, 'Lead Co', "$name - and its company");
        ($s, $d) = api('GET', "/api/v1/companies/$co/deals", $KA);
        is($d->{data}[0]{amount}, 900, "$name - and the deal");

    } elsif ($name =~ /customFields of its own/) {
        my $d = JSON::PP::decode_json($body)->{data};
        my ($s, $deal) = api('GET', "/api/v1/deals/$d->{dealId}", $KA);
        is(join(',', @{ $deal->{data}{contactIds} || [] }), $d->{contactId},
           "$name - the deal has the contact it made");
        is($deal->{data}{name}, 'other22@lead.test deal',
           "$name - named after the contact made (its email)");
        is($deal->{data}{customFields}{score}, 5,
           "$name - the deal's customFields");
        my ($s2, $c) = api('GET', "/api/v1/contacts/$d->{contactId}", $KA);
        is($c->{data}{customFields}{note}, 'hi',
           "$name - the contact's customFields");
        ($s, $c) = api('GET', "/api/v1/contacts/$d->{contactId}/deals", $KA);
        is($c->{data}[0]{id}, $d->{dealId}, "$name - and the contact's deals");

    } elsif ($name =~ /all or nothing/) {
        is(sql("SELECT count(*) FROM companies WHERE name = 'Dup Co'"), 0,
           "$name - no company was left behind");
        is(sql("SELECT status FROM leads WHERE id ="
               . " 'e1000000-0000-4000-8000-000000000003'"), 'new',
           "$name - the lead is unchanged");
    }
});

no_shuffle();
run_tests();

__DATA__

=== TEST 1: a lead converts into a contact, a company and a deal
--- request
POST /api/v1/leads/e1000000-0000-4000-8000-000000000001/convert
{"deal":{"amount":900,"currency":"EUR","pipelineId":"b1000000-0000-4000-8000-000000000001","stage":"Lead"}}
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json
--- error_code: 200
--- response_body_like: ^\{"data":\{"dealId":"[0-9a-f-]{36}","leadId":"e1000000-0000-4000-8000-000000000001","companyId":"[0-9a-f-]{36}","contactId":"[0-9a-f-]{36}"\},"meta"

=== TEST 2: converting twice is INVALID_STATE
--- request
POST /api/v1/leads/e1000000-0000-4000-8000-000000000001/convert
{}
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json
--- error_code: 409
--- response_body_like: "code":"INVALID_STATE","status":409,"message":"the lead was converted already"

=== TEST 3: without a company name, only a contact
--- request
POST /api/v1/leads/e1000000-0000-4000-8000-000000000002/convert
{"contact":{"firstName":"Sol"}}
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json
--- error_code: 200
--- response_body_like: "dealId":null,.*"companyId":null,"contactId":"[0-9a-f-]{36}"

=== TEST 4: a failed conversion is all or nothing
--- request
POST /api/v1/leads/e1000000-0000-4000-8000-000000000003/convert
{}
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json
--- error_code: 409
--- response_body_like: "code":"DUPLICATE"

=== TEST 5: another workspace's lead is not found
--- request
POST /api/v1/leads/e1000000-0000-4000-8000-000000000004/convert
{}
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json
--- error_code: 404
--- response_body_like: "code":"RESOURCE_NOT_FOUND"

=== TEST 6: convert takes POST only
--- request
GET /api/v1/leads/e1000000-0000-4000-8000-000000000002/convert
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
--- error_code: 405
--- response_headers
Allow: POST

=== TEST 7: leads are a resource like the others
--- request
GET /api/v1/leads?status=new&fields=email
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
--- error_code: 200
--- response_body_like: "email":"taken@lead.test"

=== TEST 8: a conversion's contact is checked as a contact is
--- request
POST /api/v1/leads/e1000000-0000-4000-8000-000000000003/convert
{"contact":{"email":"bad2","firstName":5}}
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json
--- error_code: 422
--- response_body_like: "code":"VALIDATION_FAILED".*"field":"contact.email","code":"invalid_format".*"field":"contact.firstName","code":"invalid_type"

=== TEST 9: only the fields a conversion takes
--- request
POST /api/v1/leads/e1000000-0000-4000-8000-000000000003/convert
{"contact":{"phone":"+1","nope":1},"extra":1}
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json
--- error_code: 422
--- response_body_like: "code":"VALIDATION_FAILED".*"field":"contact.phone","code":"unknown_field".*"field":"contact.nope","code":"unknown_field".*"field":"extra","code":"unknown_field"

=== TEST 10: a part is an object (the company: or false)
--- request
POST /api/v1/leads/e1000000-0000-4000-8000-000000000003/convert
{"contact":[],"company":true}
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json
--- error_code: 422
--- response_body_like: "code":"VALIDATION_FAILED".*"field":"contact","code":"invalid_type","message":"must be an object".*"field":"company","code":"invalid_type","message":"must be an object or false"

=== TEST 11: a conversion's company and deal are checked too
--- request
POST /api/v1/leads/e1000000-0000-4000-8000-000000000003/convert
{"company":{"name":"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"},"deal":{"amount":"many","currency":"euro"}}
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json
--- error_code: 422
--- response_body_like: "code":"VALIDATION_FAILED".*"field":"company.name","code":"too_long".*"field":"deal.amount","code":"invalid_type"

=== TEST 12: a converted lead stays converted
--- request
PATCH /api/v1/leads/e1000000-0000-4000-8000-000000000001
{"status":"new"}
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json
--- error_code: 409
--- response_body_like: "code":"INVALID_STATE",.*"message":"a converted lead stays converted"

=== TEST 13: but its other fields may change
--- request
PATCH /api/v1/leads/e1000000-0000-4000-8000-000000000001
{"source":"referral"}
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json
--- error_code: 200
--- response_body_like: "source":"referral","status":"converted"

=== TEST 14: a lead is not written converted
--- request
POST /api/v1/leads
{"firstName":"Quick","status":"converted"}
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json
--- error_code: 422
--- response_body_like: "field":"status","code":"invalid_value","message":"a lead becomes converted through POST /leads/:id/convert"

=== TEST 15: a lead without an email needs one for its contact
--- request
POST /api/v1/leads/e1000000-0000-4000-8000-000000000005/convert
{}
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json
--- error_code: 422
--- response_body_like: "field":"contact.email","code":"required"

=== TEST 16: nothing was written: the lead is not converted
--- request
GET /api/v1/leads/e1000000-0000-4000-8000-000000000005?fields=status
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
--- error_code: 200
--- response_body_like: "status":"new"

=== TEST 17: with contact.email it converts
--- request
POST /api/v1/leads/e1000000-0000-4000-8000-000000000005/convert
{"contact":{"email":"found@lead.test"}}
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json
--- error_code: 200
--- response_body_like: "contactId":"[0-9a-f-]{36}"

=== TEST 18: the body is optional: none at all is {}
--- request
POST /api/v1/leads/e1000000-0000-4000-8000-000000000006/convert
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
--- error_code: 200
--- response_body_like: "companyId":null,"contactId":"[0-9a-f-]{36}"

=== TEST 19: an action takes no query parameter, and names the first
--- request
POST /api/v1/leads/e1000000-0000-4000-8000-000000000002/convert?dryRun=1&x=2
{}
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json
--- error_code: 400
--- response_body_like: "code":"INVALID_PARAMETER",.*"details":\{"parameter":"dryRun","code":"unknown_parameter"\}

=== TEST 20: a clash in the contact made is named as the body names it
--- request
POST /api/v1/leads/e1000000-0000-4000-8000-000000000003/convert
{}
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json
--- error_code: 409
--- response_body_like: "code":"DUPLICATE",.*"fields":\[\{"field":"contact.email","code":"duplicate"

=== TEST 21: and so is a value the database refuses in the deal made
--- request
POST /api/v1/leads/e1000000-0000-4000-8000-000000000007/convert
{"deal":{"name":"Neg deal","amount":-1}}
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json
--- error_code: 422
--- response_body_like: "fields":\[\{"field":"deal.amount","code":"invalid_value"

=== TEST 22: a required custom field of a kind the conversion makes is named as the body names it
--- sql
INSERT INTO custom_fields (workspace_id, object, name, label, type, required)
VALUES ('11111111-1111-4111-8111-111111111111', 'deals', 'score', 'Score',
        'number', true),
       ('11111111-1111-4111-8111-111111111111', 'contacts', 'note', 'Note',
        'text', false);
INSERT INTO leads (workspace_id, id, first_name, email)
VALUES ('11111111-1111-4111-8111-111111111111',
        'e1000000-0000-4000-8000-000000000022', 'Conv',
        'conv22@lead.test');
--- request
POST /api/v1/leads/e1000000-0000-4000-8000-000000000022/convert
{"deal":{"pipelineId":"b1000000-0000-4000-8000-000000000001","stage":"Lead"}}
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json
--- error_code: 422
--- response_body_like: "fields":\[\{"field":"deal.customFields.score","code":"required"

=== TEST 23: each part takes customFields of its own; the deal has the contact made
--- request
POST /api/v1/leads/e1000000-0000-4000-8000-000000000022/convert
{"contact":{"email":"other22@lead.test","customFields":{"note":"hi"}},"deal":{"pipelineId":"b1000000-0000-4000-8000-000000000001","stage":"Lead","customFields":{"score":5}}}
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json
--- error_code: 200
--- response_body_like: "dealId":"[0-9a-f-]{36}"

=== TEST 24: a part's customFields must be an object
--- sql
INSERT INTO leads (workspace_id, id, first_name, email)
VALUES ('11111111-1111-4111-8111-111111111111',
        'e1000000-0000-4000-8000-000000000024', 'Bad', 'bad24@lead.test');
--- request
POST /api/v1/leads/e1000000-0000-4000-8000-000000000024/convert
{"contact":{"customFields":[1]},"company":{"name":"X","customFields":{"nope":1}}}
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json
--- error_code: 422
--- response_body_like: "fields":\[\{"field":"contact.customFields","code":"invalid_type"

=== TEST 25: a custom field the company's kind does not have is named as the body names it, and nothing is written
--- request
POST /api/v1/leads/e1000000-0000-4000-8000-000000000024/convert
{"company":{"name":"Bad Co 25","customFields":{"nope":1}}}
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json
--- error_code: 422
--- response_body_like: "fields":\[\{"field":"company.customFields.nope","code":"unknown_field"

=== TEST 26: a part's custom fields' problems all come, each named as the body names it
--- request
POST /api/v1/leads/e1000000-0000-4000-8000-000000000024/convert
{"contact":{"customFields":{"note":5,"nope":1}}}
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json
--- error_code: 422
--- response_body_like: "details":\{"fields":\[\{"field":"contact.customFields.nope","code":"unknown_field","message":"is not a custom field of contacts"\},\{"field":"contact.customFields.note","code":"invalid_type","message":"must be a string"\}\]\}

=== TEST 27: a conversion with If-Match of an older version is 412, and converts nothing
--- sql
INSERT INTO leads (workspace_id, id, first_name, email)
VALUES ('11111111-1111-4111-8111-111111111111',
        'e1000000-0000-4000-8000-000000000027', 'Vers', 'vers27@lead.test');
--- request
POST /api/v1/leads/e1000000-0000-4000-8000-000000000027/convert
{"company":false}
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json
If-Match: "9"
--- error_code: 412
--- response_body_like: "code":"PRECONDITION_FAILED"

=== TEST 28: with its version it converts
--- request
POST /api/v1/leads/e1000000-0000-4000-8000-000000000027/convert
{"company":false}
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json
If-Match: "1"
--- error_code: 200
--- response_body_like: "contactId":"[0-9a-f-]{36}"

=== TEST 29: a sort by conversion pages through the unconverted too
--- request
GET /api/v1/leads?sort=-convertedAt&limit=1
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
--- error_code: 200
--- response_body_like: ^\{"data":\[\{"id":"[^"]+",.*"convertedAt":null
