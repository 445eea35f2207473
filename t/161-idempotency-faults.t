# Idempotency-Key under faults: a worker killed while it holds a key, a
# Redis that stalls while the response is stored, and the fingerprint
# (method, path, query and body; not the HTTP version).
#
# The claim of a key in progress lives crm_idempotency_claim_ttl (2s
# here), not crm_idempotency_ttl: once it has passed, a retry runs.

use strict;
use warnings;

use Test::Nginx::Socket 'no_plan';
use Test::More;
use IO::Socket::INET;
use POSIX ();
use Time::HiRes ();
use CRM::Test qw(lock_row http_request wait_for);

master_on();
workers(1);

my $ID = 'a0000000-0000-4000-8000-0000000000d1';
my @H = ("X-API-Key: $CRM::Test::KEY_A", 'Content-Type: application/json');
my $REDIS = "redis-cli -h 127.0.0.1 -p " . ($ENV{TEST_NGINX_REDIS_PORT} || 0);

CRM::Test::reset();
CRM::Test::sql("INSERT INTO contacts (workspace_id, id, email) VALUES "
               . "('$CRM::Test::WS_A', '$ID', 'idem\@example.com')");

sub redis_cmd {
    my ($cmd) = @_;
    my $out = `$REDIS $cmd 2>/dev/null`;
    $out =~ s/\s+\z//;
    return $out;
}

# the Redis key of an Idempotency-Key ("" while there is none)
sub claim_of {
    my ($key) = @_;
    return redis_cmd("--scan --pattern 'crm:idem:*:$key'");
}

# a request in a child process; returns its pid
sub background {
    my (@req) = @_;
    my $pid = fork() // die "fork: $!";
    if ($pid == 0) {
        eval { http_request(@req) };
        POSIX::_exit(0);
    }
    return $pid;
}

sub worker_pid {
    my $root = $ENV{TEST_NGINX_SERVROOT} || 't/servroot';
    open my $fh, '<', "$root/logs/nginx.pid" or return 0;
    my $master = <$fh>;
    chomp $master;
    my $kids = `pgrep -P $master`;
    my ($pid) = $kids =~ /(\d+)/;
    return $pid;
}

sub title {
    return CRM::Test::sql("SELECT title FROM contacts WHERE id = '$ID'");
}

Test::Nginx::Socket::add_response_body_check(sub {
    my ($block, $body, $req_idx, $repeated, $dry_run) = @_;
    my $name = $block->name;
    my $path = "/api/v1/contacts/$ID";

    return if $dry_run;

    if ($name =~ /worker killed/) {
        my @req = ('PATCH', $path, [@H, 'Idempotency-Key: killed-1'],
                   '{"title":"after kill"}');

        my $locker = lock_row('contacts', $ID, 3);
        my $kid = background(@req);

        ok(wait_for(sub { claim_of('killed-1') ne '' }, 3),
           "$name - the key is claimed");
        my $ttl = redis_cmd('PTTL ' . claim_of('killed-1'));
        ok($ttl > 0 && $ttl <= 2000,
           "$name - the claim lives the claim TTL ($ttl ms)");

        my $worker = worker_pid();
        ok($worker, "$name - found the worker");
        kill 'KILL', $worker;
        waitpid($kid, 0);
        kill 'TERM', $locker;
        waitpid($locker, 0);

        # the master starts another worker
        ok(wait_for(sub { my $w = worker_pid(); $w && $w != $worker }, 5),
           "$name - a new worker runs");
        ok(wait_for(sub { (http_request('GET', '/api/v1/health'))[0]
                          == 200 }, 5),
           "$name - and answers");

        my ($status) = http_request(@req);
        is($status, 409, "$name - a retry at once: still in progress");

        ok(wait_for(sub { claim_of('killed-1') eq '' }, 4),
           "$name - the claim expires");
        ($status, my $b) = http_request(@req);
        is($status, 200, "$name - a retry then runs");
        is(title(), 'after kill', "$name - and writes");

        ($status, $b, my $head) = http_request(@req);
        is($status, 200, "$name - the next retry");
        like($head, qr/\r\nIdempotent-Replayed: true/i,
             "$name - is a replay");

    } elsif ($name =~ /Redis stalls/) {
        my @req = ('PATCH', $path, [@H, 'Idempotency-Key: paused-1'],
                   '{"title":"after pause"}');

        ok(CRM::Test::wait_redis(), "$name - Redis is up for nginx");

        my $locker = lock_row('contacts', $ID, 1);
        my $t0 = Time::HiRes::time();
        my $kid = background(@req);

        ok(wait_for(sub { claim_of('paused-1') ne '' }, 3),
           "$name - the key is claimed");

        # the response is stored while Redis does not answer
        redis_cmd('CLIENT PAUSE 2500 ALL');
        waitpid($locker, 0);
        waitpid($kid, 0);
        is(title(), 'after pause', "$name - the write happened");

        # past the pause and the claim's lifetime, with Redis back (the
        # worker reconnects with a backoff)
        Time::HiRes::sleep(0.1) while Time::HiRes::time() - $t0 < 2.7;
        ok(wait_for(sub { (http_request('GET', '/api/v1/health'))[1]
                          =~ /"redis":\{"status":"up"/ }, 10),
           "$name - Redis is up again for nginx");

        my ($status, $b) = http_request(@req);
        is($status, 200, "$name - a retry is not left in progress");
        is(title(), 'after pause', "$name - same outcome");
    }
});

no_shuffle();
run_tests();

__DATA__

=== TEST 1: a worker killed while it holds a key leaves no key behind past the claim TTL
--- http_config
    crm_postgres "$TEST_NGINX_PG_DSN";
    crm_postgres_pool_size 2;
    crm_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    crm_idempotency_claim_ttl 2s;
    crm_api_key test-key-a-0123456789abcdef 11111111-1111-4111-8111-111111111111;
--- request
GET /api/v1/health
--- error_code: 200
--- error_log eval
qr/\[alert\] .*exited on signal 9/
--- no_error_log
[emerg]

=== TEST 2: a response that Redis stalls on does not leave the key in progress
--- http_config
    crm_postgres "$TEST_NGINX_PG_DSN";
    crm_postgres_pool_size 2;
    crm_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    crm_idempotency_claim_ttl 2s;
    crm_api_key test-key-a-0123456789abcdef 11111111-1111-4111-8111-111111111111;
--- request
GET /api/v1/health
--- error_code: 200
--- no_error_log
[alert]
[emerg]

=== TEST 3: the same request over HTTP/1.0 and HTTP/1.1 is one request
--- request eval
["POST /api/v1/contacts HTTP/1.0
{\"email\":\"version\@example.com\"}",
"POST /api/v1/contacts
{\"email\":\"version\@example.com\"}"]
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json
Idempotency-Key: version-1
--- error_code eval
[201, 201]
--- response_headers_like eval
["X-Request-Id: req_[0-9a-f]+",
"Idempotent-Replayed: true"]
