# GET /health: PostgreSQL and Redis status, without authentication.  And
# a crm_api without crm_postgres: nginx refuses the configuration.

use strict;
use warnings;

use Test::Nginx::Socket 'no_plan';
use Test::More;
use JSON::PP;
use CRM::Test qw(http_request error_log);

sub health {
    my ($want) = @_;
    my ($status, $body);
    for (1 .. 40) {
        ($status, $body) = http_request('GET', '/api/v1/health');
        my $doc = eval { decode_json($body) } || {};
        return ($status, $doc) if ($doc->{data}{status} // '') eq $want;
        Time::HiRes::sleep(0.1);
    }
    return ($status, eval { decode_json($body) } || {});
}

Test::Nginx::Socket::add_response_body_check(sub {
    my ($block, $body, $req_idx, $repeated, $dry_run) = @_;
    my $name = $block->name;

    if ($name =~ /without crm_postgres/) {
        ok(!eval { CRM::Test::second_nginx(no_postgres => 1); 1 },
           "$name - nginx does not start");
        like(error_log('second'), qr/\[emerg\].*"crm_api" in \S+nginx\.conf:\d+ needs "crm_postgres" in the http block/,
             "$name - and says why, and where");
        return;
    }

    return unless $name =~ /Redis goes away/;

    my ($status, $doc) = health('ok');
    is($status, 200, "$name - ok first");
    is($doc->{data}{checks}{redis}{status}, 'up', "$name - redis up");
    ok(defined $doc->{data}{checks}{redis}{latencyMs}, "$name - latency");

    CRM::Test::redis('stop');
    ($status, $doc) = health('degraded');
    is($status, 200, "$name - still 200 without Redis");
    is($doc->{data}{status}, 'degraded', "$name - degraded");
    is($doc->{data}{checks}{redis}{status}, 'down', "$name - redis down");
    is($doc->{data}{checks}{postgres}{status}, 'up', "$name - postgres up");

    # the API itself does not need Redis
    my ($s) = http_request('GET', '/api/v1/contacts',
                           ["X-API-Key: $CRM::Test::KEY_A"]);
    is($s, 200, "$name - the API serves without Redis");

    CRM::Test::redis('start');
    ($status, $doc) = health('ok');
    is($doc->{data}{status}, 'ok', "$name - ok again without a reload");
});

no_shuffle();
run_tests();

__DATA__

=== TEST 1: health needs no credentials and reports PostgreSQL
--- request
GET /api/v1/health
--- error_code: 200
--- response_body_like: ^\{"data":\{"status":"(ok|degraded)","checks":\{"postgres":\{"status":"up","latencyMs":\d+\},"redis":\{"status":"(up|down)"(,"latencyMs":\d+)?\}\}\},"meta":\{"requestId":"req_[0-9a-f]{24}","timestamp":"[^"]+"\}\}$

=== TEST 2: without crm_redis, Redis is reported disabled
--- http_config
    crm_postgres "$TEST_NGINX_PG_DSN";
--- request
GET /api/v1/health
--- error_code: 200
--- response_body_like: "status":"ok",.*"redis":\{"status":"disabled"\}

=== TEST 3: Redis goes away and comes back: degraded, never down
--- request
GET /api/v1/health
--- error_code: 200

=== TEST 4: crm_api without crm_postgres: nginx does not start
--- request
GET /api/v1/health
--- error_code: 200

=== TEST 5: HEAD on health has the status and no body
--- request
HEAD /api/v1/health
--- error_code: 200
--- response_body
