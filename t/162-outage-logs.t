# While PostgreSQL is away or the pool is exhausted, every request is
# refused with a JSON 503, on a connection that stays open; the error log
# gets a line when refusals start (one per reason), a summary a second
# while they go on, and a line when they stop: not a line per request.

use strict;
use warnings;

use Test::Nginx::Socket 'no_plan';
use Test::More;
use IO::Socket::INET;
use Time::HiRes ();
use CRM::Test qw(concurrent lock_row http_request);

my $ID = 'a0000000-0000-4000-8000-0000000000e1';
my @H = ("X-API-Key: $CRM::Test::KEY_A", 'Content-Type: application/json');

CRM::Test::reset();
CRM::Test::sql("INSERT INTO contacts (workspace_id, id, email) VALUES "
               . "('$CRM::Test::WS_A', '$ID', 'outage\@example.com')");

sub error_log {
    my $root = $ENV{TEST_NGINX_SERVROOT} || 't/servroot';
    open my $fh, '<', "$root/logs/error.log" or return ();
    return <$fh>;
}

# "n" requests one after the other on one keep-alive connection; returns
# the statuses, and how many were answered before the connection closed
sub keepalive_run {
    my ($n, $path) = @_;
    my $port = $ENV{TEST_NGINX_SERVER_PORT} || 1984;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
                                  Proto => 'tcp', Timeout => 10)
        or die "cannot connect: $!\n";
    my (@status, $closed);

    for (1 .. $n) {
        print $s "GET $path HTTP/1.1\r\nHost: x\r\n"
                 . "X-API-Key: $CRM::Test::KEY_A\r\n\r\n";
        my $head = '';
        while ($head !~ /\r\n\r\n/) {
            my $got = sysread($s, $head, 1, length $head);
            last unless $got;
        }
        my ($st) = $head =~ m{^HTTP/1\.1 (\d+)} or last;
        my ($len) = $head =~ /\r\nContent-Length: (\d+)/i;
        my $body = '';
        while (length($body) < ($len // 0)) {
            sysread($s, $body, $len - length $body, length $body) or last;
        }
        push @status, $st;
        if ($head =~ /\r\nConnection: close/i) {
            $closed = 1;
            last;
        }
    }

    close $s;
    return (\@status, $closed);
}

Test::Nginx::Socket::add_response_body_check(sub {
    my ($block, $body, $req_idx, $repeated, $dry_run) = @_;
    my $name = $block->name;

    return if $dry_run;

    if ($name =~ /database is away/) {
        my ($st, $closed) = eval { keepalive_run(300, "/api/v1/contacts/$ID") };
        $st //= [];

        is(scalar(@$st), 300, "$name - 300 answers on one connection");
        ok(!$closed, "$name - the connection stays open");
        is(scalar(grep { $_ == 503 } @$st), 300, "$name - all 503");

        # the summaries, a second apart: one if the 300 took less than a
        # second, more on a loaded machine
        my (@lines, $n);
        for (1 .. 20) {
            Time::HiRes::sleep(0.25);
            @lines = grep { /\[(?:warn|error)\].*crm:/ } error_log();
            $n = 0;
            $n += $_ for map { /refused (\d+) more requests/ ? $1 : () }
                             @lines;
            last if $n >= 299;
        }
        ok(@lines <= 6, "$name - a few lines, not one per request ("
                        . scalar(@lines) . ")")
            or diag(join '', @lines[0 .. 9]);
        ok((grep { /postgres is unreachable, refusing requests/ } @lines),
           "$name - the refusals start");
        ok($n >= 250, "$name - summaries count the rest ($n)");

        CRM::Test::pg('start');

        my $status = 0;
        for (1 .. 40) {
            ($status) = http_request('GET', "/api/v1/contacts/$ID", \@H);
            last if $status == 200;
            Time::HiRes::sleep(0.25);
        }
        is($status, 200, "$name - served again once it is back");

        # the line comes from the summary timer once a second passed
        # without a refusal: up to two seconds after the last one, later
        # on a loaded machine
        my $again;
        for (1 .. 40) {
            $again = grep { /serves requests again/ } error_log();
            last if $again;
            Time::HiRes::sleep(0.25);
        }
        ok($again, "$name - and the log says so");

    } elsif ($name =~ /pool is exhausted/) {
        my $locker = lock_row('contacts', $ID, 1.5);
        my @r = concurrent(40, 'PATCH', "/api/v1/contacts/$ID", \@H,
                           '{"title":"x"}');
        waitpid($locker, 0);

        my $refused = grep { $_->[0] == 503 } @r;
        ok($refused >= 30, "$name - most are refused ($refused)");

        Time::HiRes::sleep(1.2);
        my @lines = grep { /\[(?:warn|error)\].*crm:/ } error_log();
        is(scalar(grep { /wait queue is full/ } @lines), 2,
           "$name - one line when it starts, one summary");
        ok((grep { /refused \d+ more requests in the last second: \d+ postgres wait queue is full/ } @lines),
           "$name - the summary says why");
    }
});

no_shuffle();
run_tests();

__DATA__

=== TEST 1: while the database is away, refusals are summarized and the connection kept
--- pg: stop
--- request
GET /api/v1/health
--- error_code: 503
--- no_error_log
[alert]
[emerg]

=== TEST 2: while the pool is exhausted, refusals are summarized
--- pg: start
--- http_config
    crm_postgres "$TEST_NGINX_PG_DSN";
    crm_postgres_pool_size 1;
    crm_postgres_queue 2;
    crm_postgres_queue_timeout 5s;
    crm_api_key test-key-a-0123456789abcdef 11111111-1111-4111-8111-111111111111;
--- request
GET /api/v1/health
--- error_code: 200
--- no_error_log
[alert]
[emerg]
