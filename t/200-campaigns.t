# Campaigns, the first slice: the resource, its merge fields and audience
# checked when it is written (422, never a broken email), its state
# machine (start, pause, resume, cancel; 409 INVALID_STATE for an illegal
# move), what may be edited in which state, the scheduler's claim made
# once however many claim at the same time, isolation.

use strict;
use warnings;

use Test::Nginx::Socket 'no_plan';
use Test::More;
use CRM::Test qw(api sql);

my ($A, $B) = ($CRM::Test::WS_A, $CRM::Test::WS_B);
my $KA = $CRM::Test::KEY_A;

CRM::Test::reset();
sql(<<"_SQL_");
INSERT INTO campaigns (workspace_id, id, name, subject, body_text, audience)
VALUES
 ('$A', 'ca000000-0000-4000-8000-000000000001', 'Spring', 'Hi {{firstName}}',
  'Hello {{firstName|there}}', '{"tags": ["vip"]}'),
 ('$A', 'ca000000-0000-4000-8000-000000000002', 'Empty', 'No body', NULL,
  '{"tags": ["vip"]}'),
 ('$A', 'ca000000-0000-4000-8000-000000000003', 'Later', 'Later', 'x',
  '{"tags": ["vip"]}'),
 ('$B', 'ca000000-0000-4000-8000-000000000004', 'B', 'B', 'x',
  '{"tags": ["vip"]}');
UPDATE campaigns SET scheduled_at = now() + interval '1 day'
 WHERE id = 'ca000000-0000-4000-8000-000000000003';
_SQL_

my $C1 = '/api/v1/campaigns/ca000000-0000-4000-8000-000000000001';

# the state machine alone: no runner completes a campaign under the tests
$CRM::Test::HttpConfig .= "    crm_jobs off;\n";

sql(<<"_SQL_");
INSERT INTO contacts (workspace_id, id, first_name, email, status, tags)
VALUES
 ('$A', 'c1000000-0000-4000-8000-000000000001', 'Ann', 'ann\@c.test',
  'customer', '{vip,"a,b"}'),
 ('$A', 'c1000000-0000-4000-8000-000000000002', 'Ben', 'ben\@c.test',
  'lead', '{vip}'),
 ('$A', 'c1000000-0000-4000-8000-000000000003', 'Cid', 'cid\@c.test',
  'customer', '{}'),
 ('$B', 'c1000000-0000-4000-8000-000000000004', 'Dan', 'dan\@c.test',
  'customer', '{vip}');
INSERT INTO campaigns (workspace_id, id, name, subject, body_text, audience)
VALUES
 ('$A', 'ca000000-0000-4000-8000-000000000011', 'Tags', 's', 'x',
  '{"tags": ["vip"]}'),
 ('$A', 'ca000000-0000-4000-8000-000000000012', 'Filter', 's', 'x',
  '{"filter": "status=customer"}'),
 ('$A', 'ca000000-0000-4000-8000-000000000013', 'Ids', 's', 'x',
  '{"contactIds": ["c1000000-0000-4000-8000-000000000003",
                   "c1000000-0000-4000-8000-000000000004"]}'),
 ('$A', 'ca000000-0000-4000-8000-000000000014', 'Comma', 's', 'x',
  '{"tags": ["a,b"]}');
_SQL_

# stored before an empty audience filter was refused (sql, not the API)
sql(<<"_SQL_");
INSERT INTO campaigns (workspace_id, id, name, subject, body_text, audience)
VALUES
 ('$A', 'ca000000-0000-4000-8000-000000000019', 'Nobody', 's', 'x',
  '{"filter": ""}'),
 ('$A', 'ca000000-0000-4000-8000-00000000001a', 'Nobody either', 's', 'x',
  '{"filter": "&&"}');
_SQL_

Test::Nginx::Socket::add_response_body_check(sub {
    my ($block, $body, $req_idx, $repeated, $dry_run) = @_;
    my $name = $block->name;

    return if $dry_run;

    if ($name =~ /claimed once by many schedulers/) {
        sql("INSERT INTO campaigns (workspace_id, name, subject, body_text,"
            . " audience) SELECT '$A', 'due ' || i, 's', 'x', '{\"tags\":"
            . " [\"x\"]}' FROM generate_series(1, 20) i");
        sql("UPDATE campaigns SET status = 'draft' WHERE false");
        sql("SELECT set_config('crm.campaign_transition', 'on', false);"
            . " UPDATE campaigns SET status = 'scheduled',"
            . " scheduled_at = now() - interval '1 s'"
            . " WHERE name LIKE 'due %'");

        # eight schedulers claim at the same moment
        my @pids;
        my $dir = "/tmp/crm-due-$$";
        mkdir $dir;
        for my $i (1 .. 8) {
            my $pid = fork();
            if ($pid == 0) {
                my $out = eval { sql("SELECT count(*) FROM db_campaigns_due()") }
                          // 'error';
                open my $fh, '>', "$dir/$i" or exit 1;
                print $fh $out;
                close $fh;
                exit 0;
            }
            push @pids, $pid;
        }
        waitpid($_, 0) for @pids;

        my $total = 0;
        for my $i (1 .. 8) {
            open my $fh, '<', "$dir/$i" or next;
            my $n = <$fh>;
            close $fh;
            $total += $n if defined $n && $n =~ /^\d+$/;
        }
        system("rm -rf $dir");

        is($total, 20, "$name - 20 campaigns claimed in all, none twice");
        is(sql("SELECT count(*) FROM campaigns WHERE name LIKE 'due %'"
               . " AND status = 'running'"), 20, "$name - all running");

    } elsif ($name =~ /sendRate holds however many claim/) {
        # a running campaign of sendRate 1 with 20 recipients pending
        my $id = 'ca000000-0000-4000-8000-000000000020';
        sql("INSERT INTO contacts (workspace_id, first_name, email)"
            . " SELECT '$A', 'Rate' || i, 'rate' || i || '\@c.test'"
            . " FROM generate_series(1, 20) i");
        sql("INSERT INTO campaigns (workspace_id, id, name, subject,"
            . " body_text, audience, send_rate) VALUES ('$A', '$id',"
            . " 'Rate', 's', 'x', '{\"filter\": \"email[like]=rate\"}', 1)");
        sql("SELECT set_config('crm.campaign_transition', 'on', false);"
            . " UPDATE campaigns SET status = 'running', started_at = now(),"
            . " materialized_at = now() WHERE id = '$id'");
        sql("INSERT INTO campaign_recipients (workspace_id, campaign_id,"
            . " contact_id, email) SELECT workspace_id, '$id', id, email"
            . " FROM contacts WHERE email LIKE 'rate%'");

        # eight workers claim at the same moment
        my @pids;
        my $dir = "/tmp/crm-rate-$$";
        mkdir $dir;
        for my $i (1 .. 8) {
            my $pid = fork();
            if ($pid == 0) {
                my $out = eval {
                    sql("SELECT count(*) FROM db_campaign_claim(10,"
                        . " '1 minute', 'worker $i')")
                } // 'error';
                open my $fh, '>', "$dir/$i" or exit 1;
                print $fh $out;
                close $fh;
                exit 0;
            }
            push @pids, $pid;
        }
        waitpid($_, 0) for @pids;

        my ($total, @got) = (0);
        for my $i (1 .. 8) {
            open my $fh, '<', "$dir/$i" or next;
            my $n = <$fh>;
            close $fh;
            push @got, $n // 'none';
            $total += $n if defined $n && $n =~ /^\d+$/;
        }
        system("rm -rf $dir");

        is($total, 1, "$name - one recipient claimed in all (@got)");
        is(sql("SELECT count(*) FROM campaign_recipients"
               . " WHERE campaign_id = '$id' AND queued_at IS NOT NULL"), 1,
           "$name - one queued in the minute");

    } elsif ($name =~ /preview is paged/) {
        # an audience of a q and a custom field; the client's own filter
        my $base = '/api/v1/campaigns/ca000000-0000-4000-8000-000000000072'
                   . '/recipients?limit=1&fields=firstName&sort=firstName';
        my (@seen, $url);
        $url = $base;
        for (1 .. 4) {
            my ($st, $d) = api('GET', $url, $KA);
            is($st, 200, "$name - page " . (@seen + 1));
            last unless $st == 200 && @{ $d->{data} };
            push @seen, $d->{data}[0]{firstName};
            my $next = $d->{meta}{cursor}{next} or last;
            $url = "$base&cursor=$next";
        }
        is(join(',', @seen), 'Ann,Ben', "$name - its cursor walks it");
        my ($st, $d) = api('GET', "$base&cursor=nope", $KA);
        is($d->{error}{details}{code} // '', 'invalid_cursor',
           "$name - a bad cursor is the request's own");
    }
});

no_shuffle();
run_tests();

__DATA__

=== TEST 1: a campaign is created as a draft
--- request
POST /api/v1/campaigns
{"name":"Welcome","subject":"Hello {{firstName|there}} from {{company.name}}","html":"<p>Hi {{ firstName }}</p>","text":"Hi {{firstName}}","audience":{"filter":"status=customer&tags[in]=vip,gold"},"sendRate":600}
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json
--- error_code: 201
--- response_body_like: "status":"draft","counters":\{\}



=== TEST 2: an unknown merge field is refused when written, not sent broken
--- request
POST /api/v1/campaigns
{"name":"Typo","subject":"Hello {{frstName}}","text":"x","audience":{"tags":["vip"]}}
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json
--- error_code: 422
--- response_body_like: "field":"subject","code":"unknown_merge_field","message":"unknown merge field \\"\{\{frstName\}\}\\""



=== TEST 3: a merge field left open
--- request
POST /api/v1/campaigns
{"name":"Open","subject":"s","html":"<p>{{firstName</p>","audience":{"tags":["vip"]}}
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json
--- error_code: 422
--- response_body_like: "field":"html","code":"invalid_merge_field"



=== TEST 4: an audience filter is refused for what GET /contacts refuses
--- request
POST /api/v1/campaigns
{"name":"Bad filter","subject":"s","text":"x","audience":{"filter":"favouriteColour=blue"}}
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json
--- error_code: 422
--- response_body_like: "field":"audience.filter","code":"unknown_parameter","message":"favouriteColour



=== TEST 5: an audience filter is filters only
--- request
POST /api/v1/campaigns
{"name":"Paged","subject":"s","text":"x","audience":{"filter":"status=lead&limit=10"}}
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json
--- error_code: 422
--- response_body_like: "field":"audience.filter","code":"not_a_filter","message":"limit is not a filter"



=== TEST 6: an audience is one of filter, tags, contactIds
--- request
POST /api/v1/campaigns
{"name":"Two","subject":"s","text":"x","audience":{"tags":["a"],"contactIds":[]}}
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json
--- error_code: 422
--- response_body_like: "field":"audience","code":"invalid_value"



=== TEST 7: contact ids are UUIDs
--- request
POST /api/v1/campaigns
{"name":"Ids","subject":"s","text":"x","audience":{"contactIds":["nope"]}}
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json
--- error_code: 422
--- response_body_like: "field":"audience.contactIds","code":"invalid_value"



=== TEST 8: the status is not written directly
--- request
PATCH /api/v1/campaigns/ca000000-0000-4000-8000-000000000001
{"status":"running"}
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json
--- error_code: 422
--- response_body_like: "field":"status","code":"read_only"



=== TEST 9: a campaign without a body cannot start
--- request
POST /api/v1/campaigns/ca000000-0000-4000-8000-000000000002/start
{}
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json
--- error_code: 422
--- response_body_like: "field":"text","code":"required"



=== TEST 10: start makes a draft running, and answers with the campaign
--- request
POST /api/v1/campaigns/ca000000-0000-4000-8000-000000000001/start
{}
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json
--- error_code: 200
--- response_headers_like
ETag: "\d+"
--- response_body_like: ^\{"data":\{"id":"ca000000-0000-4000-8000-000000000001","name":"Spring",.*"status":"running",.*"startedAt":"[0-9T:.-]+Z"



=== TEST 11: starting twice is INVALID_STATE
--- request
POST /api/v1/campaigns/ca000000-0000-4000-8000-000000000001/start
{}
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json
--- error_code: 409
--- response_body_like: "code":"INVALID_STATE","status":409,"message":"a running campaign cannot be started"



=== TEST 12: a running campaign takes no content change
--- request
PATCH /api/v1/campaigns/ca000000-0000-4000-8000-000000000001
{"subject":"Changed"}
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json
--- error_code: 409
--- response_body_like: "code":"INVALID_STATE","status":409,"message":"the content and audience of a running campaign cannot change



=== TEST 13: nor an audience change
--- request
PATCH /api/v1/campaigns/ca000000-0000-4000-8000-000000000001
{"audience":{"tags":["other"]}}
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json
--- error_code: 409
--- response_body_like: "code":"INVALID_STATE"



=== TEST 14: but its name and send rate may change
--- request
PATCH /api/v1/campaigns/ca000000-0000-4000-8000-000000000001
{"name":"Spring sale","sendRate":120}
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json
--- error_code: 200
--- response_body_like: "name":"Spring sale",.*"sendRate":120,.*"status":"running"



=== TEST 15: a running campaign cannot be deleted
--- request
DELETE /api/v1/campaigns/ca000000-0000-4000-8000-000000000001
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
--- error_code: 409
--- response_body_like: "message":"a running campaign cannot be deleted: cancel it first"



=== TEST 16: pause
--- request
POST /api/v1/campaigns/ca000000-0000-4000-8000-000000000001/pause
{}
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json
--- error_code: 200
--- response_body_like: "status":"paused"



=== TEST 17: pausing a paused campaign is INVALID_STATE
--- request
POST /api/v1/campaigns/ca000000-0000-4000-8000-000000000001/pause
{}
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json
--- error_code: 409
--- response_body_like: "message":"a paused campaign cannot be paused"



=== TEST 18: resume
--- request
POST /api/v1/campaigns/ca000000-0000-4000-8000-000000000001/resume
{}
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json
--- error_code: 200
--- response_body_like: "status":"running"



=== TEST 19: cancel
--- request
POST /api/v1/campaigns/ca000000-0000-4000-8000-000000000001/cancel
{}
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json
--- error_code: 200
--- response_body_like: "status":"cancelled",.*"cancelledAt":"[0-9T:.-]+Z"



=== TEST 20: a cancelled campaign is final
--- request
POST /api/v1/campaigns/ca000000-0000-4000-8000-000000000001/resume
{}
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json
--- error_code: 409
--- response_body_like: "message":"a cancelled campaign cannot be resumed"



=== TEST 21: and takes no change at all
--- request
PATCH /api/v1/campaigns/ca000000-0000-4000-8000-000000000001
{"name":"again"}
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json
--- error_code: 409
--- response_body_like: "message":"a cancelled campaign cannot be changed"



=== TEST 22: a start with a future scheduledAt schedules
--- request
POST /api/v1/campaigns/ca000000-0000-4000-8000-000000000003/start
{}
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json
--- error_code: 200
--- response_body_like: "status":"scheduled"



=== TEST 23: another workspace's campaign is not found
--- request
POST /api/v1/campaigns/ca000000-0000-4000-8000-000000000004/start
{}
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json
--- error_code: 404
--- response_body_like: "code":"RESOURCE_NOT_FOUND"



=== TEST 24: an unknown action
--- request
POST /api/v1/campaigns/ca000000-0000-4000-8000-000000000003/launch
{}
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json
--- error_code: 404
--- response_body_like: "code":"RESOURCE_NOT_FOUND"



=== TEST 25: scheduled campaigns are claimed once by many schedulers
--- request
GET /api/v1/campaigns?status=scheduled&fields=name
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
--- error_code: 200
--- response_body_like: "name":"Later"



=== TEST 26: before it runs, the recipients are a preview of the audience's tags
--- request
GET /api/v1/campaigns/ca000000-0000-4000-8000-000000000011/recipients?sort=firstName&count=exact
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
--- error_code: 200
--- json_names: Ann Ben
--- json_total: 2



=== TEST 27: a filter audience, previewed by the list's own planner
--- request
GET /api/v1/campaigns/ca000000-0000-4000-8000-000000000012/recipients?sort=firstName
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
--- error_code: 200
--- json_names: Ann Cid
--- response_body_unlike: audienceProblem



=== TEST 28: contact ids of another workspace are not in the preview
--- request
GET /api/v1/campaigns/ca000000-0000-4000-8000-000000000013/recipients
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
--- error_code: 200
--- json_names: Cid



=== TEST 29: a tag with a comma stays one tag
--- request
GET /api/v1/campaigns/ca000000-0000-4000-8000-000000000014/recipients
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
--- error_code: 200
--- json_names: Ann



=== TEST 30: the preview takes the list's parameters, and refuses unknown ones
--- request
GET /api/v1/campaigns/ca000000-0000-4000-8000-000000000012/recipients?colour=red
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
--- error_code: 400
--- response_body_like: "code":"INVALID_PARAMETER"



=== TEST 31: another workspace's campaign has no recipients to show
--- request
GET /api/v1/campaigns/ca000000-0000-4000-8000-000000000004/recipients
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
--- error_code: 404
--- response_body_like: "code":"RESOURCE_NOT_FOUND"



=== TEST 32: recipients have no route of their own
--- request
GET /api/v1/campaign-recipients
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
--- error_code: 404
--- response_body_like: "code":"RESOURCE_NOT_FOUND"



=== TEST 33: an audience filter that filters nothing in particular is refused (it is not every contact)
--- request
POST /api/v1/campaigns
{"name":"All?","subject":"s","text":"x","audience":{"filter":""}}
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json
--- error_code: 422
--- response_body_like: "field":"audience.filter","code":"invalid_value","message":"filters no contact in particular



=== TEST 34: nor one of separators only
--- request
POST /api/v1/campaigns
{"name":"All?","subject":"s","text":"x","audience":{"filter":"&&"}}
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json
--- error_code: 422
--- response_body_like: "field":"audience.filter","code":"invalid_value"



=== TEST 35: every contact, said so, is an audience
--- request
POST /api/v1/campaigns
{"name":"All","subject":"s","text":"x","audience":{"filter":"id[is]=notnull"}}
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json
--- error_code: 201



=== TEST 36: a campaign stored with an empty filter previews no one
--- request
GET /api/v1/campaigns/ca000000-0000-4000-8000-000000000019/recipients?count=exact
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
--- error_code: 200
--- response_body_like: ^\{"data":\[\],"meta":\{.*"total":0,"audienceProblem":"the audience filter selects no contact in particular"\}\}$



=== TEST 37: nor with separators only
--- request
GET /api/v1/campaigns/ca000000-0000-4000-8000-00000000001a/recipients?count=exact
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
--- error_code: 200
--- response_body_like: ^\{"data":\[\],"meta":\{.*"total":0



=== TEST 38: a campaign's sendRate holds however many claim at the same moment
--- request
GET /api/v1/campaigns?fields=status&limit=1
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
--- error_code: 200



=== TEST 39: a state change takes no fields
--- request
POST /api/v1/campaigns/ca000000-0000-4000-8000-000000000002/start
{"x":1}
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json
--- error_code: 422
--- response_body_like: "field":"x","code":"unknown_field","message":"this action takes no fields"



=== TEST 40: a send rate is a 32-bit integer, said on its field
--- request
PATCH /api/v1/campaigns/ca000000-0000-4000-8000-000000000002
{"sendRate":2147483648}
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json
--- error_code: 422
--- response_body_like: "field":"sendRate","code":"out_of_range"



=== TEST 41: a scheduled campaign keeps its time
--- request
PATCH /api/v1/campaigns/ca000000-0000-4000-8000-000000000003
{"scheduledAt":null}
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json
--- error_code: 422
--- response_body_like: "field":"scheduledAt","code":"required","message":"a scheduled campaign keeps a time



=== TEST 42: an audience of 10,000 contact ids, the documented most
--- request eval
"POST /api/v1/campaigns\n" . JSON::PP::encode_json({ name => 'Many', subject => 's', text => 'x', audience => { contactIds => [ map { sprintf 'c2000000-0000-4000-8000-%012d', $_ } 1 .. 10000 ] } })
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json
--- error_code: 201
--- response_body_like: "name":"Many"



=== TEST 43: and not one more
--- request eval
"POST /api/v1/campaigns\n" . JSON::PP::encode_json({ name => 'Too many', subject => 's', text => 'x', audience => { contactIds => [ map { sprintf 'c2000000-0000-4000-8000-%012d', $_ } 1 .. 10001 ] } })
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json
--- error_code: 422
--- response_body_like: "field":"audience



=== TEST 44: a send rate beyond 64 bits is said out of its own range
--- request
PATCH /api/v1/campaigns/ca000000-0000-4000-8000-000000000002
{"sendRate":1e20}
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json
--- error_code: 422
--- response_body_like: "field":"sendRate","code":"out_of_range","message":"must be an integer between 1 and 2147483647"

=== TEST 45: a send rate below 1 is refused with the other invalid fields
--- request
POST /api/v1/campaigns
{"name":"Slow","sendRate":0,"replyTo":"not an address"}
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json
--- error_code: 422
--- response_body_like: \{"field":"sendRate","code":"invalid_value","message":"must be 1 or more"\}

=== TEST 46: a draft with a time to come is scheduled by start
--- sql
INSERT INTO campaigns (workspace_id, id, name, subject, body_text, audience,
                       scheduled_at)
VALUES ('11111111-1111-4111-8111-111111111111',
        'ca000000-0000-4000-8000-000000000021', 'Soon', 's', 'x',
        '{"tags": ["nobody"]}', now() + interval '1 day'),
       ('11111111-1111-4111-8111-111111111111',
        'ca000000-0000-4000-8000-000000000022', 'Held', 's', 'x',
        '{"tags": ["nobody"]}', NULL);
--- request
POST /api/v1/campaigns/ca000000-0000-4000-8000-000000000021/start
{}
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json
--- error_code: 200
--- response_body_like: "status":"scheduled"

=== TEST 47: ... and a scheduled campaign started again runs now, its time to come or not
--- request
POST /api/v1/campaigns/ca000000-0000-4000-8000-000000000021/start
{}
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json
--- error_code: 200
--- response_body_like: "status":"running","counters":\{\},"startedAt":"\d{4}-

=== TEST 48: an action with If-Match of an older version is 412, and nothing moves
--- request
POST /api/v1/campaigns/ca000000-0000-4000-8000-000000000022/start
{}
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json
If-Match: "7"
--- error_code: 412
--- response_body_like: "code":"PRECONDITION_FAILED"

=== TEST 49: ... it is still a draft
--- request
GET /api/v1/campaigns/ca000000-0000-4000-8000-000000000022?fields=status
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
--- error_code: 200
--- response_body_like: "status":"draft"

=== TEST 50: ... with the version it has, it runs
--- request
POST /api/v1/campaigns/ca000000-0000-4000-8000-000000000022/cancel
{}
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json
If-Match: "1", "5"
--- error_code: 200
--- response_body_like: "status":"cancelled"

=== TEST 51: an action with If-Match on a campaign that is not there is 404
--- request
POST /api/v1/campaigns/ca000000-0000-4000-8000-0000000000ff/start
{}
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json
If-Match: "1"
--- error_code: 404

=== TEST 52: ... however its name is written
--- request
POST /api/v1/campaigns
{"name":"Paged","subject":"s","text":"x","audience":{"filter":"status=lead&l%69mit=10"}}
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json
--- error_code: 422
--- response_body_like: "field":"audience.filter","code":"not_a_filter","message":"limit is not a filter"

=== TEST 53: ... in snake_case too
--- request
POST /api/v1/campaigns
{"name":"Paged","subject":"s","text":"x","audience":{"filter":"status=lead&sort_by=email"}}
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json
--- error_code: 422
--- response_body_like: "code":"not_a_filter","message":"sort_by is not a filter"

=== TEST 54: an encoded name of a filter is still a filter
--- request
POST /api/v1/campaigns
{"name":"Encoded","subject":"s","text":"x","audience":{"filter":"st%61tus=lead"}}
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json
--- error_code: 201

=== TEST 55: an audience of more than 100 ids has no preview: 400, not a parameter's error
--- sql
INSERT INTO campaigns (workspace_id, id, name, subject, body_text, audience)
SELECT '11111111-1111-4111-8111-111111111111',
       'ca000000-0000-4000-8000-000000000055', 'Wide', 's', 'x',
       jsonb_build_object('contactIds', jsonb_agg(
           '00000000-0000-4000-8000-' || lpad(i::text, 12, '0')))
  FROM generate_series(1, 101) i;
--- request
GET /api/v1/campaigns/ca000000-0000-4000-8000-000000000055/recipients
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
--- error_code: 400
--- response_body_like: ^\{"error":\{"code":"BAD_REQUEST","status":400,"message":"an audience of more than 100 tags or contact ids has no preview; its recipients are listed once it runs","details":\{\}\}

=== TEST 56: a fromName is no template
--- request
POST /api/v1/campaigns
{"name":"From","subject":"s","text":"x","fromName":"{{firstName}} at Acme","audience":{"tags":["vip"]}}
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json
--- error_code: 422
--- response_body_like: "fields":\[\{"field":"fromName","code":"invalid_value","message":"fromName takes no merge fields: it is the same for every recipient"\}\]

=== TEST 57: an audience filter on a custom field of contacts is a filter
--- sql
INSERT INTO custom_fields (workspace_id, object, name, type, options) VALUES
 ('11111111-1111-4111-8111-111111111111', 'contacts', 'tier', 'select',
  '["gold", "silver"]'),
 ('11111111-1111-4111-8111-111111111111', 'contacts', 'score', 'number',
  '[]'),
 ('22222222-2222-4222-8222-222222222222', 'contacts', 'region', 'text',
  '[]');
UPDATE contacts SET custom_fields = '{"tier": "gold", "score": 70}'
 WHERE id = 'c1000000-0000-4000-8000-000000000001';
UPDATE contacts SET custom_fields = '{"tier": "silver", "score": 90}'
 WHERE id = 'c1000000-0000-4000-8000-000000000002';
--- request
POST /api/v1/campaigns
{"name":"Gold","subject":"s","text":"x","audience":{"filter":"customFields.tier=gold&status=customer"}}
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json
--- error_code: 201
--- response_body_like: "audience":\{"filter":"customFields.tier=gold&status=customer"\}

=== TEST 58: ... and its preview selects by it
--- sql
INSERT INTO campaigns (workspace_id, id, name, subject, body_text, audience)
VALUES ('11111111-1111-4111-8111-111111111111',
        'ca000000-0000-4000-8000-000000000058', 'Score', 's', 'x',
        '{"filter": "customFields.score[gte]=80"}');
--- request
GET /api/v1/campaigns/ca000000-0000-4000-8000-000000000058/recipients?fields=firstName
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
--- error_code: 200
--- response_body_like: ^\{"data":\[\{"id":"c1000000-0000-4000-8000-000000000002","firstName":"Ben"\}\],

=== TEST 59: a custom field that is not defined is unknown
--- request
POST /api/v1/campaigns
{"name":"Nope","subject":"s","text":"x","audience":{"filter":"customFields.colour=blue"}}
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json
--- error_code: 422
--- response_body_like: "fields":\[\{"field":"audience.filter","code":"unknown_parameter","message":"customFields.colour:

=== TEST 60: another workspace's custom field is unknown here
--- request
POST /api/v1/campaigns
{"name":"Theirs","subject":"s","text":"x","audience":{"filter":"customFields.region=north"}}
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json
--- error_code: 422
--- response_body_like: "field":"audience.filter","code":"unknown_parameter","message":"customFields.region:

=== TEST 61: a custom field's operator is checked by its type
--- request
POST /api/v1/campaigns
{"name":"Op","subject":"s","text":"x","audience":{"filter":"customFields.score[like]=7%25"}}
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json
--- error_code: 422
--- response_body_like: "field":"audience.filter","code":"invalid_operator","message":"customFields.score\[like\]:

=== TEST 62: a PATCH to a custom-field audience honours If-Match
--- request
PATCH /api/v1/campaigns/ca000000-0000-4000-8000-000000000058
{"audience":{"filter":"customFields.tier=silver"}}
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json
If-Match: "7"
--- error_code: 412

=== TEST 63: ... and with its version it is written once
--- request
PATCH /api/v1/campaigns/ca000000-0000-4000-8000-000000000058
{"audience":{"filter":"customFields.tier=silver"}}
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json
If-Match: "1"
--- error_code: 200
--- response_headers
ETag: "2"
--- response_body_like: "audience":\{"filter":"customFields.tier=silver"\}

=== TEST 64: a bulk of campaigns reads the custom fields once for all its operations
--- request
POST /api/v1/campaigns/bulk
{"operations":[{"method":"create","data":{"name":"B1","subject":"s","text":"x","audience":{"filter":"customFields.tier=gold"}}},{"method":"create","data":{"name":"B2","subject":"s","text":"x","audience":{"filter":"customFields.colour=red"}}},{"method":"update","id":"ca000000-0000-4000-8000-000000000058","data":{"audience":{"filter":"customFields.score[lt]=10"}}}]}
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json
--- error_code: 207
--- response_body_like: ^\{"data":\[\{"index":0,"status":201,.*"filter":"customFields.tier=gold".*\{"index":1,"status":422,.*"code":"unknown_parameter","message":"customFields.colour:.*\{"index":2,"status":200,.*"filter":"customFields.score\[lt\]=10"

=== TEST 65: a template merges a custom field that is defined
--- request
POST /api/v1/campaigns
{"name":"Merge","subject":"For {{customFields.tier|you}}","text":"score {{ customFields.score }}","audience":{"tags":["vip"]}}
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json
--- error_code: 201
--- response_body_like: "subject":"For \{\{customFields.tier\|you\}\}"

=== TEST 66: ... and refuses one that is not, and the object alone, together
--- request
POST /api/v1/campaigns
{"name":"Merge","subject":"For {{customFields.colour}}","text":"{{customFields}}","html":"<p>{{company.customFields.tier}}</p>","audience":{"tags":["vip"]}}
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json
--- error_code: 422
--- response_body_like: "fields":\[\{"field":"subject","code":"unknown_merge_field","message":"unknown merge field \\"\{\{customFields.colour\}\}\\": no custom field of that name"\},\{"field":"text","code":"unknown_merge_field","message":"merge field \\"\{\{customFields\}\}\\" is an object, not a value: name one of its keys"\},\{"field":"html","code":"unknown_merge_field","message":"unknown merge field \\"\{\{company.customFields.tier\}\}\\": no custom field of that name"\}\]

=== TEST 67: a preview whose audience names a custom field no longer defined selects nobody, as its runner would
--- sql
INSERT INTO campaigns (workspace_id, id, name, subject, body_text, audience)
VALUES ('11111111-1111-4111-8111-111111111111',
        'ca000000-0000-4000-8000-000000000067', 'Gone', 's', 'x',
        '{"filter": "customFields.gone=1"}');
--- request
GET /api/v1/campaigns/ca000000-0000-4000-8000-000000000067/recipients
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
--- error_code: 200
--- response_body_like: ^\{"data":\[\],"meta":\{.*"hasMore":false\},"audienceProblem":"the audience filter is no longer valid \(customFields\.gone: unknown query parameter \\"customFields\.gone\\"\)"\}\}$

=== TEST 68: a preview's own q beside an audience's q is refused as the audience's
--- sql
INSERT INTO campaigns (workspace_id, id, name, subject, body_text, audience)
VALUES ('11111111-1111-4111-8111-111111111111',
        'ca000000-0000-4000-8000-000000000068', 'Searched', 's', 'x',
        '{"filter": "q=Ann"}');
--- request
GET /api/v1/campaigns/ca000000-0000-4000-8000-000000000068/recipients?q=Ben
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
--- error_code: 400
--- response_body_like: "code":"INVALID_PARAMETER","status":400,"message":"the parameter \\"q\\" is given twice, or with an alias \(the campaign's audience gives it already\)"

=== TEST 69: ... while a preview's own bad parameter is its own
--- request
GET /api/v1/campaigns/ca000000-0000-4000-8000-000000000068/recipients?status[zz]=lead
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
--- error_code: 400
--- response_body_like: "message":"[^(]*","details":\{"parameter":"status\[zz\]"

=== TEST 70: an audience's custom field may be written percent-encoded, as a list's
--- request
POST /api/v1/campaigns
{"name":"Encoded custom","subject":"s","text":"x","audience":{"filter":"customFields%2Etier=gold"}}
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json
--- error_code: 201

=== TEST 71: a preview of a campaign audience with q and further filters
--- request
GET /api/v1/campaigns/ca000000-0000-4000-8000-000000000068/recipients?status=customer&fields=firstName
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
--- error_code: 200
--- response_body_like: ^\{"data":\[\{"id":"c1000000-0000-4000-8000-000000000001","firstName":"Ann"\}\],

=== TEST 72: a campaign's preview is paged by its cursor, the audience given once
--- sql
INSERT INTO campaigns (workspace_id, id, name, subject, body_text, audience)
VALUES ('11111111-1111-4111-8111-111111111111',
        'ca000000-0000-4000-8000-000000000072', 'Paged', 's', 'x',
        '{"filter": "customFields.score[gte]=1&tags[in]=vip"}');
--- request
GET /api/v1/campaigns/ca000000-0000-4000-8000-000000000072/recipients
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
--- error_code: 200

=== TEST 73: a list sorted on a custom field it does not filter on
--- request
GET /api/v1/contacts?sort=-customFields.score&customFields.score[is]=notnull&fields=firstName
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
--- error_code: 200
--- response_body_like: ^\{"data":\[\{"id":"[^"]+","firstName":"Ben"\},\{"id":"[^"]+","firstName":"Ann"\}\]

=== TEST 74: ... and without any custom-field filter
--- request
GET /api/v1/contacts?sort=-customFields.score,firstName&fields=firstName&limit=1&status=lead
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
--- error_code: 200
--- response_body_like: ^\{"data":\[\{"id":"[^"]+","firstName":"Ben"\}\]

=== TEST 75: an audience's tag of 255 four-byte characters previews the contacts that hold it
--- sql
INSERT INTO contacts (workspace_id, first_name, email, tags)
VALUES ('11111111-1111-4111-8111-111111111111', 'Emo', 'emo@example.com',
        ARRAY[repeat(chr(128512), 255)]);
INSERT INTO campaigns (workspace_id, id, name, subject, body_text, audience)
VALUES ('11111111-1111-4111-8111-111111111111',
        'ca000000-0000-4000-8000-000000000075', 'Emoji', 's', 'x',
        jsonb_build_object('tags',
                           jsonb_build_array(repeat(chr(128512), 255))));
--- request
GET /api/v1/campaigns/ca000000-0000-4000-8000-000000000075/recipients?fields=email
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
--- error_code: 200
--- response_body_like: ^\{"data":\[\{"id":"[^"]+","email":"emo@example.com"\}\],
--- response_body_unlike: audienceProblem

=== TEST 76: a campaign whose audience names a custom field no longer defined does not start
--- request
POST /api/v1/campaigns/ca000000-0000-4000-8000-000000000067/start
{}
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json
--- error_code: 422
--- response_body_like: "message":"the campaign would mail nobody","details":\{"fields":\[\{"field":"audience\.filter","code":"invalid_value","message":"the audience filter is no longer valid \(customFields\.gone: unknown query parameter \\"customFields\.gone\\"\)"\}\]\}

=== TEST 77: nor one whose filter selects no contact in particular
--- request
POST /api/v1/campaigns/ca000000-0000-4000-8000-000000000019/start
{}
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json
--- error_code: 422
--- response_body_like: "field":"audience\.filter","code":"invalid_value","message":"the audience filter selects no contact in particular"

=== TEST 78: a filter that selects contacts starts, a custom field's included
--- sql
INSERT INTO custom_fields (workspace_id, object, name, type)
VALUES ('11111111-1111-4111-8111-111111111111', 'contacts', 'zone', 'text');
INSERT INTO campaigns (workspace_id, id, name, subject, body_text, audience)
VALUES ('11111111-1111-4111-8111-111111111111',
        'ca000000-0000-4000-8000-000000000078', 'Zoned', 's', 'x',
        '{"filter": "customFields.zone=north"}');
--- request
POST /api/v1/campaigns/ca000000-0000-4000-8000-000000000078/start
{}
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json
--- error_code: 200
--- response_body_like: "status":"running"

=== TEST 79: a running campaign's start is refused by its state, its audience not read
--- sql
INSERT INTO campaigns (workspace_id, id, name, subject, body_text, audience)
VALUES ('11111111-1111-4111-8111-111111111111',
        'ca000000-0000-4000-8000-000000000079', 'Gone running', 's', 'x',
        '{"filter": "customFields.gone=1"}');
SELECT set_config('crm.campaign_transition', 'on', true);
UPDATE campaigns SET status = 'paused'
 WHERE id = 'ca000000-0000-4000-8000-000000000079';
--- request
POST /api/v1/campaigns/ca000000-0000-4000-8000-000000000079/start
{}
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json
--- error_code: 409
--- response_body_like: "code":"INVALID_STATE"

=== TEST 80: another workspace's campaign is not there to start
--- request
POST /api/v1/campaigns/ca000000-0000-4000-8000-000000000067/start
{}
--- more_headers
X-API-Key: test-key-b-0123456789abcdef
Content-Type: application/json
--- error_code: 404

