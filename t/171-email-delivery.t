# Email delivery through a real SMTP sink on loopback (util/smtp_sink.py):
# the message parsed back by Python's email package, retries, bounces and
# suppression, copies (each answered once, retried with the email),
# giving up, a relay that is down, a suppression made after
# queueing.  Hosts, restarts and kills are t/172.

use strict;
use warnings;
use utf8;

use Test::Nginx::Socket 'no_plan';
use Test::More;
use CRM::Test qw(api sql wait_for mails_to error_log);

my ($A, $B) = ($CRM::Test::WS_A, $CRM::Test::WS_B);
my $KA = $CRM::Test::KEY_A;

CRM::Test::reset();
CRM::Test::smtp_wipe();
sql(<<"_SQL_");
INSERT INTO contacts (workspace_id, id, first_name, last_name, email) VALUES
 ('$A', 'c7100000-0000-4000-8000-000000000001', 'Ada', 'Lövelace',
  'ada\@mail.test');
_SQL_

$CRM::Test::HttpConfig .= <<'_EOC_';
    crm_smtp smtp://127.0.0.1:$TEST_NGINX_SMTP_PORT from=crm@example.test
             from_name=CRM connections=4 batch=10 lease=20s;
    crm_email_retry 300ms 3s;
    crm_jobs_interval 200ms;
    crm_outbound_allow 127.0.0.0/8;
    crm_tracking_secret test-tracking-secret-0123456789;
    crm_tracking_url http://127.0.0.1:$TEST_NGINX_SERVER_PORT/t/;
_EOC_

$CRM::Test::Config .= <<'_EOC_';
    location /t/ {
        crm_tracking;
    }
_EOC_

my $SUBJECT = 'Grüße — ünïcode ✓ 日本語 ' . join(' ', ('long subject') x 20);

sub email {
    my ($id) = @_;
    my ($s, $d) = api('GET', "/api/v1/emails/$id", $KA);
    return $d->{data} || {};
}

sub status_is {
    my ($id, $want, $secs) = @_;
    return wait_for(sub { (email($id)->{status} // '') eq $want }, $secs);
}

sub events {
    my ($e) = @_;
    return join ',', map { $_->{type} } @{ $e->{events} || [] };
}

sub send_one {
    my ($body) = @_;
    my ($s, $d) = api('POST', '/api/v1/emails/send', $KA,
                      JSON::PP::encode_json($body));
    return ($s, $d->{data} ? $d->{data}{id} : undef, $d);
}

Test::Nginx::Socket::add_response_body_check(sub {
    my ($block, $body, $req_idx, $repeated, $dry_run) = @_;
    my $name = $block->name;

    return if $dry_run;

    if ($name =~ /reaches the relay as a real MIME message/) {
        my $id = JSON::PP::decode_json($body)->{data}{id};
        ok(status_is($id, 'sent', 10), "$name - sent");
        my $e = email($id);
        is(events($e), 'queued,sent', "$name - its events");
        is($e->{smtpCode}, 250, "$name - the relay's code");
        is($e->{attempts}, 1, "$name - one attempt");
        like($e->{messageId}, qr/^<\Q$id\E\@example\.test>$/,
             "$name - a Message-ID of the sender's domain");

        my @m = mails_to('ada@mail.test');
        is(scalar @m, 1, "$name - one message to the recipient");
        ok(wait_for(sub { mails_to('copy@mail.test') == 1
                          && mails_to('hidden@mail.test') == 1 }, 5),
           "$name - one to each copy");
        is($m[0]{mail_from}, 'crm@example.test', "$name - the envelope sender");

        my ($p) = @{ CRM::Test::eml($m[0]) };
        is($p->{subject}, $SUBJECT, "$name - the subject, parsed back");
        is($p->{from}, 'CRM <crm@example.test>', "$name - From");
        is($p->{to}, 'Ada Lövelace <ada@mail.test>', "$name - To, with the name");
        is($p->{cc}, 'copy@mail.test', "$name - Cc");
        is($p->{bcc}, undef, "$name - no Bcc header");
        is($p->{message_id}, $e->{messageId}, "$name - the Message-ID");
        is($p->{email_id}, $id, "$name - X-CRM-Email-Id");
        is($p->{content_type}, 'multipart/alternative',
           "$name - multipart/alternative");
        is(join(' ', @{ $p->{parts} }), 'text/plain text/html',
           "$name - text, then html");
        is($p->{text}, "Héllo Ada,\n\n" . ('x' x 1200) . "\n",
           "$name - the text part, exactly");
        like($p->{html}, qr{<p>Héllo <b>Ada</b>, see <a href="http://127\.0\.0\.1:\d+/t/c/[A-Za-z0-9_-]+">this</a></p>},
             "$name - the html part, its link tracked");
        like($p->{html}, qr{<img src="http://127\.0\.0\.1:\d+/t/o/[A-Za-z0-9_-]+\.gif"},
             "$name - an open pixel");
        like($p->{list_unsubscribe}, qr{^<http://127\.0\.0\.1:\d+/t/u/[A-Za-z0-9_-]+>$},
             "$name - List-Unsubscribe");
        is($p->{list_unsubscribe_post}, 'List-Unsubscribe=One-Click',
           "$name - one-click unsubscribe (RFC 8058)");

        # the link of the delivered message, followed
        my ($path) = $p->{html} =~ m{http://127\.0\.0\.1:\d+(/t/c/[A-Za-z0-9_-]+)};
        my ($st, undef, $head) = CRM::Test::http_request('GET', $path,
            ['User-Agent: Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0']);
        is($st, 302, "$name - the tracked link redirects");
        like($head, qr{^Location: https://example\.com/a\?b=1&c=2\r?$}mi,
             "$name - to the link of the email");
        ok(wait_for(sub { events(email($id)) eq 'queued,sent,clicked' }, 5),
           "$name - the click is an event of the email");
        is(join(',', @{ $p->{defects} }), '', "$name - no defects");
        is($p->{long_lines}, 0, "$name - no line over 998 octets");
        ok(defined $p->{date}, "$name - a Date");

    } elsif ($name =~ /retried, then sent/) {
        my $id = JSON::PP::decode_json($body)->{data}{id};
        ok(status_is($id, 'sent', 10), "$name - sent in the end");
        my $e = email($id);
        is(events($e), 'queued,deferred,sent', "$name - deferred once");
        is($e->{events}[1]{details}{smtpCode}, 451,
           "$name - the deferral's code");
        like($e->{events}[1]{details}{message}, qr/try again later/,
             "$name - and the relay's text");
        is($e->{attempts}, 2, "$name - two attempts");
        ok(exists $e->{nextAttemptAt} && !defined $e->{nextAttemptAt},
           "$name - sent: no next attempt");
        my @m = mails_to('flaky1@mail.test');
        is(scalar @m, 1, "$name - one message accepted");

    } elsif ($name =~ /hard bounce suppresses/) {
        my $id = JSON::PP::decode_json($body)->{data}{id};
        ok(status_is($id, 'bounced', 10), "$name - bounced");
        my $e = email($id);
        is(events($e), 'queued,bounced', "$name - its events");
        is($e->{smtpCode}, 550, "$name - 550");
        is($e->{events}[1]{details}{kind}, 'hard', "$name - a hard bounce");
        like($e->{lastError}, qr/mailbox unavailable/, "$name - the text");
        is(sql("SELECT reason || ' ' || (email_id = '$id')"
               . " FROM suppressions WHERE email = 'bounce\@mail.test'"),
           'hard_bounce true', "$name - the address is suppressed");
        my ($s, undef, $d) = send_one({to => 'bounce@mail.test',
                                       subject => 'again', text => 'x'});
        is($s, 422, "$name - a new send is refused");
        is($d->{error}{details}{fields}[0]{code}, 'suppressed',
           "$name - as suppressed");

    } elsif ($name =~ /gives up after the retry window/) {
        my $id = JSON::PP::decode_json($body)->{data}{id};
        ok(status_is($id, 'failed', 15), "$name - failed");
        my $e = email($id);
        like(events($e), qr/^queued,deferred(,deferred)*,failed$/,
             "$name - deferred, then failed");
        ok($e->{attempts} >= 2, "$name - more than one attempt");
        is(scalar(mails_to('tempfail@mail.test')), 0,
           "$name - nothing accepted");
        is(sql("SELECT count(*) FROM suppressions"
               . " WHERE email = 'tempfail\@mail.test'"), 0,
           "$name - a temporary failure suppresses nothing");

    } elsif ($name =~ /relay that is down/) {
        CRM::Test::smtp_stop();
        my ($s, $id) = send_one({to => 'later@mail.test',
                                 cc => ['later-copy@mail.test'],
                                 subject => 'while down', text => 'x'});
        is($s, 202, "$name - queued while the relay is down");
        ok(status_is($id, 'deferred', 10), "$name - deferred");
        my $e = email($id);
        is($e->{smtpCode}, undef, "$name - no SMTP code");
        like($e->{nextAttemptAt} // '', qr/^\d{4}-.*Z$/,
             "$name - deferred: its next attempt");
        like($e->{lastError}, qr/connect|refused/i,
             "$name - the network error");
        CRM::Test::smtp_start();
        ok(status_is($id, 'sent', 15), "$name - sent once it is back");
        is(scalar(mails_to('later@mail.test')), 1, "$name - once");
        ok(wait_for(sub { mails_to('later-copy@mail.test') == 1 }, 5),
           "$name - and its copy, which the first attempt could not send");

    } elsif ($name =~ /each copy has its answer once/) {
        my $id = JSON::PP::decode_json($body)->{data}{id};
        ok(status_is($id, 'sent', 10), "$name - sent at the third attempt");
        my $e = email($id);
        is($e->{attempts}, 3, "$name - three attempts");
        ok(wait_for(sub { mails_to('flaky1-copy@mail.test') == 1 }, 5),
           "$name - the copy refused once went with the next attempt");
        # "sent" is recorded once every copy of the attempt has its answer
        is(scalar(mails_to('accepted-copy@mail.test')), 1,
           "$name - the copy accepted at the first attempt: not again,"
           . " and once for its two spellings");
        is(scalar(mails_to('ACCEPTED-copy@mail.test')), 0,
           "$name - (the second spelling not sent)");
        is(scalar(mails_to('flaky1-copy@mail.test')), 1,
           "$name - the other once too");
        is(scalar(mails_to('flaky2-main@mail.test')), 1,
           "$name - the recipient once, though also a copy");
        is(scalar(mails_to('bounce-copy@mail.test')), 0,
           "$name - a copy refused for good: nothing kept");
        is(sql("SELECT string_agg(a, ' ' ORDER BY a) FROM emails,"
               . " unnest(copies_done) a WHERE id = '$id'"),
           'accepted-copy@mail.test bounce-copy@mail.test'
           . ' flaky1-copy@mail.test',
           "$name - the email knows the three answered, the one refused"
           . " for good among them");
        is(sql("SELECT reason || ' ' || email_id FROM suppressions"
               . " WHERE workspace_id = '$A'"
               . " AND email = 'bounce-copy\@mail.test'"),
           "hard_bounce $id",
           "$name - the address of the copy refused for good is"
           . " suppressed, the email named");
        is(sql("SELECT count(*) FROM suppressions"
               . " WHERE email IN ('accepted-copy\@mail.test',"
               . " 'flaky1-copy\@mail.test', 'flaky2-main\@mail.test')"), 0,
           "$name - those accepted are not");

        # a worker of the previous version records with 8 arguments: it
        # sent every copy with the first attempt, so they are done
        # (claimed by it in the same transaction: the job never sees the
        # row queued)
        my $old = sql(<<"_SQL_");
BEGIN;
INSERT INTO emails (workspace_id, to_email, cc, bcc, subject, body_text)
    VALUES ('$A', 'old-worker\@mail.test', '{old-cc\@mail.test}',
            '{old-bcc\@mail.test}', 'old', 'x') RETURNING id;
UPDATE emails SET status = 'sending', attempts = 1,
       lease_owner = 'old worker', lease_until = now() + interval '1 hour'
 WHERE workspace_id = '$A' AND to_email = 'old-worker\@mail.test';
COMMIT;
_SQL_
        $old =~ s/\s+//g;
        is(sql("SELECT db_email_outcome('$A', '$old', 'old worker',"
               . " 'temporary', 451, 'later', '1 hour', '1 day')"),
           'deferred', "$name - the previous version's 8 arguments");
        is(sql("SELECT array_to_string(copies_done, ' ') FROM emails"
               . " WHERE id = '$old'"),
           'old-cc@mail.test old-bcc@mail.test',
           "$name - mark its first attempt's copies done");

        # sent at once, its copy refused for now: no attempt follows
        my ($s2, $id2) = send_one({to => 'at-once@mail.test',
                                   cc => ['tempfail-copy@mail.test'],
                                   subject => 'given up', text => 'x'});
        ok(status_is($id2, 'sent', 10), "$name - an email sent at once");
        my $want = "email $id2 is sent: its copies to"
                   . ' tempfail-copy@mail.test are given up';
        ok(wait_for(sub { index(error_log(), $want) >= 0 }, 5),
           "$name - its copy refused for now: given up, and logged");

        # a worker died holding an email whose first copy had its answer
        # recorded: once the lease runs out it is sent again, with the
        # copies still without their answer
        # (made in one transaction: the job never sees the row queued)
        my $lost = sql(<<"_SQL_");
BEGIN;
INSERT INTO emails (workspace_id, to_email, cc, subject, body_text)
    VALUES ('$A', 'lost-lease\@mail.test',
            '{lost-done\@mail.test,lost-left\@mail.test}', 'lost', 'x')
    RETURNING id;
UPDATE emails SET status = 'sending', attempts = 1,
       lease_owner = 'dead worker', lease_until = now() - interval '1 second',
       copies_done = '{lost-done\@mail.test}',
       message_id = '<lost-lease\@example.test>'
 WHERE workspace_id = '$A' AND to_email = 'lost-lease\@mail.test';
COMMIT;
_SQL_
        $lost =~ s/\s+//g;
        ok(status_is($lost, 'sent', 10), "$name - a lost lease: sent");
        ok(wait_for(sub { mails_to('lost-left@mail.test') == 1 }, 5),
           "$name - the copy without its answer went with it");
        is(scalar(mails_to('lost-done@mail.test')), 0,
           "$name - the answered one did not");
        my ($m) = mails_to('lost-lease@mail.test');
        like(CRM::Test::smtp_raw($m), qr/^Message-ID: <lost-lease\@example\.test>\r?$/mi,
             "$name - with the Message-ID of the first attempt");
        is(email($lost)->{attempts}, 2, "$name - its second attempt");

    } elsif ($name =~ /suppressed after it was queued/) {
        my $id = sql(<<"_SQL_");
BEGIN;
INSERT INTO emails (workspace_id, to_email, subject, body_text)
    VALUES ('$A', 'late\@mail.test', 'late', 'x') RETURNING id;
INSERT INTO suppressions (workspace_id, email, reason)
    VALUES ('$A', 'late\@mail.test', 'manual');
COMMIT;
_SQL_
        $id =~ s/\s+//g;
        ok(status_is($id, 'suppressed', 10), "$name - suppressed");
        is(events(email($id)), 'queued,suppressed', "$name - its events");
        is(scalar(mails_to('late@mail.test')), 0, "$name - nothing sent");

        # nor is it mailed as a copy, in any spelling
        my (undef, $id2) = send_one({to => 'late-main@mail.test',
                                     cc => ['LATE@mail.test',
                                            'late-copy@mail.test'],
                                     bcc => ['late@mail.test'],
                                     subject => 'late copy', text => 'x'});
        ok(status_is($id2, 'sent', 10), "$name - an email copied to it");
        ok(wait_for(sub { mails_to('late-copy@mail.test') == 1 }, 5),
           "$name - its other copy is sent");
        is(scalar(mails_to('late-main@mail.test')), 1,
           "$name - its recipient too");
        is(scalar(mails_to('late@mail.test'))
           + scalar(mails_to('LATE@mail.test')), 0,
           "$name - the suppressed address gets nothing");

    } elsif ($name =~ /survives the database going away/) {
        CRM::Test::pg('stop');
        Time::HiRes::sleep(2);
        CRM::Test::pg('start');
        my ($s, $id);
        ok(wait_for(sub {
               ($s, $id) = send_one({to => 'after@mail.test',
                                     subject => 'after', text => 'x'});
               return $s == 202;
           }, 10), "$name - the API takes sends again");
        ok(status_is($id, 'sent', 15), "$name - and delivery sends them");

        my @log = split /^/m, error_log();
        my $failed = grep { /email delivery: claiming emails failed/ } @log;
        my $again = grep { /email delivery claims work again/ } @log;
        is($failed, 1, "$name - the outage is logged once by the job");
        is($again, 1, "$name - and its end once");

    } elsif ($name =~ /names as long as the API takes/) {
        my $e200 = "\x{e9}" x 200;
        my $e100 = "\x{e9}" x 100;
        my (undef, $id) = send_one({to => 'long-name@mail.test',
                                    fromName => $e200,
                                    subject => 'long', text => 'x'});
        sql("INSERT INTO contacts (workspace_id, id, first_name, last_name,"
            . " email) VALUES ('$A', 'c7100000-0000-4000-8000-000000000002',"
            . " repeat(chr(233), 100), repeat(chr(233), 100),"
            . " 'long-contact\@mail.test')");
        my (undef, $id2) = send_one({to => 'c7100000-0000-4000-8000-'
                                           . '000000000002',
                                     subject => 'long', text => 'x'});
        ok(status_is($id, 'sent', 10), "$name - a sender of 200 characters"
           . ' (400 octets)');
        ok(status_is($id2, 'sent', 10), "$name - a contact's two names of"
           . ' 100 characters');
        # (Python's parser shows the white space that folds the header
        # between encoded words, which RFC 2047 says to drop: compared
        # without white space)
        my ($m) = mails_to('long-name@mail.test');
        my ($p) = $m ? @{ CRM::Test::eml($m) } : ({});
        (my $got = $p->{from} // '') =~ s/\s+//g;
        is($got, "$e200<crm\@example.test>",
           "$name - the sender's name read back whole");
        ($m) = mails_to('long-contact@mail.test');
        ($p) = $m ? @{ CRM::Test::eml($m) } : ({});
        ($got = $p->{to} // '') =~ s/\s+//g;
        is($got, "$e100$e100<long-contact\@mail.test>",
           "$name - the contact's");
        is(scalar(grep { /cannot be rendered/ } split /^/m, error_log()), 0,
           "$name - nothing failed to render");

        # a contact whose address the relay cannot be given: refused now
        sql("INSERT INTO contacts (workspace_id, id, email) VALUES ('$A',"
            . " 'c7100000-0000-4000-8000-000000000003', 'x..y\@mail.test')");
        my ($s, undef, $d) = send_one({to => 'c7100000-0000-4000-8000-'
                                              . '000000000003',
                                       subject => 'bad', text => 'x'});
        is($s, 422, "$name - a contact with an address that cannot be"
           . ' mailed: 422');
        is($d->{error}{details}{fields}[0]{field} . ' '
           . $d->{error}{details}{fields}[0]{code}, 'to invalid_format',
           "$name - on to, invalid_format");

    } elsif ($name =~ /another workspace's emails stay its own/) {
        my ($s, $d) = api('GET', '/api/v1/emails?fields=to', $CRM::Test::KEY_B);
        is(scalar @{ $d->{data} }, 0, "$name - B sees none of A's");
    }
});

no_shuffle();
run_tests();

__DATA__

=== TEST 1: a queued email reaches the relay as a real MIME message
--- request eval
use utf8;
"POST /api/v1/emails/send\n" . JSON::PP->new->utf8->encode({
    to => 'c7100000-0000-4000-8000-000000000001',
    cc => ['copy@mail.test'], bcc => ['hidden@mail.test'],
    subject => 'Grüße — ünïcode ✓ 日本語 ' . CORE::join(' ', ('long subject') x 20),
    text => "Héllo Ada,\n\n" . ('x' x 1200) . "\n",
    html => '<p>Héllo <b>Ada</b>, see <a href="https://example.com/a?b=1&amp;c=2">this</a></p>' })
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json
--- error_code: 202
--- response_body_like: "status":"queued"



=== TEST 2: a temporary failure is retried, then sent
--- request
POST /api/v1/emails/send
{"to":"flaky1@mail.test","subject":"flaky","text":"x"}
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json
--- error_code: 202
--- response_body_like: "status":"queued"



=== TEST 3: each copy has its answer once: accepted while the recipient was deferred, refused for now then accepted
--- request
POST /api/v1/emails/send
{"to":"flaky2-main@mail.test","cc":["accepted-copy@mail.test","bounce-copy@mail.test","flaky1-copy@mail.test"],"bcc":["ACCEPTED-copy@mail.test","FLAKY2-main@mail.test"],"subject":"copies","text":"x"}
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json
--- error_code: 202
--- response_body_like: "status":"queued"



=== TEST 4: a hard bounce suppresses the address
--- request
POST /api/v1/emails/send
{"to":"bounce@mail.test","subject":"bounce","text":"x"}
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json
--- error_code: 202
--- response_body_like: "status":"queued"



=== TEST 5: delivery gives up after the retry window
--- request
POST /api/v1/emails/send
{"to":"tempfail@mail.test","subject":"tempfail","text":"x"}
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json
--- error_code: 202
--- response_body_like: "status":"queued"



=== TEST 6: a relay that is down defers, then delivers
--- request
GET /api/v1/emails?fields=id
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
--- error_code: 200



=== TEST 7: an email whose address was suppressed after it was queued
--- request
GET /api/v1/emails?fields=id
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
--- error_code: 200



=== TEST 8: another workspace's emails stay its own
--- request
GET /api/v1/emails?fields=id
--- more_headers
X-API-Key: test-key-b-0123456789abcdef
--- error_code: 200
--- no_error_log
[alert]
[crit]



=== TEST 9: delivery survives the database going away, and says so once
--- request
GET /api/v1/emails?fields=id&limit=1
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
--- error_code: 200



=== TEST 10: names as long as the API takes are rendered; a contact's address that cannot be mailed is refused
--- request
GET /api/v1/emails?fields=id&limit=1
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
--- error_code: 200
