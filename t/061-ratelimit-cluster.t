# Cluster-wide rate limits: two nginx instances on one Redis share the
# limit, each counting in its own zone and syncing with Redis every K
# admissions or sync interval, within the bound docs/DESIGN.md gives;
# without Redis each falls back to its own zone, never to a 5xx.

use strict;
use warnings;

use Test::Nginx::Socket 'no_plan';
use Test::More;
use CRM::Test qw(http_request sql);

my %K = %CRM::Test::KEYS;
my $A = $CRM::Test::WS_A;

CRM::Test::reset();
CRM::Test::stored_key($K{owner_a}, $A, '{*}');

my $root = $ENV{TEST_NGINX_SERVROOT} || 't/servroot';
my $port2 = ($ENV{TEST_NGINX_SERVER_PORT} || 1984) + 1;
my $dir2 = "$root-second";

# L = 10 a minute, K = 2 admissions between syncs, H = 2 hosts
my ($L, $K, $H) = (10, 2, 2);

our $limits = "crm_redis 127.0.0.1:$ENV{TEST_NGINX_REDIS_PORT};\n"
    . "    crm_auth_cache zone=crm_auth:1m ttl=30s;\n"
    . "    crm_rate_limit zone=crm_limit:1m per_minute=$L cluster;\n"
    . "    crm_rate_limit_sync 100ms;\n"
    . "    crm_rate_limit_sync_requests $K;";

# the cluster's count of the principal in Redis, in requests of the
# minute window: (TAT - now) / interval, rounded
sub redis_count {
    my $cli = "redis-cli -h 127.0.0.1 -p $ENV{TEST_NGINX_REDIS_PORT}";
    my @keys = grep { /\S/ } split /\n/, `$cli --scan --pattern 'crm:rl:*'`;
    return undef unless @keys == 1;
    chomp(my $tat = `$cli HGET $keys[0] a`);
    my ($s, $us) = split /\n/, `$cli TIME`;
    return int(($tat - ($s * 1e6 + $us)) / (60e6 / $L) + 0.5);
}

# a second nginx, as another host would run it
sub second_nginx {
    system("rm -rf $dir2");
    mkdir $dir2;
    mkdir "$dir2/$_" for qw(conf logs tmp);
    my $mods = join '', map { "load_module $_;\n" }
               split ' ', ($ENV{TEST_NGINX_LOAD_MODULES} // '');
    open my $fh, '>', "$dir2/conf/nginx.conf" or die $!;
    print $fh <<"_EOC_";
$mods
daemon on;
master_process off;
error_log $dir2/logs/error.log info;
pid $dir2/logs/nginx.pid;
events { worker_connections 64; }
http {
    access_log off;
    client_body_temp_path $dir2/tmp/body;
    proxy_temp_path $dir2/tmp/proxy;
    fastcgi_temp_path $dir2/tmp/fastcgi;
    uwsgi_temp_path $dir2/tmp/uwsgi;
    scgi_temp_path $dir2/tmp/scgi;
    crm_postgres "$ENV{TEST_NGINX_PG_DSN}";
    $limits
    server {
        listen 127.0.0.1:$port2;
        location /api/v1/ { crm_api; }
    }
}
_EOC_
    close $fh;
    system($ENV{TEST_NGINX_BINARY} || 'nginx', '-p', $dir2, '-c',
           "$dir2/conf/nginx.conf", '-e', "$dir2/logs/error.log") == 0
        or die "the second nginx did not start\n";

    local $CRM::Test::PORT = $port2;
    CRM::Test::wait_redis() or diag("the second nginx did not reach Redis");
}

sub stop_second {
    open my $fh, '<', "$dir2/logs/nginx.pid" or return;
    my $pid = <$fh>;
    chomp $pid;
    kill 'QUIT', $pid;
    for (1 .. 50) {
        last unless kill 0, $pid;
        Time::HiRes::sleep(0.1);
    }
}

Test::Nginx::Socket::add_response_body_check(sub {
    my ($block, $body, $req_idx, $repeated, $dry_run) = @_;
    my $name = $block->name;
    my @h = ("X-API-Key: $K{owner_a}");

    if ($name =~ /two hosts share/) {
        CRM::Test::redis_flush();
        ok(CRM::Test::wait_redis(), "$name - the first reaches Redis");
        second_nginx();

        # round robin, one request at a time: a = 1 allows each host's
        # answer to come one of its requests late
        my $bound = $L + ($H - 1) * (2 * $K + 2 * 1);
        my %n;
        for my $i (1 .. 30) {
            local $CRM::Test::PORT = ($i % 2) ? $port2 : undef;
            my ($s) = http_request('GET', '/api/v1/contacts', \@h);
            $n{$s}++;
        }

        my $ok = $n{200} // 0;
        cmp_ok($ok, '>=', $L, "$name - at least the limit passes");
        cmp_ok($ok, '<=', $bound,
               "$name - at most L + (H-1)(2K + 2a) = $bound in all");
        cmp_ok($ok, '<', 2 * $L,
               "$name - well below what two hosts alone would pass");
        is(($n{200} // 0) + ($n{429} // 0), 30, "$name - the rest refused");

        # the last admissions reach Redis by the flush timer
        Time::HiRes::sleep(0.4);
        is(redis_count(), $ok, "$name - Redis counts every admission");

        my ($s) = http_request('GET', '/api/v1/contacts', \@h);
        is($s, 429, "$name - the first host still refuses");
        {
            local $CRM::Test::PORT = $port2;
            ($s) = http_request('GET', '/api/v1/contacts', \@h);
            is($s, 429, "$name - and so does the second");
        }
        stop_second();

    } elsif ($name =~ /Redis goes away/) {
        ok(CRM::Test::wait_redis(), "$name - Redis first");
        CRM::Test::redis('stop');

        my %n;
        for (1 .. 14) {
            my ($s) = http_request('GET', '/api/v1/contacts', \@h);
            $n{$s}++;
        }
        CRM::Test::redis('start');

        is(join(' ', sort keys %n), '200 429', "$name - no 5xx");
        is($n{200}, 10, "$name - this host's zone holds the limit");

        open my $fh, '<', "$root/logs/error.log" or die $!;
        my $log = do { local $/; <$fh> };
        my $n = () = $log =~ /rate limits fall back/g;
        is($n, 1, "$name - logged once for the outage");

    } elsif ($name =~ /stops mid-window/) {
        CRM::Test::redis_flush();
        ok(CRM::Test::wait_redis(), "$name - Redis first");

        my %n;
        for (1 .. 4) {
            my ($s) = http_request('GET', '/api/v1/contacts', \@h);
            $n{$s}++;
        }
        Time::HiRes::sleep(0.3);
        is(redis_count(), 4, "$name - 4 counted in Redis");

        CRM::Test::redis('stop');
        for (1 .. 14) {
            my ($s) = http_request('GET', '/api/v1/contacts', \@h);
            $n{$s}++;
        }
        is(join(' ', sort keys %n), '200 429', "$name - no 5xx");
        is($n{200}, $L, "$name - the zone goes on from the cluster's count");

        CRM::Test::redis('start');
        ok(CRM::Test::wait_redis(), "$name - Redis is back");
        Time::HiRes::sleep(0.5);
        # the test Redis keeps nothing across a restart (--save ''): it
        # holds the 6 admitted while it was away, sent by the flush timer
        is(redis_count(), $L - 4,
           "$name - what was admitted meanwhile reaches Redis");

        open my $fh, '<', "$root/logs/error.log" or die $!;
        my $log = do { local $/; <$fh> };
        my $down = () = $log =~ /rate limits fall back/g;
        my $up = () = $log =~ /rate limits are cluster-wide again/g;
        is("$down $up", '1 1', "$name - the outage logged once each way");
    }
});

no_shuffle();
run_tests();

__DATA__

=== TEST 1: two hosts share one limit through Redis
--- http_config eval
qq{    crm_postgres "\$TEST_NGINX_PG_DSN";\n    $::limits\n}
--- request
GET /api/v1/health
--- error_code: 200

=== TEST 2: Redis goes away: this host's zone, never a 5xx
--- http_config eval
qq{    crm_postgres "\$TEST_NGINX_PG_DSN";\n    crm_redis 127.0.0.1:\$TEST_NGINX_REDIS_PORT;\n    crm_rate_limit zone=crm_limit:1m per_minute=10 cluster;\n}
--- request
GET /api/v1/health
--- error_code: 200

=== TEST 3: Redis stops mid-window: the zone goes on from the cluster's count
--- http_config eval
qq{    crm_postgres "\$TEST_NGINX_PG_DSN";\n    $::limits\n}
--- request
GET /api/v1/health
--- error_code: 200
