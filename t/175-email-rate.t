# A relay's rate= (crm_smtp): transfers a second, the recipient's and
# each copy's, shared by every host through email_send_rate
# (sql/072).  TEST 1 calls db_email_claim() itself, in one transaction
# (now() is constant there, so the second is too): the copies still to
# send are counted, an email is taken while the second has room and may
# overdraw it, the next claim of that second gets nothing, the overdraft
# is taken from the next second, a long pause costs nothing, no rate
# counts nothing.  TEST 2 sends through the sink with rate=1: an email
# with more transfers than the rate is not held back, and the emails
# behind it follow.

use strict;
use warnings;

use Test::Nginx::Socket 'no_plan';
use Test::More;
use CRM::Test qw(api sql wait_for mails_to);

my $A = $CRM::Test::WS_A;
my $KA = $CRM::Test::KEY_A;

CRM::Test::reset();
CRM::Test::smtp_wipe();
sql("DELETE FROM email_send_rate WHERE relay LIKE 'test-175-%'");

# the module's default configuration with a relay at "rate"
sub relay {
    my ($rate) = @_;
    return $CRM::Test::HttpConfig
        . "    crm_smtp smtp://127.0.0.1:\$TEST_NGINX_SMTP_PORT"
        . " from=crm\@example.test connections=4 rate=$rate;\n"
        . "    crm_email_retry 300ms 30s;\n"
        . "    crm_jobs_interval 200ms;\n"
        . "    crm_outbound_allow 127.0.0.0/8;\n";
}

sub email {
    my ($id) = @_;
    my (undef, $d) = api('GET', "/api/v1/emails/$id", $KA);
    return $d->{data} || {};
}

sub send_one {
    my ($body) = @_;
    my (undef, $d) = api('POST', '/api/v1/emails/send', $KA,
                         JSON::PP::encode_json($body));
    return $d->{data} ? $d->{data}{id} : undef;
}

# claim N of the script below: "to:copy+copy,..." (recipients in order)
# and the second's count after it
my $CLAIM = <<'_SQL_';
INSERT INTO claims
SELECT %d, coalesce(string_agg(c.to_email || ':'
                               || array_to_string(c.copies, '+'), ','
                               ORDER BY c.to_email), '-'),
       NULL
  FROM db_email_claim(%d, '1 day', 'test', 'example.test', '%s', %d) c;
UPDATE claims SET sent = (SELECT r.sent FROM email_send_rate r
                           WHERE r.relay = '%s')
 WHERE n = %d;
_SQL_

sub claim {
    my ($n, $batch, $relay, $rate) = @_;
    return sprintf($CLAIM, $n, $batch, $relay, $rate, $relay, $n);
}

Test::Nginx::Socket::add_response_body_check(sub {
    my ($block, $body, $req_idx, $repeated, $dry_run) = @_;
    my $name = $block->name;

    return if $dry_run;

    if ($name =~ /counts the transfers/) {
        # five due emails, oldest first: 3, 3, 1, 1 and 2 transfers (a
        # copy to the recipient's own address, two spellings of one
        # address, a copy answered already and a suppressed one are not
        # sent)
        my $r = sql(<<"_SQL_"
CREATE TEMP TABLE claims (n integer, emails text, sent integer);
INSERT INTO emails (workspace_id, id, from_email, to_email, subject,
                    body_text, cc, bcc, copies_done, next_attempt_at)
SELECT '$A', ('e1750000-0000-4000-8000-00000000000' || v.n)::uuid,
       'crm\@example.test', 'to' || v.n || '\@mail.test', 'rate', 'x',
       v.cc::text[], v.bcc::text[], v.done::text[],
       now() - interval '1 hour' + v.n * interval '1 minute'
  FROM (VALUES (1, '{a\@x.test,b\@x.test}', '{}', '{}'),
               (2, '{c\@x.test,C\@X.test,to2\@mail.test}', '{d\@x.test}',
                '{}'),
               (3, '{}', '{}', '{}'),
               (4, '{}', '{}', '{}'),
               (5, '{e\@x.test,f\@x.test}', '{G\@x.test}',
                '{E\@x.test}'))
       v (n, cc, bcc, done);
INSERT INTO suppressions (workspace_id, email, reason)
VALUES ('$A', 'g\@x.test', 'manual');
@{[ claim(1, 10, 'test-175-a', 5) ]}
@{[ claim(2, 10, 'test-175-a', 5) ]}
UPDATE email_send_rate SET second = second - interval '1 second'
 WHERE relay = 'test-175-a';
@{[ claim(3, 10, 'test-175-a', 5) ]}
UPDATE emails SET status = 'queued', attempts = 0
 WHERE id::text LIKE 'e1750000-%';
UPDATE email_send_rate SET second = second - interval '1000 years',
                           sent = 2000000000
 WHERE relay = 'test-175-a';
@{[ claim(4, 2, 'test-175-a', 5) ]}
@{[ claim(5, 10, 'test-175-b', 0) ]}
UPDATE emails SET status = 'cancelled' WHERE id::text LIKE 'e1750000-%';
SELECT string_agg(n || ' ' || emails || ' ' || coalesce(sent::text, '-'),
                  E'\\n' ORDER BY n)
  FROM claims;
_SQL_
        );
        my @c = split /\n/, $r;
        is($c[0], '1 to1@mail.test:a@x.test+b@x.test,'
                  . 'to2@mail.test:c@x.test+d@x.test 6',
           "$name - the second's room (5) is overdrawn by the last "
           . "email taken (3 + 3 transfers), and the third waits");
        is($c[1], '2 - 6', "$name - nothing more in that second");
        is($c[2], '3 to3@mail.test:,to4@mail.test:,to5@mail.test:f@x.test 5',
           "$name - the next second starts at the overdraft (1): three "
           . "emails, four transfers; an answered copy and a suppressed "
           . "one are not counted");
        is($c[3], '4 to1@mail.test:a@x.test+b@x.test,'
                  . 'to2@mail.test:c@x.test+d@x.test 6',
           "$name - after a long pause (1000 years: the rate times the "
           . "seconds is beyond 32 bits) the count starts again at 0");
        is($c[4], '5 to3@mail.test:,to4@mail.test:,to5@mail.test:f@x.test -',
           "$name - without a rate nothing is counted");
        is(sql("SELECT count(*) FROM email_send_rate"
               . " WHERE relay = 'test-175-b'"), 0,
           "$name - no row for a relay without a rate");

    } elsif ($name =~ /more transfers than the rate/) {
        my $heavy = send_one({ to => 'heavy@mail.test',
                               cc => ['heavy-cc1@mail.test',
                                      'heavy-cc2@mail.test'],
                               bcc => ['heavy-bcc@mail.test'],
                               subject => 'heavy', text => 'x' });
        my @light = map { send_one({ to => "light$_\@mail.test",
                                     subject => 'light', text => 'x' }) }
                    1 .. 2;
        ok(defined $heavy && !grep({ !defined } @light),
           "$name - queued");
        for my $id ($heavy, @light) {
            ok(wait_for(sub { (email($id)->{status} // '') eq 'sent' }, 30),
               "$name - $id sent");
            is(email($id)->{attempts}, 1, "$name - $id in one attempt");
        }
        for my $rcpt (qw(heavy heavy-cc1 heavy-cc2 heavy-bcc light1 light2))
        {
            is(scalar(mails_to("$rcpt\@mail.test")), 1,
               "$name - $rcpt has one message");
        }
    }
});

no_shuffle();
run_tests();

__DATA__

=== TEST 1: the claim counts the transfers of each email against the relay's rate
--- request
GET /api/v1/emails
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
--- error_code: 200



=== TEST 2: an email with more transfers than the rate is sent, and the emails behind it follow
--- http_config eval
main::relay(1)
--- request
GET /api/v1/emails
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
--- error_code: 200
--- no_error_log
[error]
