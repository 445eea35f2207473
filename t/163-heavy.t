# Expensive requests (search, q= on a list, count=exact) run on a pool of
# their own with its own statement timeout, and a workspace may run only
# crm_postgres_heavy workspace=n of them at once per worker: cheap
# requests of every workspace keep their latency while searches are slow.
#
# The companies table is locked in a background session, so that
# searches of companies wait in PostgreSQL, while contacts stay free.

use strict;
use warnings;

use Test::Nginx::Socket 'no_plan';
use Test::More;
use Time::HiRes ();
use IO::Socket::INET;
use CRM::Test qw(lock_tables http_request together wait_for);

my $ID = 'a0000000-0000-4000-8000-0000000000f1';
my $IDB = 'b0000000-0000-4000-8000-0000000000f1';

CRM::Test::reset();
CRM::Test::sql("INSERT INTO contacts (workspace_id, id, email) VALUES "
               . "('$CRM::Test::WS_A', '$ID', 'cheap\@example.com'), "
               . "('$CRM::Test::WS_B', '$IDB', 'cheapb\@example.com')");
CRM::Test::sql("INSERT INTO companies (workspace_id, name) VALUES "
               . "('$CRM::Test::WS_A', 'Acme'), ('$CRM::Test::WS_B', 'Acme')");

my $KA = "X-API-Key: $CRM::Test::KEY_A";
my $KB = "X-API-Key: $CRM::Test::KEY_B";

# statements of the module waiting for a lock
sub waiting {
    return CRM::Test::sql("SELECT count(*) FROM pg_stat_activity"
                          . " WHERE application_name = 'ngx_http_crm_module'"
                          . " AND wait_event_type = 'Lock'");
}

Test::Nginx::Socket::add_response_body_check(sub {
    my ($block, $body, $req_idx, $repeated, $dry_run) = @_;
    my $name = $block->name;

    return if $dry_run;

    if ($name =~ /cheap requests keep/) {
        my $locker = lock_tables(['companies'], 1.5);

        my @r = together(
            [0, 'GET', '/api/v1/search?q=acme&types=companies', [$KA]],
            [0.2, 'GET', '/api/v1/search?q=acme&types=companies', [$KA]],
            [0.2, 'GET', '/api/v1/companies?count=exact', [$KB]],
            (map { [0.3 + $_ / 20, 'GET', "/api/v1/contacts/$ID", [$KA]] }
                 1 .. 6),
            (map { [0.3 + $_ / 20, 'GET', "/api/v1/contacts/$IDB", [$KB]] }
                 1 .. 6),
        );
        waitpid($locker, 0);

        is($r[0][0], 200, "$name - the first search waits and runs");
        ok($r[0][3] > 1, "$name - after the lock");

        is($r[1][0], 429, "$name - a second of the same workspace: 429");
        like($r[1][1], qr/"code":"RATE_LIMITED".*"reason":"concurrency"/,
             "$name - says why");
        like($r[1][2], qr/\r\nRetry-After: 1/i, "$name - Retry-After");
        ok($r[1][3] < 0.5, "$name - at once");

        is($r[2][0], 200, "$name - another workspace's count waits its turn");

        my @cheap = @r[3 .. $#r];
        is(scalar(grep { $_->[0] == 200 } @cheap), 12,
           "$name - every cheap GET succeeds");
        my ($slow) = sort { $b <=> $a } map { $_->[3] } @cheap;
        # sent at 0.35-0.6 s, one that waited for the lock (1.5 s) would
        # take 0.9 s at least
        ok($slow < 0.9, "$name - none waited for the searches ("
                        . sprintf('%.2f', $slow) . " s)");

    } elsif ($name =~ /client goes away/) {
        my $locker = lock_tables(['companies'], 3);
        my $port = $ENV{TEST_NGINX_SERVER_PORT} || 1984;

        my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                      PeerPort => $port, Proto => 'tcp')
            or die "connect: $!";
        print $s "GET /api/v1/search?q=acme&types=companies HTTP/1.1\r\n"
                 . "Host: x\r\n$KA\r\n\r\n";
        ok(wait_for(sub { waiting() == 1 }, 2),
           "$name - the search waits in PostgreSQL");
        close $s;
        ok(wait_for(sub { waiting() == 0 }, 1),
           "$name - its statement is cancelled when the client goes");

        my ($status) = http_request('GET', "/api/v1/contacts/$ID", [$KA]);
        is($status, 200, "$name - the pools serve on");
        waitpid($locker, 0);

        my ($st2, $b2) = http_request('GET',
                                      '/api/v1/search?q=acme&types=companies',
                                      [$KA]);
        is($st2, 200, "$name - and the heavy pool too");

    } elsif ($name =~ /own statement timeout/) {
        my $locker = lock_tables(['companies'], 2);
        my @r = together(
            [0, 'GET', '/api/v1/companies?q=acme', [$KA]],
            [0, 'GET', "/api/v1/contacts/$ID", [$KA]],
        );
        waitpid($locker, 0);

        is($r[0][0], 503, "$name - the search is cut");
        ok($r[0][3] > 0.8 && $r[0][3] < 1.8,
           "$name - at its own timeout (" . sprintf('%.2f', $r[0][3]) . ")");
        is($r[1][0], 200, "$name - the cheap one is served");
    }
});

no_shuffle();
run_tests();

__DATA__

=== TEST 1: cheap requests keep their latency while searches wait
--- http_config
    crm_postgres "$TEST_NGINX_PG_DSN";
    crm_postgres_pool_size 2;
    crm_postgres_heavy pool_size=1 queue=4 workspace=1;
    crm_api_key test-key-a-0123456789abcdef 11111111-1111-4111-8111-111111111111;
    crm_api_key test-key-b-0123456789abcdef 22222222-2222-4222-8222-222222222222;
--- request
GET /api/v1/health
--- error_code: 200
--- no_error_log
[alert]
[emerg]

=== TEST 2: searches have their own statement timeout
--- http_config
    crm_postgres "$TEST_NGINX_PG_DSN";
    crm_postgres_pool_size 2;
    crm_postgres_heavy pool_size=1 statement_timeout=1s;
    crm_api_key test-key-a-0123456789abcdef 11111111-1111-4111-8111-111111111111;
--- request
GET /api/v1/health
--- error_code: 200
--- no_error_log
[alert]
[emerg]

=== TEST 3: a search whose client goes away is cancelled in PostgreSQL
--- http_config
    crm_postgres "$TEST_NGINX_PG_DSN";
    crm_postgres_pool_size 2;
    crm_postgres_heavy pool_size=1;
    crm_api_key test-key-a-0123456789abcdef 11111111-1111-4111-8111-111111111111;
--- request
GET /api/v1/health
--- error_code: 200
--- no_error_log
[alert]
[emerg]
