# A slow relay does not hold the worker: SMTP transfers run in nginx's
# thread pool.  While the relay keeps its answer to a message for 3 s,
# the worker that sends it goes on serving the API at once, and the
# outcome is recorded when the answer comes.  crm_outbound_thread_pool
# names a pool declared with thread_pool; an undeclared one is refused
# when the configuration is read.

use strict;
use warnings;

use Test::Nginx::Socket 'no_plan';
use Test::More;
use Time::HiRes ();
use IO::Socket::INET;
use CRM::Test qw(api sql wait_for mails_to error_log);

my $A = $CRM::Test::WS_A;
my $KA = $CRM::Test::KEY_A;

CRM::Test::reset();
CRM::Test::smtp_wipe();

our $SMTP = <<'_EOC_';
    crm_smtp smtp://127.0.0.1:$TEST_NGINX_SMTP_PORT from=crm@example.test
             connections=2;
    crm_jobs_interval 200ms;
    crm_outbound_allow 127.0.0.0/8;
_EOC_

my $PORT2 = ($ENV{TEST_NGINX_SERVER_PORT} || 1984) + 1;

sub queue_one {
    my ($rcpt) = @_;
    return sql("INSERT INTO emails (workspace_id, to_email, subject,"
               . " body_text) VALUES ('$A', '$rcpt', 's', 'x') RETURNING id");
}

sub status_of {
    my ($id) = @_;
    return sql("SELECT status FROM emails WHERE id = '$id'");
}

Test::Nginx::Socket::add_response_body_check(sub {
    my ($block, $body, $req_idx, $repeated, $dry_run) = @_;
    my $name = $block->name;

    return if $dry_run;

    if ($name =~ /slow relay does not hold the worker/) {

        # one worker: the API requests and the transfer share it
        CRM::Test::second_nginx(http => $SMTP, master => 1);

        my $id = queue_one('slow3-busy@mail.test');
        ok(wait_for(sub { mails_to('slow3-busy@mail.test') >= 1 }, 10),
           "$name - the relay has the message, its answer is pending");

        my (@took, @bad);
        {
            local $CRM::Test::PORT = $PORT2;
            for my $i (1 .. 10) {
                my $t0 = Time::HiRes::time();
                my ($s) = api('GET', '/api/v1/contacts?limit=1', $KA);
                push @took, Time::HiRes::time() - $t0;
                push @bad, $s if $s != 200;
                Time::HiRes::sleep(0.15);
            }
        }

        my $max = (sort { $b <=> $a } @took)[0];
        is(scalar @bad, 0, "$name - every request answered 200 (@bad)");
        # a blocked worker would wait for the relay (3 s); the margin is
        # for a loaded machine
        ok($max < 1.5, sprintf("$name - each in under 1.5 s (slowest"
                               . " %.3f s)", $max));
        is(status_of($id), 'sending',
           "$name - while the relay still had not answered");
        ok(wait_for(sub { status_of($id) eq 'sent' }, 10),
           "$name - then the outcome is recorded");
        is(scalar(mails_to('slow3-busy@mail.test')), 1, "$name - once");
        CRM::Test::stop_second_nginx();

    } elsif ($name =~ /the reply to the message's end is waited for/) {
        # the transfer's timeout (2 s) bounds what comes before the
        # message's end; the reply to it has crm_smtp_data_timeout
        CRM::Test::second_nginx(
            http => "$SMTP    crm_outbound_timeout 2s;\n"
                    . "    crm_smtp_data_timeout 6s;\n");

        my $id = queue_one('slow4-late@mail.test');
        ok(wait_for(sub { status_of($id) eq 'sent' }, 15),
           "$name - a reply after 4 s, beyond the transfer's 2 s: sent");
        is(scalar(mails_to('slow4-late@mail.test')), 1, "$name - once");
        is(sql("SELECT attempts || ' ' || coalesce(last_error, '-')"
               . " FROM emails WHERE id = '$id'"), '1 -',
           "$name - in one attempt");

        # the wait is cut when the transfer's time (2 s, and a second)
        # and the reply's 6 s are over, well before the relay's 15 s
        $id = queue_one('slow15-later@mail.test');
        my $t0 = Time::HiRes::time();
        ok(wait_for(sub { status_of($id) eq 'deferred' }, 20),
           "$name - a reply after 15 s, beyond its 6 s: deferred");
        my $dt = Time::HiRes::time() - $t0;
        ok($dt < 11.5, sprintf("$name - once its 6 s were over (%.1f s)",
                               $dt));
        is(sql("SELECT last_error FROM emails WHERE id = '$id'"),
           "no reply to the message's end in time", "$name - saying so");
        CRM::Test::stop_second_nginx();

        # a relay that takes the connection and never greets: the
        # transfer's timeout, not the data's
        my $mute = IO::Socket::INET->new(LocalAddr => '127.0.0.1',
                                         LocalPort => 0, Listen => 8,
                                         ReuseAddr => 1)
            or die "listen: $!";
        my $mport = $mute->sockport;
        CRM::Test::second_nginx(
            http => "    crm_smtp smtp://127.0.0.1:$mport"
                    . " from=crm\@example.test connections=2;\n"
                    . "    crm_jobs_interval 200ms;\n"
                    . "    crm_outbound_allow 127.0.0.0/8;\n"
                    . "    crm_outbound_timeout 2s;\n"
                    . "    crm_smtp_data_timeout 60s;\n");
        $id = queue_one('mute@mail.test');
        $t0 = Time::HiRes::time();
        ok(wait_for(sub { status_of($id) eq 'deferred' }, 15),
           "$name - a relay that never greets: deferred");
        $dt = Time::HiRes::time() - $t0;
        ok($dt < 4.5, sprintf("$name - within the transfer's 2 s (%.1f s)",
                              $dt));
        CRM::Test::stop_second_nginx();
        close $mute;

    } elsif ($name =~ /a thread pool of its own/) {
        CRM::Test::second_nginx(
            main => 'thread_pool crm_mail threads=2 max_queue=16;',
            http => "$SMTP    crm_outbound_thread_pool crm_mail;\n");

        my $id = queue_one('pool@mail.test');
        ok(wait_for(sub { status_of($id) eq 'sent' }, 10),
           "$name - sent through the named pool");
        is(scalar(mails_to('pool@mail.test')), 1, "$name - once");
        CRM::Test::stop_second_nginx();

        ok(!eval { CRM::Test::second_nginx(
                       http => "$SMTP    crm_outbound_thread_pool nope;\n");
                   1 },
           "$name - an undeclared pool: nginx does not start");
        like(error_log('second'), qr/unknown thread pool "nope"/,
             "$name - and says why");
    }
});

no_shuffle();
run_tests();

__DATA__

=== TEST 1: a slow relay does not hold the worker
--- http_config
    crm_postgres "$TEST_NGINX_PG_DSN";
    crm_api_key test-key-a-0123456789abcdef 11111111-1111-4111-8111-111111111111;
--- request
GET /api/v1/emails?fields=id&limit=1
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
--- error_code: 200



=== TEST 2: email delivery in a thread pool of its own
--- http_config
    crm_postgres "$TEST_NGINX_PG_DSN";
    crm_api_key test-key-a-0123456789abcdef 11111111-1111-4111-8111-111111111111;
--- request
GET /api/v1/emails?fields=id&limit=1
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
--- error_code: 200



=== TEST 3: the reply to the message's end is waited for as long as crm_smtp_data_timeout says
--- http_config
    crm_postgres "$TEST_NGINX_PG_DSN";
    crm_api_key test-key-a-0123456789abcdef 11111111-1111-4111-8111-111111111111;
--- request
GET /api/v1/emails?fields=id&limit=1
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
--- error_code: 200

