# Webhooks to an HTTPS receiver (util/webhook_sink.py with the test
# stack's server certificate, signed by the stack's own CA: t/README).
# Checked: with crm_outbound_trusted_certificate naming that CA the
# delivery goes over TLS and succeeds; with the system's CAs, or with
# another CA's file, the handshake fails: the receiver gets no request,
# the delivery is retried and records why.  Each block first turns off
# the subscriptions of earlier ones.

use strict;
use warnings;

use Test::Nginx::Socket 'no_plan';
use Test::More;
use CRM::Test qw(api sql wait_for);

my $KA = $CRM::Test::KEY_A;
my $BASE = 'https://127.0.0.1:' . CRM::Test::hook_port();

# for the blocks' eval sections, which see package variables only
our $CA = CRM::Test::tls_file('ca.pem');
our $OTHER = CRM::Test::tls_file('other-ca.pem');

CRM::Test::reset();

# the module's default configuration with webhooks on; "ca" the trusted
# certificate file, or none
sub hooks {
    my ($ca) = @_;
    return $CRM::Test::HttpConfig
        . "    crm_webhooks on;\n"
        . "    crm_webhook_retry 1s 1s 1s;\n"
        . "    crm_webhook_timeout 2s;\n"
        . "    crm_jobs_interval 200ms;\n"
        . "    crm_outbound_allow 127.0.0.0/8;\n"
        . ($ca ? "    crm_outbound_trusted_certificate $ca;\n" : '');
}

# a subscription to contact.created at BASE/path, then a contact: the
# subscription's id
sub deliver {
    my ($path, $email) = @_;
    my ($s, $r) = api('POST', '/api/v1/webhooks', $KA,
                      qq({"url":"$BASE$path","events":["contact.created"]}));
    die "webhook not made: $s" unless $s == 201;
    ($s) = api('POST', '/api/v1/contacts', $KA, qq({"email":"$email"}));
    die "contact not made: $s" unless $s == 201;
    return $r->{data}{id};
}

sub got {
    my ($path) = @_;
    return grep { $_->{path} eq $path } CRM::Test::hook_requests();
}

sub delivery {
    my ($hook) = @_;
    return sql("SELECT status || ' ' || attempts || ' ' || coalesce("
               . "last_error, '-') FROM webhook_deliveries"
               . " WHERE webhook_id = '$hook'") // '';
}

Test::Nginx::Socket::add_response_body_check(sub {
    my ($block, $body, $req_idx, $repeated, $dry_run) = @_;
    my $name = $block->name;

    return if $dry_run;

    CRM::Test::hook_wipe();
    CRM::Test::hook_start(undef, tls => 1);

    if ($name =~ /through the trusted CA/) {
        my $hook = deliver('/trusted', 'trusted@x.test');
        ok(wait_for(sub { scalar(got('/trusted')) >= 1 }, 10),
           "$name - delivered");
        my ($r) = got('/trusted');
        is($r->{json}{data}{object}{email}, 'trusted@x.test',
           "$name - the event, over TLS (the receiver speaks nothing else)");
        ok(wait_for(sub { delivery($hook) =~ /^succeeded 1 / }, 5),
           "$name - recorded succeeded");

    } else {
        my ($path) = $name =~ /system's/ ? ('/system') : ('/other');
        my $hook = deliver($path, "tls$path\@x.test");
        ok(wait_for(sub { delivery($hook) =~ /^\w+ [2-9]/ }, 10),
           "$name - tried, and again");
        like(delivery($hook), qr/certificate/i,
             "$name - the delivery says why");
        unlike(delivery($hook), qr/^succeeded/, "$name - not succeeded");
        is(scalar(got($path)), 0, "$name - the receiver got no request");
    }

    CRM::Test::hook_stop();
});

no_shuffle();
run_tests();

__DATA__

=== TEST 1: an HTTPS receiver through the trusted CA
--- sql
UPDATE webhooks SET active = false
--- http_config eval
main::hooks($main::CA)
--- request
GET /api/v1/health
--- error_code: 200
--- no_error_log
[error]



=== TEST 2: the system's CAs do not know the receiver's: refused
--- sql
UPDATE webhooks SET active = false
--- http_config eval
main::hooks()
--- request
GET /api/v1/health
--- error_code: 200



=== TEST 3: another CA's file as the trusted one: refused
--- sql
UPDATE webhooks SET active = false
--- http_config eval
main::hooks($main::OTHER)
--- request
GET /api/v1/health
--- error_code: 200
