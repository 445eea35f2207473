# Email delivery through relays that require TLS and AUTH, as real ones
# do: the test SMTP sink's STARTTLS listener ($TEST_NGINX_SMTP_PORT + 1)
# and its smtps:// listener (+ 2), both requiring AUTH, with a
# certificate signed by the stack's own CA (t/README, "The SMTP sink").
# crm_outbound_trusted_certificate names that CA.  Checked: STARTTLS
# with AUTH and smtps:// deliver (and the sink saw TLS and the user); a
# wrong password, a certificate of another CA, the system's CAs (which
# do not know the stack's), starttls=on against a relay that offers no
# STARTTLS and starttls=off against one that requires it are each a
# temporary failure: nothing reaches the relay, nothing is bounced or
# suppressed, the email says why, and the error log says it once (a
# relay that fails, and when it works again).  Each block first cancels
# what earlier ones left queued, so that no email is tried through
# another block's relay.

use strict;
use warnings;

use Test::Nginx::Socket 'no_plan';
use Test::More;
use CRM::Test qw(api sql wait_for mails_to error_log);

my $KA = $CRM::Test::KEY_A;
# for the blocks' eval sections, which see package variables only
our $STARTTLS = CRM::Test::smtp_tls_port();
our $SMTPS = CRM::Test::smtps_port();
our $CA = CRM::Test::tls_file('ca.pem');
our $OTHER = CRM::Test::tls_file('other-ca.pem');

CRM::Test::reset();
CRM::Test::smtp_wipe();

# the module's default configuration with a relay: "relay" is the
# crm_smtp URL and parameters, "ca" the trusted certificate file or none,
# "max_age" the retry window (2s)
sub relay {
    my ($relay, $ca, $max_age) = @_;
    return $CRM::Test::HttpConfig
        . "    crm_smtp $relay from=crm\@example.test;\n"
        . "    crm_email_retry 300ms " . ($max_age // '2s') . ";\n"
        . "    crm_jobs_interval 200ms;\n"
        . "    crm_outbound_allow 127.0.0.0/8;\n"
        . "    crm_outbound_connect_timeout 3s;\n"
        . "    crm_outbound_timeout 5s;\n"
        . ($ca ? "    crm_outbound_trusted_certificate $ca;\n" : '');
}

sub email {
    my ($id) = @_;
    my (undef, $d) = api('GET', "/api/v1/emails/$id", $KA);
    return $d->{data} || {};
}

# a temporary failure: deferred at least once, never bounced, the
# address not suppressed, nothing at the relay; the last error matches
sub deferred_ok {
    my ($name, $body, $rcpt, $error, $code) = @_;
    my $id = JSON::PP::decode_json($body)->{data}{id};

    ok(wait_for(sub { (email($id)->{events} || [])->[1] }, 10),
       "$name - an outcome");
    my $e = email($id);
    is($e->{events}[1]{type}, 'deferred', "$name - deferred");
    like($e->{status}, qr/^(queued|deferred|failed)$/,
         "$name - not sent, not bounced");
    like($e->{lastError} // '', $error, "$name - the email says why");
    is($e->{smtpCode}, $code, "$name - the SMTP code");
    is(sql("SELECT count(*) FROM suppressions WHERE email = '$rcpt'"), 0,
       "$name - the address is not suppressed");
    is(scalar(mails_to($rcpt)), 0, "$name - nothing reached the relay");
}

# the lines of this block's error log that match
sub logged {
    my ($re) = @_;
    return scalar(grep { /$re/ } split /^/m, error_log());
}

Test::Nginx::Socket::add_response_body_check(sub {
    my ($block, $body, $req_idx, $repeated, $dry_run) = @_;
    my $name = $block->name;

    return if $dry_run;

    if ($name =~ /STARTTLS and AUTH deliver/) {
        my $id = JSON::PP::decode_json($body)->{data}{id};
        ok(wait_for(sub { (email($id)->{status} // '') eq 'sent' }, 10),
           "$name - sent");
        my $e = email($id);
        is($e->{smtpCode}, 250, "$name - 250");
        is($e->{attempts}, 1, "$name - at the first attempt");
        ok(wait_for(sub { mails_to('tls-copy@mail.test') == 1 }, 5),
           "$name - the copy too");
        for my $rcpt ('tls@mail.test', 'tls-copy@mail.test') {
            my @m = mails_to($rcpt);
            is(scalar @m, 1, "$name - one message to $rcpt");
            ok($m[0]{tls}, "$name - over TLS");
            is($m[0]{auth}, 'crm', "$name - authenticated as crm");
        }

    } elsif ($name =~ /smtps:\/\/ delivers/) {
        my $id = JSON::PP::decode_json($body)->{data}{id};
        ok(wait_for(sub { (email($id)->{status} // '') eq 'sent' }, 10),
           "$name - sent");
        my @m = mails_to('smtps@mail.test');
        is(scalar @m, 1, "$name - one message");
        ok($m[0]{tls}, "$name - over TLS");
        is($m[0]{auth}, 'crm', "$name - authenticated as crm");

    } elsif ($name =~ /wrong password/) {
        deferred_ok($name, $body, 'password@mail.test',
                    qr/credentials invalid/, 535);
        my $id = JSON::PP::decode_json($body)->{data}{id};
        ok(wait_for(sub { email($id)->{attempts} >= 3 }, 10),
           "$name - tried again and again");
        is(logged(qr/fails before any recipient/), 1,
           "$name - the error log says it once");

    } elsif ($name =~ /relay that is down, then back/) {
        my (undef, $t) = api('POST', '/api/v1/emails/send', $KA,
            '{"to":"tempfail@mail.test","subject":"451","text":"x"}');
        my $tid = $t->{data}{id};
        ok(wait_for(sub { (email($tid)->{smtpCode} // 0) == 451 }, 10),
           "$name - a recipient refused for now (451)");
        is(logged(qr/fails before any recipient/), 0,
           "$name - is the recipient's matter, not the relay's");
        CRM::Test::smtp_stop();
        my (undef, $d) = api('POST', '/api/v1/emails/send', $KA,
            '{"to":"back@mail.test","subject":"back","text":"x"}');
        my $id = $d->{data}{id};
        ok(wait_for(sub { (email($id)->{status} // '') eq 'deferred' }, 10),
           "$name - deferred while it is down");
        ok(wait_for(sub { logged(qr/fails before any recipient/) }, 5),
           "$name - the error log says it fails");
        CRM::Test::smtp_start();
        ok(wait_for(sub { (email($id)->{status} // '') eq 'sent' }, 15),
           "$name - sent once it is back");
        my @m = mails_to('back@mail.test');
        is(scalar @m, 1, "$name - once");
        ok(@m && $m[0]{tls}, "$name - over TLS");
        ok(wait_for(sub { logged(qr/through smtp:\S+ works again/) }, 5),
           "$name - and that it works again");
        is(logged(qr/fails before any recipient/), 1,
           "$name - the failure logged once");

    } elsif ($name =~ /nginx does not start/) {
        my $root = $ENV{TEST_NGINX_SERVROOT} || 't/servroot';
        my $key = CRM::Test::tls_file('server.key');
        my $damaged = "$root-second.damaged.pem";
        open my $fh, '>', $damaged or die "$damaged: $!";
        print $fh do { local (@ARGV, $/) = $CA; <> },
                  "-----BEGIN CERTIFICATE-----\nnot base64 !\n"
                  . "-----END CERTIFICATE-----\n";
        close $fh;
        for my $case (["$CA.missing", qr/cannot open "\Q$CA.missing\E"/],
                      [$key, qr/no PEM certificate in "\Q$key\E"/],
                      [$damaged, qr/a damaged certificate after the first 1 in "\Q$damaged\E"/])
        {
            my ($file, $why) = @$case;
            ok(!eval { CRM::Test::second_nginx(http =>
                           "    crm_outbound_trusted_certificate $file;\n");
                       1 },
               "$name - $file: nginx does not start");
            like(error_log('second'), $why, "$name - and says why");
        }
        ok(CRM::Test::second_nginx(http =>
               "    crm_outbound_trusted_certificate $CA;\n"
               . "    crm_smtp smtp://127.0.0.1:$STARTTLS user=crm"
               . " password=x;\n    crm_outbound_allow 127.0.0.1;\n"),
           "$name - with the CA's file it starts");
        CRM::Test::stop_second_nginx();
        like(error_log('second'), qr/\[warn\].*crm_smtp: user= without starttls=on: the password goes to "127\.0\.0\.1" unencrypted/,
             "$name - a password for plain SMTP: nginx warns");

    } elsif ($name =~ /another CA/) {
        deferred_ok($name, $body, 'other-ca@mail.test', qr/certificate/i,
                    undef);

    } elsif ($name =~ /system's CAs/) {
        deferred_ok($name, $body, 'system@mail.test', qr/certificate/i,
                    undef);

    } elsif ($name =~ /offers no STARTTLS/) {
        deferred_ok($name, $body, 'clear@mail.test', qr/STARTTLS|SSL/i,
                    undef);

    } elsif ($name =~ /requires STARTTLS/) {
        deferred_ok($name, $body, 'nostarttls@mail.test', qr/STARTTLS/,
                    530);
    }
});

no_shuffle();
run_tests();

__DATA__

=== TEST 1: STARTTLS and AUTH deliver, through the CA trusted by crm_outbound_trusted_certificate
--- sql
UPDATE emails SET status = 'cancelled' WHERE status IN ('queued', 'deferred', 'sending')
--- http_config eval
main::relay("smtp://127.0.0.1:$main::STARTTLS starttls=on user=crm password=sink-password", $main::CA)
--- request
POST /api/v1/emails/send
{"to":"tls@mail.test","cc":["tls-copy@mail.test"],"subject":"tls","text":"x"}
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json
--- error_code: 202
--- response_body_like: "status":"queued"
--- no_error_log
[error]



=== TEST 2: smtps:// delivers (TLS from the first byte), with AUTH
--- sql
UPDATE emails SET status = 'cancelled' WHERE status IN ('queued', 'deferred', 'sending')
--- http_config eval
main::relay("smtps://127.0.0.1:$main::SMTPS user=crm password=sink-password", $main::CA)
--- request
POST /api/v1/emails/send
{"to":"smtps@mail.test","subject":"smtps","text":"x"}
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json
--- error_code: 202
--- response_body_like: "status":"queued"



=== TEST 3: a wrong password is a temporary failure (535), not a bounce
--- sql
UPDATE emails SET status = 'cancelled' WHERE status IN ('queued', 'deferred', 'sending')
--- http_config eval
main::relay("smtp://127.0.0.1:$main::STARTTLS starttls=on user=crm password=wrong", $main::CA)
--- request
POST /api/v1/emails/send
{"to":"password@mail.test","subject":"password","text":"x"}
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json
--- error_code: 202
--- response_body_like: "status":"queued"
--- error_log eval
qr/email delivery through smtp:\/\/127\.0\.0\.1:\d+ fails before any recipient: 535 5\.7\.8 Authentication credentials invalid \(email [0-9a-f-]{36}\)/



=== TEST 4: a relay certificate not signed by the trusted CA (another CA) is refused
--- sql
UPDATE emails SET status = 'cancelled' WHERE status IN ('queued', 'deferred', 'sending')
--- http_config eval
main::relay("smtps://127.0.0.1:$main::SMTPS user=crm password=sink-password", $main::OTHER)
--- request
POST /api/v1/emails/send
{"to":"other-ca@mail.test","subject":"other","text":"x"}
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json
--- error_code: 202
--- response_body_like: "status":"queued"



=== TEST 5: without crm_outbound_trusted_certificate the system's CAs decide, and they do not know the relay's
--- sql
UPDATE emails SET status = 'cancelled' WHERE status IN ('queued', 'deferred', 'sending')
--- http_config eval
main::relay("smtp://127.0.0.1:$main::STARTTLS starttls=on user=crm password=sink-password")
--- request
POST /api/v1/emails/send
{"to":"system@mail.test","subject":"system","text":"x"}
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json
--- error_code: 202
--- response_body_like: "status":"queued"



=== TEST 6: starttls=on with a relay that offers no STARTTLS: nothing goes in the clear
--- sql
UPDATE emails SET status = 'cancelled' WHERE status IN ('queued', 'deferred', 'sending')
--- http_config eval
main::relay("smtp://127.0.0.1:\$TEST_NGINX_SMTP_PORT starttls=on user=crm password=sink-password", $main::CA)
--- request
POST /api/v1/emails/send
{"to":"clear@mail.test","subject":"clear","text":"x"}
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json
--- error_code: 202
--- response_body_like: "status":"queued"



=== TEST 7: starttls=off with a relay that requires STARTTLS: 530 is temporary, nothing bounced
--- sql
UPDATE emails SET status = 'cancelled' WHERE status IN ('queued', 'deferred', 'sending')
--- http_config eval
main::relay("smtp://127.0.0.1:$main::STARTTLS starttls=off", $main::CA)
--- request
POST /api/v1/emails/send
{"to":"nostarttls@mail.test","subject":"nostarttls","text":"x"}
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json
--- error_code: 202
--- response_body_like: "status":"queued"



=== TEST 8: a TLS relay that is down, then back: the error log says when it fails and when it works again
--- sql
UPDATE emails SET status = 'cancelled' WHERE status IN ('queued', 'deferred', 'sending')
--- http_config eval
main::relay("smtp://127.0.0.1:$main::STARTTLS starttls=on user=crm password=sink-password", $main::CA, '60s')
--- request
GET /api/v1/health
--- error_code: 200



=== TEST 9: crm_outbound_trusted_certificate without a certificate: nginx does not start; crm_smtp with a password and no STARTTLS: it warns
--- sql
UPDATE emails SET status = 'cancelled' WHERE status IN ('queued', 'deferred', 'sending')
--- request
GET /api/v1/health
--- error_code: 200
