# nginx -s reload under traffic loses no request.

use strict;
use warnings;

use Test::Nginx::Socket 'no_plan';
use Test::More;
use CRM::Test qw(http_request);

master_on();
workers(2);

my $ID = 'a0000000-0000-4000-8000-000000000001';
my @H = ("X-API-Key: $CRM::Test::KEY_A");

CRM::Test::reset();
CRM::Test::sql("INSERT INTO contacts (workspace_id, id, email) VALUES "
               . "('$CRM::Test::WS_A', '$ID', 'reload\@example.com')");

Test::Nginx::Socket::add_response_body_check(sub {
    my ($block, $body, $req_idx, $repeated, $dry_run) = @_;
    my $name = $block->name;

    return unless $name =~ /reload under traffic/;

    my $root = $ENV{TEST_NGINX_SERVROOT} || 't/servroot';
    open my $fh, '<', "$root/logs/nginx.pid" or die "no pid file: $!";
    my $master = <$fh>;
    chomp $master;

    pipe(my $r, my $w) or die "pipe: $!";
    my $pid = fork() // die "fork: $!";

    if ($pid == 0) {
        close $r;
        my %n;
        my $until = Time::HiRes::time() + 1.5;
        while (Time::HiRes::time() < $until) {
            my ($status) = eval { http_request('GET', "/api/v1/contacts/$ID",
                                               \@H) };
            $n{ $status // 0 }++;
        }
        print $w join(' ', map { "$_=$n{$_}" } sort keys %n);
        close $w;
        POSIX::_exit(0);
    }

    close $w;
    for (1 .. 3) {
        Time::HiRes::sleep(0.3);
        kill 'HUP', $master;
    }

    local $/;
    my $got = <$r>;
    waitpid($pid, 0);

    like($got, qr/^200=\d+$/, "$name - every request answered 200");
    my ($n) = $got =~ /=(\d+)/;
    ok(($n // 0) > 100, "$name - traffic ran through the reloads ($n)");

    # the reloads happened: the new workers answer with a new generation
    my $log = do {
        local $/;
        open my $lf, '<', "$root/logs/error.log" or die $!;
        <$lf>;
    };
    my $reconfigs = () = $log =~ /SIGHUP\) received/g;
    is($reconfigs, 3, "$name - three reloads happened");
});

run_tests();

__DATA__

=== TEST 1: reload under traffic loses no request
--- request
GET /api/v1/contacts/a0000000-0000-4000-8000-000000000001
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
--- error_code: 200
--- no_error_log
[alert]
[emerg]
