# Clients that reset their connection while the module waits on
# PostgreSQL or Redis: every such connection is closed again, the worker's
# connection count returns to where it was, and the API still answers.
#
# The tables are locked in a background session, so that every request
# of a wave waits in PostgreSQL (or in the pool's queue behind those that
# do); then each client sets SO_LINGER(1, 0) and closes, which sends a
# TCP reset; then the lock goes.  Reads are dropped when the reset is
# seen, writes go on and fail to write their response.  Waves of 42 fit
# in Test::Nginx's 64 worker_connections: a wave that leaked would leave
# the next one without connections.

use strict;
use warnings;

use Test::Nginx::Socket 'no_plan';
use Test::More;
use IO::Socket::INET;
use Socket qw(SOL_SOCKET SO_LINGER);
use Time::HiRes ();
use CRM::Test qw(lock_tables http_request);

my $ID = 'a0000000-0000-4000-8000-0000000000c1';
my $WAVES = 7;

CRM::Test::reset();
CRM::Test::sql("INSERT INTO contacts (workspace_id, id, email) VALUES "
               . "('$CRM::Test::WS_A', '$ID', 'reset\@example.com')");

my $KEY = $CRM::Test::KEY_A;
my $JUNK = 'crmk_' . ('0f' x 20);

# one request of each kind that waits on the locked tables (or on the
# pool's queue behind them); "n" tells the requests of a run apart
my @KINDS = (
    sub { "GET /api/v1/contacts/$ID HTTP/1.1\r\nHost: x\r\n"
          . "X-API-Key: $KEY\r\n\r\n" },
    sub { "GET /api/v1/contacts?limit=5 HTTP/1.1\r\nHost: x\r\n"
          . "X-API-Key: $KEY\r\n\r\n" },
    sub { "GET /api/v1/health HTTP/1.1\r\nHost: x\r\n\r\n" },
    sub { "GET /api/v1/contacts HTTP/1.1\r\nHost: x\r\n"
          . "X-API-Key: $JUNK\r\n\r\n" },
    sub { body_request('POST', '/api/v1/contacts',
                       qq({"firstName":"Reset","email":"r$_[0]\@example.com"})) },
    sub { body_request('PATCH', "/api/v1/contacts/$ID", '{"title":"reset"}') },
    sub { body_request('POST', '/api/v1/contacts',
                       qq({"firstName":"Idem","email":"i$_[0]\@example.com"}),
                       "Idempotency-Key: reset-$_[0]\r\n") },
);

sub body_request {
    my ($method, $path, $body, $extra) = @_;
    return "$method $path HTTP/1.1\r\nHost: x\r\nX-API-Key: $KEY\r\n"
        . "Content-Type: application/json\r\n" . ($extra // '')
        . "Content-Length: " . length($body) . "\r\n\r\n$body";
}

sub active {
    my ($status, $body) = http_request('GET', '/status');
    return $body =~ /Active connections: (\d+)/ ? $1 : -1;
}

# polls until the active connections fall to "want" (3 s at most)
sub settle {
    my ($want) = @_;
    my $n = -1;
    for (1 .. 30) {
        $n = active();
        return $n if $n == $want;
        Time::HiRes::sleep(0.1);
    }
    return $n;
}

Test::Nginx::Socket::add_response_body_check(sub {
    my ($block, $body, $req_idx, $repeated, $dry_run) = @_;
    my $name = $block->name;
    my $port = $ENV{TEST_NGINX_SERVER_PORT} || 1984;

    return if $dry_run || $name !~ /reset/;

    my $base = settle(1);
    is($base, 1, "$name - one active connection (this one) before");

    my ($sent, $n) = (0, 0);

    for my $wave (1 .. $WAVES) {
        my $locker = lock_tables(['contacts', 'api_keys'], 1);
        my @socks;

        for my $i (0 .. 5) {
            for my $kind (@KINDS) {
                my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                              PeerPort => $port,
                                              Proto => 'tcp')
                    or next;
                print $s $kind->("$wave-$i");
                push @socks, $s;
            }
        }

        # nginx reads them and they wait; then each client resets
        Time::HiRes::sleep(0.3);

        for my $s (@socks) {
            setsockopt($s, SOL_SOCKET, SO_LINGER, pack('ii', 1, 0));
            close $s;
            $sent++;
        }

        waitpid($locker, 0);
    }

    is($sent, $WAVES * 6 * @KINDS, "$name - every request was sent");

    is(settle(1), 1, "$name - the connections are all closed again");

    my ($status, $b) = http_request('GET', "/api/v1/contacts/$ID",
                                    ["X-API-Key: $KEY"]);
    is($status, 200, "$name - the API still answers");

    ($status, $b) = http_request('GET', '/api/v1/health');
    like($b, qr/"postgres":\{"status":"up"/, "$name - the pool is whole");

    # a write whose client reset still happened (reads were dropped)
    my $made = CRM::Test::sql("SELECT count(*) FROM contacts"
                              . " WHERE first_name = 'Idem'");
    is($made, $WAVES * 6, "$name - each idempotent write happened once");
});

no_shuffle();
run_tests();

__DATA__

=== TEST 1: connections reset while requests wait on the database are all closed
--- config
    location = /status {
        stub_status;
    }

    location /api/v1/ {
        crm_api;
    }
--- http_config
    crm_postgres "$TEST_NGINX_PG_DSN";
    crm_postgres_pool_size 4;
    crm_postgres_queue 256;
    crm_postgres_queue_timeout 10s;
    crm_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    crm_auth_cache zone=crm_auth:1m ttl=30s;
    crm_api_key test-key-a-0123456789abcdef 11111111-1111-4111-8111-111111111111;
--- request
GET /api/v1/health
--- error_code: 200
--- no_error_log
[alert]
[emerg]
worker_connections are not enough
