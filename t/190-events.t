# Events: every write publishes one in the same statement (create,
# update with the fields it set, delete, a link, each operation of a
# bulk, a lead's conversion, email events), rendered as the API renders
# the record; none when the write fails; the feed GET /events (filters,
# sort, cursor) and GET /events/:id; another workspace sees none of them.

use strict;
use warnings;

use Test::Nginx::Socket 'no_plan';
use Test::More;
use CRM::Test qw(api sql);

my $A = $CRM::Test::WS_A;
my $KA = $CRM::Test::KEY_A;
my $KB = $CRM::Test::KEY_B;

CRM::Test::reset();

sub events {
    my ($where) = @_;
    return sql("SELECT coalesce(string_agg(type, ' ' ORDER BY seq), '')"
               . " FROM events WHERE $where");
}

Test::Nginx::Socket::add_response_body_check(sub {
    my ($block, $body, $req_idx, $repeated, $dry_run) = @_;
    my $name = $block->name;

    return if $dry_run;

    my $d = eval { JSON::PP::decode_json($body) } || {};

    if ($name =~ /a create publishes/) {
        my $id = $d->{data}{id};
        is(events("record_id = '$id'"), 'contact.created', "$name - one");
        my $e = JSON::PP::decode_json(sql(
            "SELECT data::text FROM events WHERE record_id = '$id'"));
        is_deeply($e->{object}, $d->{data},
                  "$name - the record as the API rendered it");
        like(sql("SELECT id FROM events WHERE record_id = '$id'"),
             qr/\Aevt_[0-9a-f]{32}\z/, "$name - an evt_ id");

        my ($s, $u) = api('PATCH', "/api/v1/contacts/$id", $KA,
                          '{"firstName":"Ada","title":"Countess"}');
        is($s, 200, "$name - updated");
        my $ch = JSON::PP::decode_json(sql(
            "SELECT data::text FROM events WHERE record_id = '$id'"
            . " AND type = 'contact.updated'"));
        is_deeply([sort @{ $ch->{changes} }], ['firstName', 'title'],
                  "$name - the update names the fields it set");
        is($ch->{object}{firstName}, 'Ada', "$name - the new state");

        ($s) = api('DELETE', "/api/v1/contacts/$id", $KA);
        is($s, 204, "$name - deleted");
        is(events("record_id = '$id'"),
           'contact.created contact.updated contact.deleted',
           "$name - in order");

        ($s) = api('PATCH', "/api/v1/contacts/$id", $KA,
                   '{"firstName":"Gone"}');
        is($s, 404, "$name - a write that changes nothing");
        is(events("record_id = '$id'"),
           'contact.created contact.updated contact.deleted',
           "$name - publishes nothing");

        ($s) = api('POST', '/api/v1/contacts', $KA,
                   '{"email":"a@b.test","firstName":"Dup"}');
        ($s) = api('POST', '/api/v1/contacts', $KA,
                   '{"email":"a@b.test","firstName":"Dup"}');
        is($s, 409, "$name - a failed create");
        is(sql("SELECT count(*) FROM events WHERE type = 'contact.created'"
               . " AND data->'object'->>'firstName' = 'Dup'"), 1,
           "$name - no event for it");

    } elsif ($name =~ /bulk publishes one event per operation/) {
        is(scalar @{ $d->{data} }, 3, "$name - three results");
        is(events("type LIKE 'company.%' AND data->'object'->>'industry'"
                  . " = 'bulk'"), 'company.created company.created',
           "$name - the two that succeeded, nothing for the failure");

        my ($s, $r) = api('POST', '/api/v1/companies/bulk', $KA,
            '{"atomic":true,"operations":['
            . '{"method":"create","data":{"name":"X","industry":"atomic"}},'
            . '{"method":"create","data":{}}]}');
        is(events("data->'object'->>'industry' = 'atomic'"), '',
           "$name - an atomic batch rolled back publishes nothing");

    } elsif ($name =~ /a link publishes/) {
        my $deal = $d->{data}{id};
        my ($s, $c) = api('POST', '/api/v1/contacts', $KA,
                          '{"email":"link@b.test"}');
        my $cid = $c->{data}{id};
        ($s) = api('POST', "/api/v1/deals/$deal/contacts", $KA,
                   qq({"id":"$cid"}));
        is($s, 200, "$name - linked");
        my $e = JSON::PP::decode_json(sql(
            "SELECT data::text FROM events WHERE record_id = '$deal'"
            . " ORDER BY seq DESC LIMIT 1"));
        is_deeply($e->{changes}, ['contactIds'], "$name - contactIds");
        is_deeply($e->{object}{contactIds}, [$cid], "$name - the new links");

    } elsif ($name =~ /a conversion publishes/) {
        my $lead = $d->{data}{leadId};
        is(events("record_id IN ('$d->{data}{leadId}', "
                  . "'$d->{data}{contactId}', '$d->{data}{companyId}')"
                  . " AND type <> 'lead.created'"),
           'company.created contact.created lead.converted',
           "$name - what it made, and the lead");
        my $e = JSON::PP::decode_json(sql(
            "SELECT data::text FROM events WHERE type = 'lead.converted'"));
        is($e->{object}{status}, 'converted', "$name - the lead as it is");
        is($e->{object}{convertedContactId}, $d->{data}{contactId},
           "$name - rendered like GET /leads/:id");
        my ($s, $g) = api('GET', "/api/v1/leads/$lead", $KA);
        is_deeply($e->{object}, $g->{data}, "$name - exactly");

    } elsif ($name =~ /email events publish/) {
        my $id = $d->{data}{id};
        is(events("record_id = '$id'"), 'email.queued', "$name - queued");
        sql("INSERT INTO email_events (workspace_id, email_id, type)"
            . " VALUES ('$A', '$id', 'bounced')");
        is(events("record_id = '$id'"), 'email.queued email.bounced',
           "$name - bounced");

    } elsif ($name =~ /the feed/) {
        my ($s, $r) = api('GET', '/api/v1/events?type=contact.deleted', $KA);
        is($s, 200, "$name - filtered");
        is(scalar @{ $r->{data} }, 1, "$name - one deleted contact");
        my $e = $r->{data}[0];
        ($s, my $g) = api('GET', "/api/v1/events/$e->{id}", $KA);
        is($s, 200, "$name - one event");
        is_deeply($g->{data}, $e, "$name - the same");

        ($s, $r) = api('GET', '/api/v1/events?sort=sequence&limit=2', $KA);
        is(scalar @{ $r->{data} }, 2, "$name - a page");
        ok($r->{data}[0]{sequence} < $r->{data}[1]{sequence},
           "$name - by sequence");
        my $seq = $r->{data}[1]{sequence};
        ($s, my $n) = api('GET', "/api/v1/events?sequence[gt]=$seq"
                                 . "&sort=sequence&limit=200", $KA);
        is($s, 200, "$name - caught up from a sequence");
        is($n->{data}[0]{sequence} > $seq ? 1 : 0, 1,
           "$name - after it");

        ($s) = api('GET', "/api/v1/events/$e->{id}", $KB);
        is($s, 404, "$name - another workspace's event is not found");
        ($s, $r) = api('GET', '/api/v1/events', $KB);
        is(scalar @{ $r->{data} }, 0, "$name - nor listed");
        ($s) = api('GET', '/api/v1/events/evt_nope', $KA);
        is($s, 404, "$name - no such event");
        ($s) = api('DELETE', "/api/v1/events/$e->{id}", $KA);
        is($s, 405, "$name - read only");
        ($s) = api('POST', '/api/v1/events', $KA, '{}');
        is($s, 405, "$name - no POST");
    }
});

no_shuffle();
run_tests();

__DATA__

=== TEST 1: a create publishes contact.created, the update and delete follow
--- request
POST /api/v1/contacts
{"email":"ev@b.test","firstName":"Ev","tags":["x"]}
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json
--- error_code: 201
--- response_body_like: "email":"ev@b.test"



=== TEST 2: bulk publishes one event per operation that succeeded
--- request
POST /api/v1/companies/bulk
{"operations":[{"method":"create","data":{"name":"B1","industry":"bulk"}},{"method":"create","data":{}},{"method":"create","data":{"name":"B2","industry":"bulk"}}]}
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json
--- error_code: 207
--- response_body_like: "index":2



=== TEST 3: a link publishes the parent's update
--- request
POST /api/v1/deals
{"name":"Linked deal"}
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json
--- error_code: 201
--- response_body_like: "name":"Linked deal"



=== TEST 4: a conversion publishes what it made and lead.converted
--- sql
INSERT INTO leads (workspace_id, id, first_name, last_name, email, company_name) VALUES ('11111111-1111-4111-8111-111111111111', '44444444-4444-4444-8444-444444444444', 'Lee', 'Ead', 'lee@lead.test', 'Lead Co');
--- request
POST /api/v1/leads/44444444-4444-4444-8444-444444444444/convert
{}
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json
--- error_code: 200
--- response_body_like: "contactId"



=== TEST 5: email events publish email.<type>
--- request
POST /api/v1/emails/send
{"to":"mail@ev.test","subject":"s","text":"t"}
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json
--- error_code: 202
--- response_body_like: "status":"queued"



=== TEST 6: the feed lists, filters, pages; another workspace sees nothing
--- request
GET /api/v1/events?type=contact.created
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
--- error_code: 200
--- response_body_like: "type":"contact.created".*"data":\{"object"
