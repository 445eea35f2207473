# Webhook delivery across failures of the delivering host and under the
# safety options: a worker killed with kill -9 while the receiver (slow,
# util/webhook_sink.py on 127.0.0.1) holds its requests, then a graceful
# restart of that nginx while deliveries are under way: every event
# arrives, a redelivery has the same webhook-id, one record's events keep
# their commit order.  crm_webhook_https_only refuses http:// URLs when a
# subscription is made or changed (422 https_required), and a delivery
# to an http:// subscription made before fails without a packet.
# crm_webhook_concurrency caps the deliveries in flight per subscription
# across two hosts.

use strict;
use warnings;

use Test::Nginx::Socket 'no_plan';
use Test::More;
use CRM::Test qw(api sql wait_for);

my $KA = $CRM::Test::KEY_A;
my $P = CRM::Test::hook_port();
my $BASE = "http://127.0.0.1:$P";

CRM::Test::reset();

# what a delivering host has: short leases, so that a dead worker's
# deliveries come back within seconds
our $HOOKS = <<'_EOC_';
    crm_webhooks on;
    crm_webhook_retry 1s 1s 1s 1s 1s 1s;
    crm_webhook_timeout 3s;
    crm_webhook_lease 4s;
    crm_jobs_interval 200ms;
    crm_outbound_allow 127.0.0.0/8;
_EOC_

sub hook {
    my ($path, $events) = @_;
    my ($s, $r) = api('POST', '/api/v1/webhooks', $KA,
                      qq({"url":"$BASE$path","events":$events}));
    die "webhook not made: $s" unless $s == 201;
    return $r->{data};
}

sub count_status {
    my ($hook, $status) = @_;
    return sql("SELECT count(*) FROM webhook_deliveries"
               . " WHERE webhook_id = '$hook' AND status = '$status'");
}

# the receiver's requests of one record, consecutive repeats (a
# redelivery) counted once: "type:version ..."
sub arrivals_of {
    my ($id, @r) = @_;
    my @seen;
    for my $r (grep { ($_->{json}{data}{object}{id} // '') eq $id } @r) {
        my $k = $r->{headers}{'webhook-id'};
        push @seen, $k unless @seen && $seen[-1] eq $k;
    }
    return join ' ', @seen;
}

Test::Nginx::Socket::add_response_body_check(sub {
    my ($block, $body, $req_idx, $repeated, $dry_run) = @_;
    my $name = $block->name;

    return if $dry_run;

    if ($name =~ /kill -9 and a restart/) {
        sql("TRUNCATE webhook_deliveries, webhooks");
        CRM::Test::hook_wipe();
        CRM::Test::hook_start();
        my $w = hook('/slow/1', '["company.*"]');
        my $master = CRM::Test::second_nginx(http => $HOOKS, master => 1);

        # four records, four events each: 16 deliveries, one at a time
        # per record
        my @ids;
        for my $i (1 .. 4) {
            my ($s, $c) = api('POST', '/api/v1/companies', $KA,
                              qq({"name":"K$i"}));
            push @ids, $c->{data}{id};
        }
        for my $v ('a', 'b', 'c') {
            api('PATCH', "/api/v1/companies/$_", $KA,
                qq({"industry":"$v"})) for @ids;
        }
        is(sql("SELECT count(*) FROM webhook_deliveries"
               . " WHERE webhook_id = '$w->{id}'"), 16,
           "$name - 16 deliveries to make");

        ok(wait_for(sub { scalar(CRM::Test::hook_requests()) >= 1 }, 10),
           "$name - the receiver holds a request");
        my $owner = sql("SELECT lease_owner FROM webhook_deliveries"
                        . " WHERE webhook_id = '$w->{id}'"
                        . " AND status = 'sending' LIMIT 1");
        my $worker = (split /:/, $owner)[1];
        ok($worker && $worker != $master, "$name - a worker has it");
        kill 'KILL', $worker;
        my $killed = sql("SELECT string_agg(event_id, ' ')"
                         . " FROM webhook_deliveries"
                         . " WHERE lease_owner = '$owner'");

        ok(wait_for(sub { count_status($w->{id}, 'succeeded') >= 6 }, 30),
           "$name - delivery goes on after the kill");
        ok(CRM::Test::stop_second_nginx('QUIT', 15),
           "$name - the host quits gracefully while delivering");
        is(sql("SELECT count(*) FROM webhook_deliveries"
               . " WHERE webhook_id = '$w->{id}' AND status = 'sending'"
               . " AND lease_owner NOT LIKE '%:$worker:%'"), 0,
           "$name - it left no delivery claimed");
        my $left = 16 - count_status($w->{id}, 'succeeded');
        ok($left > 0, "$name - some were left ($left)");

        CRM::Test::second_nginx(http => $HOOKS, master => 1);
        ok(wait_for(sub { count_status($w->{id}, 'succeeded') == 16 }, 40),
           "$name - all 16 delivered after the restart");
        CRM::Test::stop_second_nginx();

        my @r = grep { $_->{path} eq '/slow/1' } CRM::Test::hook_requests();
        my %got = map { $_->{headers}{'webhook-id'} => 1 } @r;
        my $events = sql("SELECT string_agg(id, ' ' ORDER BY id)"
                         . " FROM events WHERE type LIKE 'company.%'");
        is(join(' ', sort keys %got), $events,
           "$name - every event arrived, none lost");

        my @again = grep { $got{$_} } split ' ', $killed;
        my %n;
        $n{ $_->{headers}{'webhook-id'} }++ for @r;
        ok(@again && (grep { $n{$_} >= 2 } @again),
           "$name - what the killed worker was sending came again,"
           . " with the same webhook-id");
        ok(scalar(@r) > 16, "$name - at least once: " . scalar(@r)
                            . " requests for 16 events");

        for my $id (@ids) {
            my $want = sql("SELECT string_agg(id, ' ' ORDER BY seq)"
                           . " FROM events WHERE record_id = '$id'");
            is(arrivals_of($id, @r), $want,
               "$name - one record's events in commit order");
        }
        my $sigs = grep { $_->{headers}{'webhook-signature'} =~ /^v1,/ } @r;
        is($sigs, scalar @r, "$name - every request signed");
        CRM::Test::hook_stop();
        sql("TRUNCATE webhook_deliveries, webhooks");

    } elsif ($name =~ /an http subscription made before/) {
        CRM::Test::hook_wipe();
        CRM::Test::hook_start();
        my $w = JSON::PP::decode_json($body)->{data};
        ok($w->{id}, "$name - made while https only was off");

    } elsif ($name =~ /https only/) {
        my $old = sql("SELECT id FROM webhooks WHERE deleted_at IS NULL");
        my $d = JSON::PP::decode_json($body);
        is($d->{error}{code}, 'VALIDATION_FAILED', "$name - validation");
        is($d->{error}{details}{fields}[0]{field}, 'url', "$name - url");

        my ($s, $e) = api('PATCH', "/api/v1/webhooks/$old", $KA,
                          qq({"url":"$BASE/other"}));
        is($s, 422, "$name - nor changed to http://");
        is($e->{error}{details}{fields}[0]{code}, 'https_required',
           "$name - https_required");
        ($s) = api('PATCH', "/api/v1/webhooks/$old", $KA,
                   '{"description":"kept"}');
        is($s, 200, "$name - other changes of it are fine");
        ($s, my $h) = api('POST', '/api/v1/webhooks', $KA,
                          qq({"url":"https://127.0.0.1:$P/s",)
                          . '"events":["deal.deleted"]}');
        is($s, 201, "$name - https:// is made");
        api('DELETE', "/api/v1/webhooks/$h->{data}{id}", $KA);

        api('POST', '/api/v1/contacts', $KA, '{"email":"https@x.test"}');
        ok(wait_for(sub { sql("SELECT attempts FROM webhook_deliveries"
                              . " WHERE webhook_id = '$old'") eq '1' }, 10),
           "$name - the old subscription's delivery was tried");
        like(sql("SELECT status || ' ' || last_error FROM webhook_deliveries"
                 . " WHERE webhook_id = '$old'"),
             qr/^pending refused: an http:\/\/ URL while crm_webhook_https_only/,
             "$name - and failed, recorded");
        is(sql("SELECT response_status IS NULL FROM webhook_deliveries"
               . " WHERE webhook_id = '$old'"), 't', "$name - no answer");
        Time::HiRes::sleep(0.5);
        is(scalar(CRM::Test::hook_requests()), 0,
           "$name - the receiver got no request");
        api('DELETE', "/api/v1/webhooks/$old", $KA);
        CRM::Test::hook_stop();

    } elsif ($name =~ /in flight per subscription/) {
        sql("TRUNCATE webhook_deliveries, webhooks");
        CRM::Test::hook_wipe();
        CRM::Test::hook_start();
        CRM::Test::second_nginx(http => $HOOKS
                                        . "crm_webhook_concurrency 2;\n");
        my $w = hook('/slow/1', '["contact.created"]');
        my $x = hook('/slow/1', '["contact.created"]');
        for my $i (1 .. 8) {
            api('POST', '/api/v1/contacts', $KA, qq({"email":"c$i\@x.test"}));
        }
        my ($max, $maxx) = (0, 0);
        wait_for(sub {
            my ($a, $b) = split /\|/, sql(
                "SELECT count(*) FILTER (WHERE webhook_id = '$w->{id}'),"
                . " count(*) FILTER (WHERE webhook_id = '$x->{id}')"
                . " FROM webhook_deliveries WHERE status = 'sending'");
            $max = $a if $a > $max;
            $maxx = $b if $b > $maxx;
            return count_status($w->{id}, 'succeeded') == 8
                   && count_status($x->{id}, 'succeeded') == 8;
        }, 40);
        is(count_status($w->{id}, 'succeeded'), 8, "$name - all delivered");
        is(count_status($x->{id}, 'succeeded'), 8, "$name - to both");
        is($max, 2, "$name - at most 2 in flight for one (and 2 seen)");
        is($maxx, 2, "$name - at most 2 for the other, at the same time");

        # at the receiver: no more than 4 requests within any second
        my @t = map { $_->{time} } CRM::Test::hook_requests();
        my $most = 0;
        for my $i (0 .. $#t) {
            my $n = grep { $_ >= $t[$i] && $_ < $t[$i] + 0.9 } @t;
            $most = $n if $n > $most;
        }
        ok($most <= 4, "$name - the receiver saw at most 4 at once ($most)");
        CRM::Test::stop_second_nginx();
        CRM::Test::hook_stop();
    }
});

no_shuffle();
run_tests();

__DATA__

=== TEST 1: every event arrives across kill -9 and a restart of the delivering host
--- http_config
    crm_postgres "$TEST_NGINX_PG_DSN";
    crm_api_key test-key-a-0123456789abcdef 11111111-1111-4111-8111-111111111111;
--- request
GET /api/v1/webhooks
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
--- error_code: 200
--- timeout: 120



=== TEST 2: an http subscription made before https only
--- http_config
    crm_postgres "$TEST_NGINX_PG_DSN";
    crm_api_key test-key-a-0123456789abcdef 11111111-1111-4111-8111-111111111111;
--- request eval
"POST /api/v1/webhooks
{\"url\":\"http://127.0.0.1:" . CRM::Test::hook_port() . "/ok\",\"events\":[\"contact.*\"]}"
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json
--- error_code: 201



=== TEST 3: https only refuses http URLs, and their deliveries send nothing
--- http_config
    crm_postgres "$TEST_NGINX_PG_DSN";
    crm_api_key test-key-a-0123456789abcdef 11111111-1111-4111-8111-111111111111;
    crm_webhooks on;
    crm_webhook_https_only on;
    crm_webhook_retry 1h;
    crm_jobs_interval 200ms;
    crm_outbound_allow 127.0.0.0/8;
--- request eval
"POST /api/v1/webhooks
{\"url\":\"http://127.0.0.1:" . CRM::Test::hook_port() . "/new\",\"events\":[\"*\"]}"
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json
--- error_code: 422
--- response_body_like: "code":"https_required"
--- timeout: 30



=== TEST 4: deliveries in flight per subscription are capped across hosts
--- http_config
    crm_postgres "$TEST_NGINX_PG_DSN";
    crm_api_key test-key-a-0123456789abcdef 11111111-1111-4111-8111-111111111111;
    crm_webhooks on;
    crm_webhook_concurrency 2;
    crm_webhook_timeout 3s;
    crm_jobs_interval 200ms;
    crm_outbound_allow 127.0.0.0/8;
--- request
GET /api/v1/webhooks
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
--- error_code: 200
--- timeout: 60
