# The event of a write made cheaper (sql/056_events_lean.sql, the
# planner's event CTE): its data is built as jsonb from the row's columns
# and must be exactly the record the API answered (jsonb text compared in
# PostgreSQL: key order, numbers as written, escapes); the fan-out makes
# deliveries only for matching active subscriptions and none from a
# webhook.test event beyond db_webhook_test()'s own; the retention purge
# (now per workspace through events_created) deletes old events of every
# workspace with their deliveries, up to its batch, and nothing newer,
# and the analytics' first engagements of buckets that ended before its
# horizon (sql/070).

use strict;
use warnings;

use Test::Nginx::Socket 'no_plan';
use Test::More;
use CRM::Test qw(api sql);

my $A = $CRM::Test::WS_A;
my $B = $CRM::Test::WS_B;
my $KA = $CRM::Test::KEY_A;

CRM::Test::reset();

# the event's data->'object' as jsonb text, next to the API's answer's
# "data" (or "data" without the keys listed) parsed by PostgreSQL alike

sub same_object {
    my ($event_where, $answer, @without) = @_;
    my $minus = join('', map { " - '$_'" } @without);
    return sql("SELECT ((data->'object')$minus)::text"
               . " = ((\$j\$$answer\$j\$::jsonb->'data')$minus)::text"
               . " FROM events WHERE $event_where");
}

sub deliveries {
    my ($where) = @_;
    return sql("SELECT count(*) FROM webhook_deliveries WHERE $where");
}

Test::Nginx::Socket::add_response_body_check(sub {
    my ($block, $body, $req_idx, $repeated, $dry_run) = @_;
    my $name = $block->name;

    return if $dry_run;

    my $d = eval { JSON::PP::decode_json($body) } || {};

    if ($name =~ /the record as answered/) {
        my $id = $d->{data}{id};
        is(same_object("record_id = '$id' AND type = 'contact.created'",
                       $body), 't', "$name - created");

        my ($s, undef, undef) = api('PATCH', "/api/v1/contacts/$id", $KA,
            '{"title":"Tab\\tand \\"quotes\\" \\u00e9\\u2028",'
            . '"customFields":{"score":-0.000120,"note":"x\\\\y"}}');
        is($s, 200, "$name - updated");
        my ($gs, $gb) = CRM::Test::http_request('GET',
            "/api/v1/contacts/$id", ["X-API-Key: $KA"]);
        is(same_object("record_id = '$id' AND type = 'contact.updated'",
                       $gb), 't', "$name - updated, as GET answers");
        my ($num) = $gb =~ /"score"\s*:\s*([-+0-9.eE]+)/;
        is(sql("SELECT data->'object'->'customFields'->>'score'"
               . " FROM events WHERE record_id = '$id'"
               . " AND type = 'contact.updated'"),
           $num, "$name - the number as GET writes it");

        ($s) = api('DELETE', "/api/v1/contacts/$id", $KA);
        is($s, 204, "$name - deleted");
        is(same_object("record_id = '$id' AND type = 'contact.deleted'",
                       $gb, 'updatedAt'), 't',
           "$name - deleted: the record but its updatedAt");
        is(sql("SELECT (data->'object'->>'updatedAt')"
               . " ~ '^\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{3}Z\$'"
               . " AND data->'object'->>'updatedAt'"
               . " > data->'object'->>'createdAt'"
               . " FROM events WHERE record_id = '$id'"
               . " AND type = 'contact.deleted'"),
           't', "$name - deleted: updatedAt rendered, later");

    } elsif ($name =~ /a conversion's events/) {
        my ($cid) = $d->{data}{contactId};
        my ($gs, $gb) = CRM::Test::http_request('GET',
            "/api/v1/contacts/$cid", ["X-API-Key: $KA"]);
        is($gs, 200, "$name - the contact");
        is(same_object("record_id = '$cid' AND type = 'contact.created'",
                       $gb), 't', "$name - contact.created as GET answers");
        my $lid = '55555555-5555-4555-8555-555555555555';
        ($gs, $gb) = CRM::Test::http_request('GET',
            "/api/v1/leads/$lid", ["X-API-Key: $KA"]);
        is(same_object("record_id = '$lid' AND type = 'lead.converted'",
                       $gb), 't', "$name - lead.converted as GET answers");

    } elsif ($name =~ /fan-out/) {
        is(deliveries('true'), 0, "$name - no subscription: no delivery");
        my ($s, $w) = api('POST', '/api/v1/webhooks', $KA,
            '{"url":"http://127.0.0.1:9/deals","events":["deal.*"]}');
        is($s, 201, "$name - a subscription to deals");
        my ($s2, $c) = api('POST', '/api/v1/contacts', $KA,
                           '{"firstName":"Fan","email":"fan2@out.test"}');
        is($s2, 201, "$name - a contact");
        is(deliveries('true'), 0, "$name - a subscription that does not"
                                  . " match: no delivery");
        my ($s3, $all) = api('POST', '/api/v1/webhooks', $KA,
            '{"url":"http://127.0.0.1:9/all","events":["*"]}');
        is($s3, 201, "$name - a subscription to everything");
        ($s2, $c) = api('POST', '/api/v1/contacts', $KA,
                        '{"firstName":"Fan","email":"fan3@out.test"}');
        my $cid = $c->{data}{id};
        is(deliveries("event_id = (SELECT id FROM events"
                      . " WHERE record_id = '$cid')"
                      . " AND webhook_id = '$all->{data}{id}'"
                      . " AND record_key = '$cid'"
                      . " AND event_type = 'contact.created'"), 1,
           "$name - a match: one delivery, to it");
        is(deliveries('true'), 1, "$name - and none to the other");
        ($s) = api('PATCH', "/api/v1/webhooks/$all->{data}{id}", $KA,
                   '{"active":false}');
        is($s, 200, "$name - deactivated");
        ($s2, $c) = api('POST', '/api/v1/contacts', $KA,
                        '{"firstName":"Fan","email":"fan4@out.test"}');
        is(deliveries('true'), 1, "$name - an inactive one: no delivery");
        ($s) = api('PATCH', "/api/v1/webhooks/$all->{data}{id}", $KA,
                   '{"active":true}');
        ($s, my $t) = api('POST', "/api/v1/webhooks/$w->{data}{id}/test",
                          $KA);
        is($s, 202, "$name - a test ping") or diag(explain($t));
        is(deliveries("event_type = 'webhook.test'"), 1,
           "$name - webhook.test: only the pinged subscription's");
        is(deliveries("event_type = 'webhook.test'"
                      . " AND webhook_id = '$w->{data}{id}'"), 1,
           "$name - to it");

    } elsif ($name =~ /the purge/) {
        is(sql("SELECT string_agg(record_id::text, ' ' ORDER BY record_id)"
               . " FROM events"),
           'a0000000-0000-4000-8000-000000000003'
           . ' b0000000-0000-4000-8000-000000000003',
           "$name - the newer events are left, in both workspaces");
        is(deliveries('true'), 1, "$name - with their delivery only");
        sql("INSERT INTO events (workspace_id, type, record_id, data,"
            . " created_at) SELECT w, 'contact.updated', gen_random_uuid(),"
            . " '{}', now() - interval '40 days'"
            . " FROM unnest(ARRAY['$A', '$B']::uuid[]) w,"
            . " generate_series(1, 3)");
        is(sql("SELECT db_events_purge('30 days', 4)"), 4,
           "$name - a batch at most");
        is(sql("SELECT db_events_purge('30 days', 4)"), 2,
           "$name - then the rest");
        is(sql("SELECT db_events_purge('30 days', 4)"), 0,
           "$name - then nothing");
        is(sql("SELECT count(*) FROM events"), 2,
           "$name - the newer ones still there");

        # analytics first engagements: of buckets that ended before the
        # horizon (began more than 30 + 7 days ago), a batch at a time
        sql("INSERT INTO analytics_contact_firsts (workspace_id, scope,"
            . " who, kind, grain, bucket, first_at)"
            . " SELECT w, '00000000-0000-0000-0000-000000000000',"
            . " gen_random_uuid(), 'o', 'w', now() - d * interval '1 day',"
            . " now() - d * interval '1 day'"
            . " FROM unnest(ARRAY['$A', '$B']::uuid[]) w,"
            . " unnest(ARRAY[38, 40, 36, 2]) d");
        is(sql("SELECT db_events_purge('30 days', 3)"), 3,
           "$name - old first engagements: a batch at most");
        is(sql("SELECT db_events_purge('30 days', 3)"), 1,
           "$name - then the rest");
        is(sql("SELECT db_events_purge('30 days', 3)"), 0,
           "$name - then nothing");
        is(sql("SELECT string_agg(extract(day FROM now() - bucket)::text,"
               . " ' ' ORDER BY bucket) FROM analytics_contact_firsts"),
           '36 36 2 2', "$name - the buckets that may still get events"
           . " are left");
    }
});

no_shuffle();
run_tests();

__DATA__

=== TEST 1: every write's event holds the record as answered
--- sql
INSERT INTO custom_fields (workspace_id, object, name, type) VALUES ('11111111-1111-4111-8111-111111111111', 'contacts', 'score', 'number'), ('11111111-1111-4111-8111-111111111111', 'contacts', 'note', 'text');
--- request
POST /api/v1/contacts
{"firstName":"Ev \u00e9\u00e8 \"Q\"","lastName":"D<a>ta","email":"ev@data.test","tags":["a","b c"],"customFields":{"score":12.50,"note":"line\nbreak"}}
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json
--- error_code: 201
--- response_body_like: "score"



=== TEST 2: a conversion's events hold the records as GET answers them
--- sql
INSERT INTO leads (workspace_id, id, first_name, last_name, email, company_name) VALUES ('11111111-1111-4111-8111-111111111111', '55555555-5555-4555-8555-555555555555', 'Lee', 'Ead', 'lee2@lead.test', 'Lead Two');
--- request
POST /api/v1/leads/55555555-5555-4555-8555-555555555555/convert
{}
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json
--- error_code: 200
--- response_body_like: "contactId"



=== TEST 3: the fan-out: deliveries only for matching active subscriptions
--- sql
TRUNCATE webhook_deliveries, webhooks;
--- request
POST /api/v1/contacts
{"firstName":"Fan","email":"fan1@out.test"}
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json
--- error_code: 201
--- response_body_like: "Fan"



=== TEST 4: the purge deletes old events of every workspace, with deliveries
--- sql
TRUNCATE webhook_deliveries, webhooks, events;
INSERT INTO events (workspace_id, id, type, record_id, data, created_at) VALUES ('11111111-1111-4111-8111-111111111111', 'evt_a1', 'contact.updated', 'a0000000-0000-4000-8000-000000000001', '{}', now() - interval '40 days'), ('11111111-1111-4111-8111-111111111111', 'evt_a2', 'contact.updated', 'a0000000-0000-4000-8000-000000000002', '{}', now() - interval '31 days'), ('11111111-1111-4111-8111-111111111111', 'evt_a3', 'contact.updated', 'a0000000-0000-4000-8000-000000000003', '{}', now() - interval '29 days'), ('22222222-2222-4222-8222-222222222222', 'evt_b1', 'contact.updated', 'b0000000-0000-4000-8000-000000000001', '{}', now() - interval '40 days'), ('22222222-2222-4222-8222-222222222222', 'evt_b2', 'contact.updated', 'b0000000-0000-4000-8000-000000000002', '{}', now() - interval '31 days'), ('22222222-2222-4222-8222-222222222222', 'evt_b3', 'contact.updated', 'b0000000-0000-4000-8000-000000000003', '{}', now() - interval '29 days');
INSERT INTO webhooks (workspace_id, id, url, events, secret) VALUES ('11111111-1111-4111-8111-111111111111', '66666666-6666-4666-8666-666666666666', 'http://127.0.0.1:9/x', '{deal.*}', 'whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA');
INSERT INTO webhook_deliveries (workspace_id, webhook_id, event_id, event_type, record_key) SELECT workspace_id, '66666666-6666-4666-8666-666666666666', id, type, id FROM events WHERE workspace_id = '11111111-1111-4111-8111-111111111111';
SELECT db_events_purge('30 days', 1000);
--- request
GET /api/v1/events
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
--- error_code: 200
--- response_body_like: "recordId":"a0000000-0000-4000-8000-000000000003"
