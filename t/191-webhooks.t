# Webhooks end to end with a real receiver (util/webhook_sink.py on
# 127.0.0.1): subscriptions (the secret shown once, patterns and URLs
# validated, host names refused, isolation), signed deliveries verified
# by Python's hmac, 2xx only, retries on the (scaled) schedule with
# Retry-After, 410 disables, redirects not followed, the delivery log,
# a manual retry, a test ping, secret rotation (both signatures), and
# nothing lost while the receiver is down.

use strict;
use warnings;

use Test::Nginx::Socket 'no_plan';
use Test::More;
use CRM::Test qw(api sql wait_for);

my $KA = $CRM::Test::KEY_A;
my $KB = $CRM::Test::KEY_B;
my $P = CRM::Test::hook_port();
my $BASE = "http://127.0.0.1:$P";

CRM::Test::reset();

$CRM::Test::HttpConfig .= <<'_EOC_';
    crm_webhooks on;
    crm_webhook_retry 1s 1s 1s;
    crm_webhook_timeout 2s;
    crm_jobs_interval 200ms;
    crm_outbound_allow 127.0.0.0/8;
_EOC_

sub hook {
    my ($path, $events) = @_;
    $events //= '["contact.*"]';
    my ($s, $r) = api('POST', '/api/v1/webhooks', $KA,
                      qq({"url":"$BASE$path","events":$events}));
    die "webhook not made: $s" unless $s == 201;
    return $r->{data};
}

sub got {
    my ($path) = @_;
    return grep { $_->{path} eq $path } CRM::Test::hook_requests();
}

sub contact {
    my ($email) = @_;
    my ($s, $r) = api('POST', '/api/v1/contacts', $KA,
                      qq({"email":"$email"}));
    return $r->{data}{id};
}

sub status_of {
    my ($hook) = @_;
    return sql("SELECT string_agg(status || ':' || attempts, ' '"
               . " ORDER BY seq) FROM webhook_deliveries"
               . " WHERE webhook_id = '$hook'") // '';
}

Test::Nginx::Socket::add_response_body_check(sub {
    my ($block, $body, $req_idx, $repeated, $dry_run) = @_;
    my $name = $block->name;

    return if $dry_run;

    my $d = eval { JSON::PP::decode_json($body) } || {};

    if ($name =~ /made with its secret shown once/) {
        my $w = $d->{data};
        like($w->{secret}, qr/\Awhsec_[A-Za-z0-9+\/]{32}\z/,
             "$name - whsec_ + base64 of 24 bytes");
        my ($s, $g) = api('GET', "/api/v1/webhooks/$w->{id}", $KA);
        is($s, 200, "$name - read back");
        ok(!exists $g->{data}{secret}, "$name - without the secret");
        ($s) = api('GET', "/api/v1/webhooks/$w->{id}", $KB);
        is($s, 404, "$name - another workspace: not found");
        ($s, $g) = api('GET', '/api/v1/webhooks', $KB);
        is(scalar @{ $g->{data} }, 0, "$name - nor listed");
        ($s) = api('PATCH', "/api/v1/webhooks/$w->{id}", $KB,
                   '{"active":false}');
        is($s, 404, "$name - nor changed");
        ($s) = api('GET', "/api/v1/webhooks/$w->{id}/deliveries", $KB);
        is($s, 404, "$name - nor its deliveries");
        ($s) = api('GET', '/api/v1/webhook-deliveries', $KA);
        is($s, 404, "$name - deliveries only under their webhook");

        ($s, my $e) = api('POST', '/api/v1/webhooks', $KA,
                          '{"url":"ftp://127.0.0.1/x","events":["*"]}');
        is($s, 422, "$name - ftp refused");
        is($e->{error}{details}{fields}[0]{field}, 'url', "$name - url");
        ($s, $e) = api('POST', '/api/v1/webhooks', $KA,
                       '{"url":"https://hooks.example.com/x",'
                       . '"events":["*"]}');
        is($s, 422, "$name - a host name refused");
        is($e->{error}{details}{fields}[0]{code}, 'host_name',
           "$name - host_name");
        for my $pattern ('contacts.created', 'zzz.*') {
            ($s, $e) = api('POST', '/api/v1/webhooks', $KA,
                           qq({"url":"$BASE/x","events":["$pattern"]}));
            is("$s " . ($e->{error}{details}{fields}[0]{field} // '') . ' '
               . ($e->{error}{details}{fields}[0]{code} // ''),
               '422 events invalid_value', "$name - $pattern refused");
        }
        for my $secret ('whsec_' . ('B' x 33), 'whsec_' . ('Q' x 34),
                        'short', 'whsec_' . ('A' x 30) . '===')
        {
            ($s, $e) = api('POST', '/api/v1/webhooks', $KA,
                           qq({"url":"$BASE/x","events":["*"],)
                           . qq("secret":"$secret"}));
            is("$s " . ($e->{error}{details}{fields}[0]{field} // '') . ' '
               . ($e->{error}{details}{fields}[0]{code} // ''),
               '422 secret invalid_format', "$name - secret $secret refused");
        }
        ($s, $e) = api('POST', '/api/v1/webhooks', $KA,
                       qq({"url":"$BASE/x","events":["*"],"secret":null}));
        is("$s " . ($e->{error}{details}{fields}[0]{field} // ''),
           '422 secret', "$name - a null secret is named as such");
        ($s, $e) = api('POST', '/api/v1/webhooks', $KA,
                       qq({"url":"$BASE/x","events":["*"],)
                       . qq("secret":"whsec_) . ('A' x 34) . qq(=="}));
        is($s, 201, "$name - a padded secret (25 bytes) is taken");
        api('DELETE', "/api/v1/webhooks/$e->{data}{id}", $KA) if $s == 201;
        for my $bad ('http://127.0.0.1:99999/x', 'http://127.0.0.1:0/x',
                     'http://999.0.0.1/x', 'http://u:p@127.0.0.1/x',
                     'http://0177.0.0.1/x', 'http://127.000.000.001/x')
        {
            ($s, $e) = api('POST', '/api/v1/webhooks', $KA,
                           qq({"url":"$bad","events":["*"]}));
            is("$s " . ($e->{error}{details}{fields}[0]{field} // '') . ' '
               . ($e->{error}{details}{fields}[0]{code} // ''),
               '422 url invalid_format', "$name - $bad refused");
        }
        ($s, $e) = api('PATCH', "/api/v1/webhooks/$w->{id}", $KA,
                       '{"url":"http://127.0.0.1:99999/x"}');
        is($s, 422, "$name - nor taken by a PATCH");
        ($s, $e) = api('POST', '/api/v1/webhooks', $KA,
                       '{"url":"http://user@127.0.0.1/","events":["zzz.x"],'
                       . '"foo":1,"active":"no"}');
        is("$s " . join(' ', sort map { "$_->{field}:$_->{code}" }
                        @{ $e->{error}{details}{fields} || [] }),
           '422 active:invalid_type events:invalid_value'
           . ' foo:unknown_field url:invalid_format',
           "$name - every invalid field in one answer");
        (my $upper = "$BASE/x") =~ s{^http}{HTTP};
        ($s, $e) = api('POST', '/api/v1/webhooks', $KA,
                       qq({"url":"$upper","events":["*"]}));
        is("$s " . ($e->{data}{url} // ''), "201 $BASE/x",
           "$name - a scheme in capitals is taken, in small letters");
        api('DELETE', "/api/v1/webhooks/$e->{data}{id}", $KA) if $s == 201;
        ($s, $e) = api('POST', '/api/v1/webhooks', $KA,
                       qq({"url":"$BASE/x","events":["contact.**"]}));
        is($s, 422, "$name - a bad pattern refused");
        is($e->{error}{details}{fields}[0]{field}, 'events',
           "$name - events");

    } elsif ($name =~ /signed deliveries/) {
        sql("TRUNCATE webhook_deliveries, webhooks");
        CRM::Test::hook_wipe();
        CRM::Test::hook_start();
        my $w = hook('/ok', '["contact.created"]');
        my $id = contact('signed@x.test');
        ok(wait_for(sub { scalar(got('/ok')) >= 1 }, 10),
           "$name - delivered");
        my ($r) = got('/ok');
        my $h = $r->{headers};
        is($h->{'content-type'}, 'application/json', "$name - JSON");
        like($h->{'webhook-id'}, qr/\Aevt_[0-9a-f]{32}\z/,
             "$name - webhook-id");
        like($h->{'webhook-timestamp'}, qr/\A\d{10}\z/,
             "$name - webhook-timestamp");
        ok(abs($h->{'webhook-timestamp'} - time()) < 30, "$name - now");
        my $want = `printf '%s' '$r->{body}' | /usr/bin/python3 -c '
import sys, hmac, hashlib, base64
s, i, t = sys.argv[1:4]
b = sys.stdin.buffer.read()
k = base64.b64decode(s[6:])
print("v1," + base64.b64encode(hmac.new(k, i.encode() + b"." + t.encode()
      + b"." + b, hashlib.sha256).digest()).decode())
' '$w->{secret}' '$h->{"webhook-id"}' '$h->{"webhook-timestamp"}'`;
        chomp $want;
        is($h->{'webhook-signature'}, $want,
           "$name - Python's hmac agrees with the signature");
        (my $tokens = $r->{body}) =~ s/"(?:[^"\\]|\\.)*"/""/gs;
        ok($r->{body} =~ /\A\{"id":"evt_[0-9a-f]{32}","type":"contact\.created",/
           && $tokens !~ /\s/, "$name - compact JSON, as the API answers");
        is($r->{json}{type}, 'contact.created', "$name - the type");
        is($r->{json}{data}{object}{id}, $id, "$name - the record");
        is($r->{json}{id}, $h->{'webhook-id'}, "$name - the event's id");
        is($r->{json}{workspaceId}, $CRM::Test::WS_A, "$name - workspace");
        ok(wait_for(sub { status_of($w->{id}) eq 'succeeded:1' }, 5),
           "$name - recorded succeeded");

        my ($s, $l) = api('GET', "/api/v1/webhooks/$w->{id}/deliveries",
                          $KA);
        is($s, 200, "$name - the delivery log");
        is($l->{data}[0]{responseStatus}, 200, "$name - its status");
        is($l->{data}[0]{responseBody}, '{"ok": true}', "$name - its body");
        is($l->{data}[0]{eventId}, $h->{'webhook-id'}, "$name - its event");
        ok(defined $l->{data}[0]{durationMs}, "$name - its time");

        # replay: the event is in the feed
        ($s, my $f) = api('GET', "/api/v1/events/$h->{'webhook-id'}", $KA);
        is($s, 200, "$name - and in the feed");

        # an update does not match contact.created
        api('PATCH', "/api/v1/contacts/$id", $KA, '{"title":"x"}');
        sleep 1;
        is(scalar(got('/ok')), 1, "$name - patterns filter");

        # rotation: both signatures for 24 h
        ($s, my $rot) = api('POST', "/api/v1/webhooks/$w->{id}/rotate-secret",
                            $KA);
        is($s, 200, "$name - rotated");
        isnt($rot->{data}{secret}, $w->{secret}, "$name - a new secret");
        CRM::Test::hook_stop();
        CRM::Test::hook_wipe();
        CRM::Test::hook_start($rot->{data}{secret});
        contact('rotated@x.test');
        ok(wait_for(sub { scalar(got('/ok')) >= 1 }, 10),
           "$name - delivered after rotation");
        ($r) = got('/ok');
        my @sigs = split ' ', $r->{headers}{'webhook-signature'};
        is(scalar @sigs, 2, "$name - two signatures while rotating");
        ok($r->{verified}, "$name - the new secret verifies");
        CRM::Test::hook_stop();
        CRM::Test::hook_wipe();
        CRM::Test::hook_start($w->{secret});
        my ($ts, $td) = api('POST', "/api/v1/webhooks/$w->{id}/test", $KA);
        my (undef, $dl) = api('GET', "/api/v1/webhooks/$w->{id}/deliveries"
                              . "?id=$td->{data}{id}", $KA);
        is(join(' ', $ts, sort keys %{ $td->{data} || {} }),
           join(' ', 202, sort keys %{ $dl->{data}[0] || { none => 1 } }),
           "$name - the test answers its delivery as the list shows it");
        ok(wait_for(sub { scalar(got('/ok')) >= 1 }, 10),
           "$name - the test ping");
        ($r) = got('/ok');
        is($r->{json}{type}, 'webhook.test', "$name - webhook.test");
        ok($r->{verified}, "$name - the old secret still verifies");

        # an inactive webhook is not tested, nor its deliveries retried
        my (undef, $ds) = api('GET', "/api/v1/webhooks/$w->{id}/deliveries"
                              . '?limit=1', $KA);
        api('PATCH', "/api/v1/webhooks/$w->{id}", $KA, '{"active":false}');
        ($s, my $e) = api('POST', "/api/v1/webhooks/$w->{id}/test", $KA,
                          '{}');
        is("$s " . ($e->{error}{code} // ''), '409 INVALID_STATE',
           "$name - an inactive webhook is not tested");
        ($s, $e) = api('POST', "/api/v1/webhooks/$w->{id}/deliveries/"
                       . "$ds->{data}[0]{id}/retry", $KA, '{}');
        is("$s " . ($e->{error}{code} // ''), '409 INVALID_STATE',
           "$name - nor its deliveries retried");
        api('DELETE', "/api/v1/webhooks/$w->{id}", $KA);

    } elsif ($name =~ /failures are retried/) {
        sql("TRUNCATE webhook_deliveries, webhooks");
        CRM::Test::hook_stop();
        CRM::Test::hook_wipe();
        CRM::Test::hook_start();
        my $w = hook('/flaky/2');
        contact('flaky@x.test');
        ok(wait_for(sub { status_of($w->{id}) eq 'succeeded:3' }, 15),
           "$name - 500, 500, then 200: three attempts");
        my @r = got('/flaky/2');
        is(scalar @r, 3, "$name - three requests");
        is(scalar(keys %{ { map { $_->{headers}{'webhook-id'} => 1 } @r } }),
           1, "$name - the same webhook-id on every retry");
        ok($r[1]{time} - $r[0]{time} >= 0.8, "$name - after the schedule");

        # a manual retry of a failed delivery
        my ($fid) = sql("SELECT id FROM webhook_deliveries WHERE webhook_id"
                        . " = '$w->{id}' LIMIT 1");
        my ($s, $rr) = api('POST',
            "/api/v1/webhooks/$w->{id}/deliveries/$fid/retry", $KA);
        is($s, 202, "$name - a delivery retried by hand");
        ok(wait_for(sub { scalar(got('/flaky/2')) == 4 }, 10),
           "$name - sent once more");
        ($s) = api('POST', "/api/v1/webhooks/$w->{id}/deliveries/$fid/retry",
                   $KB);
        is($s, 404, "$name - not by another workspace");

        api('DELETE', "/api/v1/webhooks/$w->{id}", $KA);


        # a receiver's long answer: kept cut, and the delivery a success
        for my $big (30000, 5000000) {
            my $bw = hook("/big/$big");
            contact("big$big\@x.test");
            ok(wait_for(sub { status_of($bw->{id}) eq 'succeeded:1' }, 10),
               "$name - a $big-byte answer: succeeded");
            is(sql("SELECT response_truncated || ' '"
                   . " || coalesce(last_error, 'none') FROM"
                   . " webhook_deliveries WHERE webhook_id = '$bw->{id}'"),
               'true none', "$name - a $big-byte answer: cut, no error");
            api('DELETE', "/api/v1/webhooks/$bw->{id}", $KA);
        }

        my $g = hook('/status/500');
        contact('fails@x.test');
        ok(wait_for(sub { status_of($g->{id}) eq 'failed:4' }, 20),
           "$name - failed once the schedule is used up (4 attempts)");
        api('DELETE', "/api/v1/webhooks/$g->{id}", $KA);

        my $ra = hook('/retry-after/3');
        contact('ra@x.test');
        ok(wait_for(sub { scalar(got('/retry-after/3')) >= 2 }, 15),
           "$name - retried after a 429");
        @r = got('/retry-after/3');
        ok($r[1]{time} - $r[0]{time} >= 2.8,
           "$name - not before Retry-After");
        api('DELETE', "/api/v1/webhooks/$ra->{id}", $KA);

        my $rd = hook('/redirect');
        contact('redirect@x.test');
        ok(wait_for(sub { status_of($rd->{id}) =~ /^(pending|failed):[12]/
                          && scalar(got('/redirect')) >= 1 }, 10),
           "$name - a redirect is a failure");
        is(scalar(got('/ok')), 0, "$name - and is not followed");
        api('DELETE', "/api/v1/webhooks/$rd->{id}", $KA);

        my $gone = hook('/status/410', '["*"]');
        contact('gone@x.test');
        ok(wait_for(sub { sql("SELECT active FROM webhooks WHERE id ="
                              . " '$gone->{id}'") eq 'f' }, 10),
           "$name - 410 disables the subscription");
        is(sql("SELECT count(*) FROM events WHERE type = 'webhook.disabled'"
               . " AND record_id = '$gone->{id}'"), 1,
           "$name - and an event says so");
        ($s, my $gw) = api('GET', "/api/v1/webhooks/$gone->{id}", $KA);
        like($gw->{data}{disabledReason}, qr/410/, "$name - why");
        contact('gone2@x.test');
        sleep 1;
        is(scalar(got('/status/410')), 1, "$name - nothing more is sent");
        api('DELETE', "/api/v1/webhooks/$gone->{id}", $KA);

    } elsif ($name =~ /receiver outage loses nothing/) {
        sql("TRUNCATE webhook_deliveries, webhooks");
        CRM::Test::hook_stop();
        CRM::Test::hook_wipe();
        my $w = hook('/ok', '["company.*"]');
        for my $i (1 .. 5) {
            api('POST', '/api/v1/companies', $KA, qq({"name":"C$i"}));
        }
        my $id = sql("SELECT id FROM companies WHERE name = 'C1'");
        api('PATCH', "/api/v1/companies/$id", $KA, '{"industry":"a"}');
        api('PATCH', "/api/v1/companies/$id", $KA, '{"industry":"b"}');
        ok(wait_for(sub { sql("SELECT count(*) FROM webhook_deliveries"
                              . " WHERE webhook_id = '$w->{id}'"
                              . " AND attempts > 0") >= 5 }, 10),
           "$name - attempts fail while it is down");
        CRM::Test::hook_start();
        ok(wait_for(sub { status_of($w->{id}) !~ /pending|sending/ }, 20),
           "$name - all delivered once it is back");
        my @r = got('/ok');
        my %ids = map { $_->{headers}{'webhook-id'} => 1 } @r;
        is(scalar keys %ids, 7, "$name - every event, none lost");
        my @c1 = map { $_->{json}{type} . ($_->{json}{data}{object}{industry}
                                            // '') }
                 grep { $_->{json}{data}{object}{id} eq $id } @r;
        is("@c1", 'company.created company.updateda company.updatedb',
           "$name - one record's events in commit order");
        CRM::Test::hook_stop();
    }
});

no_shuffle();
run_tests();

__DATA__

=== TEST 1: a webhook is made with its secret shown once
--- request eval
"POST /api/v1/webhooks
{\"url\":\"http://127.0.0.1:" . CRM::Test::hook_port() . "/ok\",\"events\":[\"contact.*\"],\"description\":\"d\"}"
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json
--- error_code: 201
--- response_body_like: "secret":"whsec_



=== TEST 2: signed deliveries, the log, rotation and the test ping
--- request
GET /api/v1/webhooks
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
--- error_code: 200
--- timeout: 60



=== TEST 3: failures are retried, 410 disables, redirects fail
--- request
GET /api/v1/webhooks
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
--- error_code: 200
--- timeout: 120



=== TEST 4: a receiver outage loses nothing and keeps the order
--- request
GET /api/v1/webhooks
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
--- error_code: 200
--- timeout: 60
