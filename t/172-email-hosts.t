# Email delivery across hosts and failures: a host with "crm_jobs off"
# claims nothing; two nginx instances on one database share the work
# and send each email once; a worker killed with kill -9 mid-transfer
# (the email comes back when its lease ends and is sent again with the
# same Message-ID: the documented possible duplicate); a graceful quit
# while emails are being sent (in-flight ones finish, the rest go back
# to the queue; none lost, none twice).

use strict;
use warnings;

use Test::Nginx::Socket 'no_plan';
use Test::More;
use CRM::Test qw(api sql wait_for mails_to error_log);

my $A = $CRM::Test::WS_A;
my $KA = $CRM::Test::KEY_A;

CRM::Test::reset();
CRM::Test::smtp_wipe();

# what a sending host has (the block's nginx and the second one)
our $SMTP = <<'_EOC_';
    crm_smtp smtp://127.0.0.1:$TEST_NGINX_SMTP_PORT from=crm@example.test
             connections=2 batch=3 lease=3s;
    crm_email_retry 300ms 30s;
    crm_jobs_interval 200ms;
    crm_outbound_allow 127.0.0.0/8;
_EOC_

$CRM::Test::HttpConfig .= $SMTP;

sub queue {
    my ($n, $prefix) = @_;
    sql("INSERT INTO emails (workspace_id, to_email, subject, body_text)"
        . " SELECT '$A', '$prefix' || i || '\@mail.test', 'n' || i, 'x'"
        . " FROM generate_series(1, $n) i");
}

sub count_status {
    my ($prefix, $status) = @_;
    return sql("SELECT count(*) FROM emails WHERE to_email LIKE '$prefix%'"
               . " AND status = '$status'");
}

sub once_each {
    my ($n, $prefix) = @_;
    my %got;
    $got{ $_->{rcpt} }++ for CRM::Test::smtp_messages();
    my @bad = grep { ($got{"$prefix$_\@mail.test"} // 0) != 1 } 1 .. $n;
    return scalar @bad;
}

Test::Nginx::Socket::add_response_body_check(sub {
    my ($block, $body, $req_idx, $repeated, $dry_run) = @_;
    my $name = $block->name;

    return if $dry_run;

    if ($name =~ /crm_jobs off claims nothing/) {
        my $id = JSON::PP::decode_json($body)->{data}{id};
        Time::HiRes::sleep(1.5);
        is(sql("SELECT status || ' ' || attempts FROM emails"
               . " WHERE id = '$id'"), 'queued 0', "$name - still queued");
        is(scalar(mails_to('off@mail.test')), 0, "$name - nothing sent");

        CRM::Test::second_nginx(http => $SMTP);
        ok(wait_for(sub { sql("SELECT status FROM emails WHERE id = '$id'")
                          eq 'sent' }, 10),
           "$name - a sending host sends it");
        CRM::Test::stop_second_nginx();
        is(scalar(mails_to('off@mail.test')), 1, "$name - once");

    } elsif ($name =~ /two hosts share the work/) {
        my $pid2 = CRM::Test::second_nginx(http => $SMTP);
        queue(30, 'slow0-share-');
        ok(wait_for(sub { count_status('slow0-share-', 'sent') == 30 }, 30),
           "$name - all 30 sent");
        is(once_each(30, 'slow0-share-'), 0,
           "$name - each recipient got exactly one message");
        my $by = sql("SELECT string_agg(DISTINCT split_part(sent_by, ':', 2),"
                     . " ' ') FROM emails WHERE to_email LIKE 'slow0-share-%'");
        my %pids = map { $_ => 1 } split ' ', $by;
        ok($pids{$pid2}, "$name - the second host sent some");
        ok(keys(%pids) >= 2, "$name - and the first host too ($by)");
        CRM::Test::stop_second_nginx();

    } elsif ($name =~ /worker killed with kill -9/) {
        my $master = CRM::Test::second_nginx(http => $SMTP, master => 1);
        my ($s, $d) = api('POST', '/api/v1/emails/send', $KA,
                          '{"to":"slow2-kill@mail.test","subject":"k",'
                          . '"text":"x"}');
        my $id = $d->{data}{id};
        ok(wait_for(sub { mails_to('slow2-kill@mail.test') >= 1 }, 10),
           "$name - the relay has the message, its answer is pending");
        my $owner = sql("SELECT lease_owner FROM emails WHERE id = '$id'");
        my $worker = (split /:/, $owner)[1];
        ok($worker && $worker != $master, "$name - a worker holds it");
        kill 'KILL', $worker;

        ok(wait_for(sub { sql("SELECT status FROM emails WHERE id = '$id'")
                          eq 'sent' }, 20),
           "$name - sent after the lease ran out");
        is(sql("SELECT attempts FROM emails WHERE id = '$id'"), 2,
           "$name - in a second attempt");
        my @m = mails_to('slow2-kill@mail.test');
        is(scalar @m, 2, "$name - a possible duplicate, as documented");
        my $mid = sql("SELECT message_id FROM emails WHERE id = '$id'");
        is(join(' ', map { $_->{message_id} } @m), "$mid $mid",
           "$name - with the same Message-ID");
        CRM::Test::stop_second_nginx();

    } elsif ($name =~ /graceful quit while emails are being sent/) {
        CRM::Test::second_nginx(http => $SMTP, master => 1);
        queue(12, 'slow1-quit-');
        ok(wait_for(sub { count_status('slow1-quit-', 'sent') >= 2 }, 10),
           "$name - sending is under way");
        ok(CRM::Test::stop_second_nginx('QUIT', 15),
           "$name - the host quits gracefully");
        is(count_status('slow1-quit-', 'sending'), 0,
           "$name - no email is left claimed by the host that quit");
        my $sent = count_status('slow1-quit-', 'sent');
        ok($sent < 12, "$name - some were still queued ($sent sent)");

        CRM::Test::second_nginx(http => $SMTP);
        ok(wait_for(sub { count_status('slow1-quit-', 'sent') == 12 }, 30),
           "$name - another host sends the rest");
        is(once_each(12, 'slow1-quit-'), 0,
           "$name - each recipient got exactly one message");
        CRM::Test::stop_second_nginx();

    } elsif ($name =~ /NOTIFY wakes delivery at once/) {
        my $sent = sub {
            my ($to) = @_;
            my $id;
            # the pool's first statement after a restart may find its
            # connection gone (503): a client retries
            wait_for(sub {
                my ($s, $d) = api('POST', '/api/v1/emails/send', $KA,
                                  qq({"to":"$to","subject":"n","text":"x"}));
                $id = $d->{data}{id};
                return $s == 202;
            }, 5) or return 0;
            return wait_for(sub { sql("SELECT status FROM emails"
                                      . " WHERE id = '$id'") eq 'sent' }, 5);
        };
        # the poll runs once an hour: only the notification can do it
        Time::HiRes::sleep(0.5);
        ok($sent->('notify1@mail.test'), "$name - sent within 5 s");
        CRM::Test::pg('stop');
        CRM::Test::pg('start');
        ok(wait_for(sub { sql("SELECT count(*) FROM pg_stat_activity"
                              . " WHERE query = 'LISTEN crm_jobs'") >= 1 },
                    10),
           "$name - the LISTEN session is back");
        ok($sent->('notify2@mail.test'), "$name - sent within 5 s again");

    } elsif ($name =~ /outbound policy refuses is never contacted/) {
        my $id = JSON::PP::decode_json($body)->{data}{id};
        ok(wait_for(sub { sql("SELECT status FROM emails WHERE id = '$id'")
                          eq 'deferred' }, 10), "$name - deferred");
        like(sql("SELECT last_error FROM emails WHERE id = '$id'"),
             qr/refused: loopback/, "$name - refused as loopback");
        is(scalar(mails_to('policy@mail.test')), 0,
           "$name - the relay never saw it");
    }
});

no_shuffle();
run_tests();

__DATA__

=== TEST 1: a host with crm_jobs off claims nothing
--- http_config
    crm_postgres "$TEST_NGINX_PG_DSN";
    crm_api_key test-key-a-0123456789abcdef 11111111-1111-4111-8111-111111111111;
    crm_smtp smtp://127.0.0.1:$TEST_NGINX_SMTP_PORT from=crm@example.test;
    crm_jobs_interval 200ms;
    crm_outbound_allow 127.0.0.0/8;
    crm_jobs off;
--- request
POST /api/v1/emails/send
{"to":"off@mail.test","subject":"off","text":"x"}
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json
--- error_code: 202
--- response_body_like: "status":"queued"



=== TEST 2: two hosts share the work without double sends
--- request
GET /api/v1/emails?fields=id&limit=1
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
--- error_code: 200



=== TEST 3: a worker killed with kill -9 while sending
--- http_config
    crm_postgres "$TEST_NGINX_PG_DSN";
    crm_api_key test-key-a-0123456789abcdef 11111111-1111-4111-8111-111111111111;
--- request
GET /api/v1/emails?fields=id&limit=1
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
--- error_code: 200



=== TEST 4: a graceful quit while emails are being sent
--- http_config
    crm_postgres "$TEST_NGINX_PG_DSN";
    crm_api_key test-key-a-0123456789abcdef 11111111-1111-4111-8111-111111111111;
--- request
GET /api/v1/emails?fields=id&limit=1
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
--- error_code: 200



=== TEST 5: a NOTIFY wakes delivery at once, also after PostgreSQL restarts
--- http_config
    crm_postgres "$TEST_NGINX_PG_DSN";
    crm_postgres_retry_max 500ms;
    crm_api_key test-key-a-0123456789abcdef 11111111-1111-4111-8111-111111111111;
    crm_smtp smtp://127.0.0.1:$TEST_NGINX_SMTP_PORT from=crm@example.test;
    crm_outbound_allow 127.0.0.0/8;
    crm_jobs_interval 1h;
--- request
GET /api/v1/emails?fields=id&limit=1
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
--- error_code: 200



=== TEST 6: a relay at an address the outbound policy refuses is never contacted
--- http_config
    crm_postgres "$TEST_NGINX_PG_DSN";
    crm_api_key test-key-a-0123456789abcdef 11111111-1111-4111-8111-111111111111;
    crm_smtp smtp://127.0.0.1:$TEST_NGINX_SMTP_PORT from=crm@example.test;
    crm_email_retry 1h 2h;
    crm_jobs_interval 200ms;
--- request
POST /api/v1/emails/send
{"to":"policy@mail.test","subject":"policy","text":"x"}
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json
--- error_code: 202
--- response_body_like: "status":"queued"
