# crm_postgres_pipeline: statements waiting behind one another on one
# connection (libpq's pipeline mode).  A pool of one connection and a
# wait queue of one (crm_postgres_queue 1; the first request waits for
# the connection to open): a request that finds no room on the busy
# connection and the queue taken is refused at once, so what the
# pipeline holds, and one more, is what succeeds.  The statements are
# made to wait with a table lock held by another session; each is warmed
# up first (a statement that still needs its Parse is never sent behind
# another).  Checked: each answer is its own request's (ids,
# workspaces), an error ends with its statement, a request that goes
# away costs the others nothing, the depth is a cap, nothing waits
# behind what may run long (a bulk here; jobs, analytics, actions too),
# no request jumps the queue, a statement cut by the statement timeout
# ahead of others ends alone, and a session killed with three in
# flight fails the three.

use strict;
use warnings;

use Test::Nginx::Socket 'no_plan';
use Test::More;
use IO::Socket::INET;
use POSIX ();
use CRM::Test qw(together lock_tables lock_row http_request);

my @ID = map { sprintf 'a0000000-0000-4000-8000-%012d', $_ } 1 .. 3;
my $IDB = 'b0000000-0000-4000-8000-000000000001';
my @A = ("X-API-Key: $CRM::Test::KEY_A", 'Content-Type: application/json');
my @B = ("X-API-Key: $CRM::Test::KEY_B", 'Content-Type: application/json');

CRM::Test::reset();
CRM::Test::sql("INSERT INTO contacts (workspace_id, id, email) VALUES "
               . join(', ', map { "('$CRM::Test::WS_A', '$ID[$_]', "
                                  . "'pipe$_\@example.com')" } 0 .. 2)
               . ", ('$CRM::Test::WS_B', '$IDB', 'pipeb\@example.com')");

# a pool of one connection, "depth" statements in flight on it, a wait
# queue of one; no jobs (a job's statement would take the connection)
sub pool_config {
    my ($depth, $extra) = @_;
    return "    crm_postgres \"\$TEST_NGINX_PG_DSN\";\n"
        . "    crm_jobs off;\n"
        . "    crm_postgres_pool_size 1;\n"
        . ($depth > 1 ? "    crm_postgres_pipeline $depth;\n" : '')
        . "    crm_postgres_queue 1;\n"
        . "    crm_api_key $CRM::Test::KEY_A $CRM::Test::WS_A;\n"
        . "    crm_api_key $CRM::Test::KEY_B $CRM::Test::WS_B;\n"
        . ($extra // '');
}

sub statuses {
    my %n;
    $n{ $_->[0] }++ for @_;
    return join ' ', map { "$_=$n{$_}" } sort keys %n;
}

sub get { my ($id, $h) = @_; return ['GET', "/api/v1/contacts/$id", $h] }

# a GET whose client closes its connection after "after" seconds,
# started after "delay" seconds; returns the child's pid
sub abandoned {
    my ($delay, $after, $id) = @_;
    my $port = $CRM::Test::PORT || $ENV{TEST_NGINX_SERVER_PORT}
               || $ENV{TEST_NGINX_PORT} || 1984;
    my $pid = fork() // die "fork: $!";

    if ($pid == 0) {
        Time::HiRes::sleep($delay);
        my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                      PeerPort => $port, Proto => 'tcp')
            or POSIX::_exit(1);
        print $s "GET /api/v1/contacts/$id HTTP/1.0\r\nHost: localhost\r\n"
                 . "X-API-Key: $CRM::Test::KEY_A\r\n\r\n";
        Time::HiRes::sleep($after);
        close $s;
        POSIX::_exit(0);
    }

    return $pid;
}

# the record's id in each answer is the one its request asked for
sub own_records {
    my ($name, $r, @ids) = @_;
    for my $i (0 .. $#ids) {
        next unless defined $ids[$i];
        like($r->[$i][1], qr/^\{"data":\{"id":"\Q$ids[$i]\E"/,
             "$name - answer $i is its own record");
    }
}

Test::Nginx::Socket::add_response_body_check(sub {
    my ($block, $body, $req_idx, $repeated, $dry_run) = @_;
    my $name = $block->name;

    # warm up: the statements are prepared on the connection
    my ($warm) = http_request(@{ get($ID[0], \@A) });
    is($warm, 200, "$name - warm-up");

    if ($name =~ /behind one another/) {
        my $locker = lock_tables(['contacts'], 2);
        my @r = together([0, @{ get($ID[0], \@A) }],
                         [0.2, @{ get($ID[1], \@A) }],
                         [0.4, @{ get($IDB, \@B) }],
                         [0.6, @{ get($ID[2], \@A) }]);
        waitpid($locker, 0);
        is(statuses(@r), '200=4', "$name - all four answered");
        own_records($name, \@r, $ID[0], $ID[1], $IDB, $ID[2]);
        ok((grep { $_->[3] > 0.8 } @r) == 4, "$name - all four waited");

    } elsif ($name =~ /default/) {
        my $locker = lock_tables(['contacts'], 1);
        my @r = together([0, @{ get($ID[0], \@A) }],
                         [0.2, @{ get($ID[1], \@A) }],
                         [0.3, @{ get($ID[2], \@A) }]);
        waitpid($locker, 0);
        is(statuses(@r), '200=2 503=1', "$name - one runs, one waits");
        like($r[2][1], qr/"code":"SERVICE_UNAVAILABLE"/, "$name - code");

    } elsif ($name =~ /depth is a cap/) {
        my $locker = lock_tables(['contacts'], 1);
        my @r = together([0, @{ get($ID[0], \@A) }],
                         [0.2, @{ get($ID[1], \@A) }],
                         [0.4, @{ get($ID[2], \@A) }],
                         [0.5, @{ get($IDB, \@B) }]);
        waitpid($locker, 0);
        is(statuses(@r), '200=3 503=1', "$name - two in flight, one waits");
        own_records($name, \@r, $ID[0], $ID[1], $ID[2]);
        like($r[3][1], qr/"code":"SERVICE_UNAVAILABLE"/, "$name - code");

    } elsif ($name =~ /error ends/) {
        my ($w) = http_request('PATCH', "/api/v1/contacts/$ID[2]", \@A,
                               '{"email":"pipe2b@example.com"}');
        is($w, 200, "$name - the PATCH warmed up");

        my $locker = lock_tables(['contacts'], 1.5);
        my @r = together([0, @{ get($ID[0], \@A) }],
                         [0.2, 'PATCH', "/api/v1/contacts/$ID[2]", \@A,
                          '{"email":"pipe1@example.com"}'],
                         [0.4, @{ get($ID[1], \@A) }],
                         [0.6, @{ get($ID[2], \@A) }]);
        waitpid($locker, 0);
        is(join(' ', map { $_->[0] } @r), '200 409 200 200',
           "$name - the duplicate alone fails");
        like($r[1][1], qr/"code":"DUPLICATE"/, "$name - its code");
        own_records($name, \@r, $ID[0], undef, $ID[1], $ID[2]);
        like($r[3][1], qr/"email":"pipe2b\@example\.com"/,
             "$name - the failed write changed nothing");

    } elsif ($name =~ /bulk/) {
        my $locker = lock_tables(['contacts'], 1);
        my @r = together([0, 'POST', '/api/v1/contacts/bulk', \@A,
                          '{"operations":[{"method":"create","data":'
                          . '{"email":"pipe-bulk@example.com"}}]}'],
                         [0.2, @{ get($ID[0], \@A) }],
                         [0.4, @{ get($ID[1], \@A) }]);
        waitpid($locker, 0);
        is(join(' ', map { $_->[0] } @r), '200 200 503',
           "$name - the first GET waited in the queue, the second refused");
        own_records($name, \@r, undef, $ID[0]);

    } elsif ($name =~ /jumps the queue/) {
        my $locker = lock_tables(['contacts'], 1);
        my @r = together([0, @{ get($ID[0], \@A) }],
                         [0.2, 'POST', '/api/v1/contacts/bulk', \@A,
                          '{"operations":[{"method":"create","data":'
                          . '{"email":"pipe-queue@example.com"}}]}'],
                         [0.4, @{ get($ID[1], \@A) }]);
        waitpid($locker, 0);
        is(join(' ', map { $_->[0] } @r), '200 200 503',
           "$name - the bulk waits for the connection, the GET behind it "
           . "finds the queue full");
        own_records($name, \@r, $ID[0]);

    } elsif ($name =~ /timed out/) {
        my ($w) = http_request('PATCH', "/api/v1/contacts/$ID[0]", \@A,
                               '{"title":"warm"}');
        is($w, 200, "$name - the PATCH warmed up");

        my $locker = lock_row('contacts', $ID[0], 1.5);
        my @r = together([0, 'PATCH', "/api/v1/contacts/$ID[0]", \@A,
                          '{"title":"late"}'],
                         [0.1, @{ get($ID[1], \@A) }],
                         [0.2, @{ get($IDB, \@B) }]);
        waitpid($locker, 0);
        is(join(' ', map { $_->[0] } @r), '503 200 200',
           "$name - the PATCH alone fails");
        like($r[0][1], qr/"code":"SERVICE_UNAVAILABLE"/, "$name - its code");
        own_records($name, \@r, undef, $ID[1], $IDB);
        ok($r[1][3] < 1.2 && $r[2][3] < 1.2,
           "$name - the others ran when it was cut, not after the lock");

    } elsif ($name =~ /session ends/) {
        my $locker = lock_tables(['contacts'], 3);
        my $killer = fork() // die "fork: $!";
        if ($killer == 0) {
            Time::HiRes::sleep(0.8);
            CRM::Test::sql("SELECT pg_terminate_backend(pid) "
                           . "FROM pg_stat_activity "
                           . "WHERE datname = current_database() "
                           . "AND wait_event_type = 'Lock'");
            POSIX::_exit(0);
        }
        my @r = together([0, @{ get($ID[0], \@A) }],
                         [0.2, @{ get($ID[1], \@A) }],
                         [0.4, @{ get($IDB, \@B) }]);
        waitpid($killer, 0);
        waitpid($locker, 0);
        is(statuses(@r), '503=3', "$name - all three fail");
        like($r[2][1], qr/"code":"SERVICE_UNAVAILABLE"/, "$name - code");
        ok(!(grep { $_->[3] > 2 } @r), "$name - at once, not after the lock");

        my ($s, $b) = http_request(@{ get($ID[2], \@A) });
        is($s, 200, "$name - a new connection serves the next");
        like($b, qr/^\{"data":\{"id":"\Q$ID[2]\E"/, "$name - its record");

    } elsif ($name =~ /goes away/) {
        my $locker = lock_tables(['contacts'], 1.5);
        my $gone = abandoned(0.2, 0.4, $ID[2]);
        my @r = together([0, @{ get($ID[0], \@A) }],
                         [0.4, @{ get($ID[1], \@A) }],
                         [0.5, @{ get($IDB, \@B) }]);
        waitpid($gone, 0);
        waitpid($locker, 0);
        is(statuses(@r), '200=3', "$name - the others answered");
        own_records($name, \@r, $ID[0], $ID[1], $IDB);

        my ($s, $b) = http_request(@{ get($ID[2], \@A) });
        is($s, 200, "$name - the connection serves the next");
        like($b, qr/^\{"data":\{"id":"\Q$ID[2]\E"/, "$name - in step");
    }
});

no_shuffle();
run_tests();

__DATA__

=== TEST 1: statements wait behind one another on one connection
--- http_config eval
main::pool_config(4)
--- request
GET /api/v1/health
--- error_code: 200
--- no_error_log
[alert]
[emerg]

=== TEST 2: by default (crm_postgres_pipeline 1) none waits behind another
--- http_config eval
main::pool_config(1)
--- request
GET /api/v1/health
--- error_code: 200
--- error_log
crm: postgres wait queue is full
--- no_error_log
[alert]

=== TEST 3: the depth is a cap
--- http_config eval
main::pool_config(2)
--- request
GET /api/v1/health
--- error_code: 200
--- no_error_log
[alert]

=== TEST 4: an error ends with its own statement
--- http_config eval
main::pool_config(4)
--- request
GET /api/v1/health
--- error_code: 200
--- no_error_log
[alert]
[emerg]

=== TEST 5: a request that goes away behind another costs the others nothing
--- http_config eval
main::pool_config(4)
--- request
GET /api/v1/health
--- error_code: 200
--- no_error_log
[alert]
[emerg]

=== TEST 6: nothing is sent behind a bulk
--- http_config eval
main::pool_config(4)
--- request
GET /api/v1/health
--- error_code: 200
--- no_error_log
[alert]
[emerg]

=== TEST 7: no request jumps the queue
--- http_config eval
main::pool_config(4)
--- request
GET /api/v1/health
--- error_code: 200
--- no_error_log
[alert]
[emerg]

=== TEST 8: the session ends with three statements in flight
--- http_config eval
main::pool_config(4)
--- request
GET /api/v1/health
--- error_code: 200
--- error_log
crm: postgres read failed
--- no_error_log
[alert]
[emerg]

=== TEST 9: a statement timed out ahead of others ends alone
--- http_config eval
main::pool_config(4, "    crm_postgres_statement_timeout 500ms;\n")
--- request
GET /api/v1/health
--- error_code: 200
--- no_error_log
[alert]
[emerg]
