# The PostgreSQL pool: queueing, a full queue, wait and statement
# timeouts, the database going away and coming back.  The blocks that
# count connections turn the background jobs off (crm_jobs off): a job's
# statement holding the only connection of a pool of one made the first
# request a 503 on a loaded machine.

use strict;
use warnings;

use Test::Nginx::Socket 'no_plan';
use Test::More;
use CRM::Test qw(concurrent lock_row http_request);

my $ID = 'a0000000-0000-4000-8000-000000000001';
my @H = ("X-API-Key: $CRM::Test::KEY_A", 'Content-Type: application/json');

CRM::Test::reset();
CRM::Test::sql("INSERT INTO contacts (workspace_id, id, email) VALUES "
               . "('$CRM::Test::WS_A', '$ID', 'pool\@example.com')");

sub statuses {
    my %n;
    $n{ $_->[0] }++ for @_;
    return join ' ', map { "$_=$n{$_}" } sort keys %n;
}

sub cpu_seconds {
    my $root = $ENV{TEST_NGINX_SERVROOT} || 't/servroot';
    open my $fh, '<', "$root/logs/nginx.pid" or return 0;
    my $pid = <$fh>;
    chomp $pid;
    open my $st, '<', "/proc/$pid/stat" or return 0;
    my @f = split ' ', scalar <$st>;
    return ($f[13] + $f[14]) / POSIX::sysconf(POSIX::_SC_CLK_TCK());
}

Test::Nginx::Socket::add_response_body_check(sub {
    my ($block, $body, $req_idx, $repeated, $dry_run) = @_;
    my $name = $block->name;
    my $path = "/api/v1/contacts/$ID";

    if ($name =~ /queue and complete/) {
        my $locker = lock_row('contacts', $ID, 1.5);
        my @r = concurrent(6, 'PATCH', $path, \@H, '{"title":"q"}');
        waitpid($locker, 0);
        is(statuses(@r), '200=6', "$name - all six succeed");
        ok((grep { $_->[3] > 1 } @r) >= 4,
           "$name - four or more waited for the lock");

    } elsif ($name =~ /full wait queue/) {
        my $locker = lock_row('contacts', $ID, 1.5);
        my @r = concurrent(4, 'PATCH', $path, \@H, '{"title":"f"}');
        waitpid($locker, 0);
        is(statuses(@r), '200=2 503=2', "$name - one runs, one waits");
        my @busy = grep { $_->[0] == 503 } @r;
        like($busy[0][1], qr/"code":"SERVICE_UNAVAILABLE"/,
             "$name - error code");
        like($busy[0][2], qr/\r\nRetry-After: \d+(?:\r\n|$)/i, "$name - Retry-After");
        ok($busy[0][3] < 1, "$name - refused at once");

    } elsif ($name =~ /queue timeout/) {
        my $locker = lock_row('contacts', $ID, 1.5);
        my @r = concurrent(3, 'PATCH', $path, \@H, '{"title":"t"}');
        waitpid($locker, 0);
        is(statuses(@r), '200=1 503=2', "$name - two time out");
        ok(!(grep { $_->[0] == 503 && $_->[3] > 1.2 } @r),
           "$name - within the timeout");

    } elsif ($name =~ /statement timeout/) {
        my $locker = lock_row('contacts', $ID, 2);
        my @r = concurrent(1, 'PATCH', $path, \@H, '{"title":"s"}');
        waitpid($locker, 0);
        is(statuses(@r), '503=1', "$name - 503");
        ok($r[0][3] < 1.8, "$name - cut at the statement timeout");
        like($r[0][1], qr/"code":"SERVICE_UNAVAILABLE"/, "$name - code");

    } elsif ($name =~ /goes away and comes back/) {
        CRM::Test::pg('stop');

        my @r;
        for (1 .. 5) {
            push @r, [http_request('GET', $path, \@H)];
        }
        is(join(' ', map { $_->[0] } @r), '503 503 503 503 503',
           "$name - 503 while down");
        like($r[0][1], qr/"code":"SERVICE_UNAVAILABLE"/, "$name - code");
        like($r[0][2], qr/\r\nRetry-After: \d+/i, "$name - Retry-After");

        my $cpu = cpu_seconds();
        Time::HiRes::sleep(1.5);
        ok(cpu_seconds() - $cpu < 0.3, "$name - no busy loop while down");

        CRM::Test::pg('start');

        my $status = 0;
        for (1 .. 40) {
            ($status) = http_request('GET', $path, \@H);
            last if $status == 200;
            Time::HiRes::sleep(0.25);
        }
        is($status, 200, "$name - served again without a reload");
    }
});

no_shuffle();
run_tests();

__DATA__

=== TEST 1: more concurrent writes than connections queue and complete
--- http_config
    crm_postgres "$TEST_NGINX_PG_DSN";
    crm_jobs off;
    crm_postgres_pool_size 2;
    crm_postgres_queue 16;
    crm_postgres_queue_timeout 10s;
    crm_api_key test-key-a-0123456789abcdef 11111111-1111-4111-8111-111111111111;
--- request
GET /api/v1/health
--- error_code: 200
--- no_error_log
[alert]
[emerg]

=== TEST 2: a full wait queue is 503 with Retry-After at once
--- http_config
    crm_postgres "$TEST_NGINX_PG_DSN";
    crm_jobs off;
    crm_postgres_pool_size 1;
    crm_postgres_queue 1;
    crm_postgres_queue_timeout 10s;
    crm_api_key test-key-a-0123456789abcdef 11111111-1111-4111-8111-111111111111;
--- request
GET /api/v1/health
--- error_code: 200
--- error_log
crm: postgres wait queue is full
--- no_error_log
[alert]

=== TEST 3: waiting longer than the queue timeout is 503
--- http_config
    crm_postgres "$TEST_NGINX_PG_DSN";
    crm_jobs off;
    crm_postgres_pool_size 1;
    crm_postgres_queue 8;
    crm_postgres_queue_timeout 300ms;
    crm_api_key test-key-a-0123456789abcdef 11111111-1111-4111-8111-111111111111;
--- request
GET /api/v1/health
--- error_code: 200
--- error_log
crm: timed out waiting for a postgres connection
--- no_error_log
[alert]

=== TEST 4: a statement over the statement timeout is 503
--- http_config
    crm_postgres "$TEST_NGINX_PG_DSN";
    crm_jobs off;
    crm_postgres_statement_timeout 300ms;
    crm_api_key test-key-a-0123456789abcdef 11111111-1111-4111-8111-111111111111;
--- request
GET /api/v1/health
--- error_code: 200
--- error_log
crm: database unavailable
--- no_error_log
[alert]

=== TEST 5: the database goes away and comes back
--- http_config
    crm_postgres "$TEST_NGINX_PG_DSN";
    crm_postgres_connect_timeout 1s;
    crm_postgres_retry_max 1s;
    crm_api_key test-key-a-0123456789abcdef 11111111-1111-4111-8111-111111111111;
--- request
GET /api/v1/health
--- error_code: 200
--- response_body_like: "postgres":\{"status":"up"
--- error_log
crm: postgres is unreachable
crm: postgres is reachable again
--- no_error_log
[alert]
[emerg]

=== TEST 6: health says when the database is down, without auth
--- pg: stop
--- request
GET /api/v1/health
--- error_code: 503
--- response_body_like: ^\{"data":\{"status":"unavailable","checks":\{"postgres":\{"status":"down"
--- no_error_log
[alert]

=== TEST 7: a list while the database is down is 503, not a crash
--- request
GET /api/v1/contacts
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
--- error_code: 503
--- response_headers_like
Retry-After: \d+
--- response_body_like: "code":"SERVICE_UNAVAILABLE"
--- no_error_log
[alert]

=== TEST 8: the database is back for the next suites
--- pg: start
--- request
GET /api/v1/health
--- error_code: 200
