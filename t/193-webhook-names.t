# Webhook URLs that name their host: resolved by nginx's resolver (the
# http{} block's "resolver") against a test DNS server on 127.0.0.1
# (util/dns_sink.py), never by libcurl; the address policy checks every
# address a name resolves to and the delivery connects to an allowed one
# only, pinned, with the name in Host.  A name that resolves only to
# refused addresses sends nothing; one that does not resolve (NXDOMAIN,
# no answer) is a failed attempt with its error stored, retried, and
# the worker keeps serving while it waits.  Without a resolver a name
# is refused when a subscription is made (422 host_name).
#
# Names of the test DNS server:
#   hook.test  127.0.0.1 (the receiver)
#   mix.test   127.0.0.2, ::1 and 127.0.0.1 (only the last one allowed)
#   evil.test  127.0.0.2 and ::1
#   gone.test  NXDOMAIN
#   slow.test  no answer

use strict;
use warnings;

use Test::Nginx::Socket 'no_plan';
use Test::More;
use CRM::Test qw(api sql wait_for);

my $KA = $CRM::Test::KEY_A;
my $P = CRM::Test::hook_port();
my $SECRET = 'whsec_MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3';

$ENV{TEST_NGINX_DNS_PORT} = CRM::Test::dns_port();

CRM::Test::reset();

CRM::Test::dns_start('hook.test=127.0.0.1',
                     'mix.test=127.0.0.2,::1,127.0.0.1',
                     'evil.test=127.0.0.2,::1',
                     'gone.test=nxdomain',
                     'slow.test=drop');

sub hook {
    my ($url) = @_;
    my ($s, $r) = api('POST', '/api/v1/webhooks', $KA,
                      qq({"url":"$url","events":["contact.created"],)
                      . qq("secret":"$SECRET"}));
    die "webhook not made: $s" unless $s == 201;
    return $r->{data}{id};
}

sub delivery {
    my ($hook) = @_;
    my ($s, $l) = api('GET', "/api/v1/webhooks/$hook/deliveries", $KA);
    return ($l->{data} || [])->[0] || {};
}

sub attempts {
    my ($hook) = @_;
    return sql("SELECT coalesce(max(attempts), 0) FROM webhook_deliveries"
               . " WHERE webhook_id = '$hook'");
}

sub queried {
    my ($name) = @_;
    return scalar grep { $_->{name} eq $name } CRM::Test::dns_queries();
}

add_response_body_check(sub {
    my ($block, $body, $req_idx, $repeated, $dry_run) = @_;
    my $name = $block->name;

    return if $dry_run;

    my $d = eval { JSON::PP::decode_json($body) } || {};

    if ($name =~ /without a resolver/) {
        my $f = $d->{error}{details}{fields}[0] || {};
        is($f->{field}, 'url', "$name - field url");
        like($f->{message}, qr/needs a resolver/, "$name - says why");

        my ($s, $e) = api('POST', '/api/v1/webhooks', $KA,
                          qq({"url":"http://127.0.0.1:$P/ok",)
                          . '"events":["*"]}');
        is($s, 201, "$name - an IP address is fine");
        my $id = $e->{data}{id};
        ($s, $e) = api('PATCH', "/api/v1/webhooks/$id", $KA,
                       '{"url":"https://hooks.example.com/x"}');
        is($s, 422, "$name - nor is a URL changed to a name");
        is($e->{error}{details}{fields}[0]{code}, 'host_name',
           "$name - host_name");
        api('DELETE', "/api/v1/webhooks/$id", $KA);

        # made by a server that has a resolver, delivered by this one
        CRM::Test::hook_wipe();
        CRM::Test::hook_start();
        sql("INSERT INTO webhooks (workspace_id, url, events, secret)"
            . " VALUES ('$CRM::Test::WS_A', 'http://hook.test:$P/ok',"
            . " '{contact.created}', '$SECRET')");
        my $w = sql("SELECT id FROM webhooks WHERE deleted_at IS NULL"
                    . " AND url LIKE '%hook.test%'");
        api('POST', '/api/v1/contacts', $KA, '{"email":"nores@x.test"}');
        ok(wait_for(sub { attempts($w) >= 1 }, 10), "$name - tried");
        like(delivery($w)->{lastError}, qr/no resolver/,
             "$name - the delivery log says: no resolver");
        is(scalar(CRM::Test::hook_requests()), 0, "$name - nothing sent");
        is(queried('hook.test'), 0, "$name - nothing resolved");
        sql("DELETE FROM webhook_deliveries; DELETE FROM webhooks");
        CRM::Test::hook_stop();

    } elsif ($name =~ /signed deliveries to a name/) {
        sql("TRUNCATE webhook_deliveries, webhooks");
        CRM::Test::hook_wipe();
        CRM::Test::hook_start($SECRET);
        my $w = hook("http://hook.test:$P/ok");
        my $m = hook("http://Mix.test:$P/mix");
        my $x = hook("http://evil.test:$P/evil");

        my ($s, $c) = api('POST', '/api/v1/contacts', $KA,
                          '{"email":"names@x.test"}');
        ok(wait_for(sub {
               grep { $_->{path} eq '/ok' } CRM::Test::hook_requests()
           }, 10), "$name - delivered to hook.test");
        my ($r) = grep { $_->{path} eq '/ok' } CRM::Test::hook_requests();
        is($r->{headers}{host}, "hook.test:$P", "$name - Host: the name");
        ok($r->{verified}, "$name - signed with the secret");
        is($r->{json}{data}{object}{id}, $c->{data}{id}, "$name - the event");
        ok(wait_for(sub { (delivery($w)->{status} // '') eq 'succeeded' },
                    5), "$name - recorded succeeded");
        is(delivery($w)->{responseStatus}, 200, "$name - with its status");
        ok(queried('hook.test') >= 1, "$name - nginx's resolver asked");

        ok(wait_for(sub {
               grep { $_->{path} eq '/mix' } CRM::Test::hook_requests()
           }, 10),
           "$name - a name with refused and allowed addresses: delivered");
        ($r) = grep { $_->{path} eq '/mix' } CRM::Test::hook_requests();
        is($r->{headers}{host}, "Mix.test:$P", "$name - Host: that name");
        ok($r->{verified}, "$name - signed");

        ok(wait_for(sub { attempts($x) >= 2 }, 10),
           "$name - only refused addresses: attempts, retried");
        my $e = delivery($x);
        is($e->{status}, 'pending', "$name - pending again");
        like($e->{lastError}, qr/^address refused: "evil\.test" resolves only/,
             "$name - address refused");
        like($e->{lastError}, qr/127\.0\.0\.2 loopback/,
             "$name - names the address and its range");
        like($e->{lastError}, qr/::1 loopback/, "$name - every address");
        ok(!defined $e->{responseStatus}, "$name - no answer");
        is(scalar(grep { $_->{path} eq '/evil' }
                  CRM::Test::hook_requests()), 0,
           "$name - the receiver got nothing for it");
        CRM::Test::hook_stop();

    } elsif ($name =~ /refusing loopback/) {
        sql("TRUNCATE webhook_deliveries, webhooks");
        CRM::Test::hook_wipe();
        CRM::Test::hook_start($SECRET);
        my $w = hook("http://hook.test:$P/ok");
        my $x = hook("http://evil.test:$P/evil");
        api('POST', '/api/v1/contacts', $KA, '{"email":"ssrf@x.test"}');
        ok(wait_for(sub { attempts($w) >= 2 && attempts($x) >= 2 }, 10),
           "$name - tried and retried");
        my $want = '^address refused: "hook\.test" resolves only .*: '
                   . '127\.0\.0\.1 loopback$';
        like(delivery($w)->{lastError}, qr/$want/,
             "$name - hook.test: address refused");
        like(delivery($x)->{lastError}, qr/^address refused: "evil\.test"/,
             "$name - evil.test: address refused");
        is(delivery($w)->{status}, 'pending', "$name - retried later");
        Time::HiRes::sleep(0.3);
        is(scalar(CRM::Test::hook_requests()), 0,
           "$name - the receiver (on 127.0.0.1) got nothing");
        CRM::Test::hook_stop();

    } elsif ($name =~ /do not resolve/) {
        sql("TRUNCATE webhook_deliveries, webhooks");
        CRM::Test::hook_wipe();
        CRM::Test::hook_start($SECRET);
        my $g = hook("http://gone.test:$P/gone");
        my $w = hook("https://slow.test:$P/slow");
        my $before = queried('slow.test');
        api('POST', '/api/v1/contacts', $KA, '{"email":"gone@x.test"}');

        ok(wait_for(sub { queried('slow.test') > $before }, 5),
           "$name - slow.test is being resolved");
        my ($worst, $n) = (0, 0);
        for (1 .. 10) {
            my $t = Time::HiRes::time();
            my ($s) = api('GET', '/api/v1/contacts?limit=1', $KA);
            $n++ if $s == 200;
            my $dt = Time::HiRes::time() - $t;
            $worst = $dt if $dt > $worst;
            Time::HiRes::sleep(0.05);
        }
        is($n, 10, "$name - the worker serves meanwhile");
        # a worker blocked by the lookup would answer after
        # resolver_timeout (2 s); the margin is for a loaded machine
        ok($worst < 1.5, "$name - at once ($worst s at worst)");
        is(delivery($w)->{status}, 'sending',
           "$name - while slow.test is still unanswered");

        ok(wait_for(sub { defined delivery($w)->{lastError} }, 10),
           "$name - slow.test: a failed attempt");
        my $e = delivery($w);
        is($e->{lastError}, 'could not resolve "slow.test": Operation '
                            . 'timed out', "$name - stored: timed out");
        # bounded by resolver_timeout (2 s), not crm_webhook_timeout (10 s)
        ok($e->{durationMs} >= 1900 && $e->{durationMs} < 9000,
           "$name - after resolver_timeout ($e->{durationMs} ms)");
        is($e->{status}, 'pending', "$name - to be retried");

        ok(wait_for(sub { attempts($g) >= 2 }, 10),
           "$name - gone.test: failed attempts, retried");
        $e = delivery($g);
        is($e->{lastError}, 'could not resolve "gone.test": Host not found',
           "$name - stored: NXDOMAIN");
        is($e->{status}, 'pending', "$name - pending again");
        ok(!defined $e->{responseStatus}, "$name - no answer");

        ok(wait_for(sub { attempts($w) >= 2 }, 10),
           "$name - slow.test retried too");
        is(scalar(CRM::Test::hook_requests()), 0,
           "$name - nothing reached the receiver");
        CRM::Test::hook_stop();
    }
});

no_shuffle();
run_tests();

__DATA__

=== TEST 1: without a resolver a host name is refused when a webhook is made
--- http_config
    crm_postgres "$TEST_NGINX_PG_DSN";
    crm_api_key test-key-a-0123456789abcdef 11111111-1111-4111-8111-111111111111;
    crm_webhooks on;
    crm_webhook_retry 1s 1s 1s;
    crm_jobs_interval 200ms;
    crm_outbound_allow 127.0.0.1/32;
--- request eval
"POST /api/v1/webhooks
{\"url\":\"https://hooks.example.com/x\",\"events\":[\"*\"]}"
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json
--- error_code: 422
--- response_body_like: "code":"host_name"
--- timeout: 30



=== TEST 2: signed deliveries to a name, pinned to an allowed address
--- http_config
    crm_postgres "$TEST_NGINX_PG_DSN";
    crm_api_key test-key-a-0123456789abcdef 11111111-1111-4111-8111-111111111111;
    resolver 127.0.0.1:$TEST_NGINX_DNS_PORT valid=1s;
    resolver_timeout 2s;
    crm_webhooks on;
    crm_webhook_retry 1s 1s 1s 1s 1s 1s;
    crm_jobs_interval 200ms;
    crm_outbound_allow 127.0.0.1/32;
--- request
GET /api/v1/webhooks
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
--- error_code: 200
--- timeout: 60



=== TEST 3: a policy refusing loopback: names of loopback addresses get nothing
--- http_config
    crm_postgres "$TEST_NGINX_PG_DSN";
    crm_api_key test-key-a-0123456789abcdef 11111111-1111-4111-8111-111111111111;
    resolver 127.0.0.1:$TEST_NGINX_DNS_PORT valid=1s;
    resolver_timeout 2s;
    crm_webhooks on;
    crm_webhook_retry 1s 1s 1s 1s 1s 1s;
    crm_jobs_interval 200ms;
--- request
GET /api/v1/webhooks
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
--- error_code: 200
--- timeout: 60



=== TEST 4: names that do not resolve are failed attempts, retried
--- http_config
    crm_postgres "$TEST_NGINX_PG_DSN";
    crm_api_key test-key-a-0123456789abcdef 11111111-1111-4111-8111-111111111111;
    resolver 127.0.0.1:$TEST_NGINX_DNS_PORT valid=1s;
    resolver_timeout 2s;
    crm_webhooks on;
    crm_webhook_retry 1s 1s 1s 1s 1s 1s;
    crm_webhook_timeout 10s;
    crm_jobs_interval 200ms;
    crm_outbound_allow 127.0.0.1/32;
--- request
GET /api/v1/webhooks
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
--- error_code: 200
--- timeout: 60
