# Email tracking at the edge (crm_tracking): the open pixel, the click
# redirect and the unsubscribe page; tokens signed with
# crm_tracking_secret (made here as src/model/crm_track.c makes them: the
# C unit tests pin the same layout), tampering and open-redirect
# attempts, the events recorded (sql/017_tracking.sql, in batches:
# sql/019_track_batch.sql), a burst, what happens while PostgreSQL is
# down and the cap on what a worker holds (crm_tracking_queue).

use strict;
use warnings;

use Test::Nginx::Socket 'no_plan';
use Test::More;
use CRM::Test qw(api sql http_request wait_for);
use Digest::SHA qw(hmac_sha256);
use MIME::Base64 qw(encode_base64url);
use JSON::PP ();
use Time::HiRes ();
use POSIX ();

our ($A, $B) = ($CRM::Test::WS_A, $CRM::Test::WS_B);
our $SECRET = 'test-tracking-secret-0123456789';
our $UA = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like'
          . ' Gecko) Chrome/120.0 Safari/537.36';

our %E = map { $_ => sprintf('ea000000-0000-4000-8000-%012d', $_) } 1 .. 14;
$E{b1} = 'eb000000-0000-4000-8000-000000000001';
our $NOBODY = 'ee000000-0000-4000-8000-000000000001';

our $GIF = pack('C*', 0x47, 0x49, 0x46, 0x38, 0x39, 0x61, 0x01, 0x00, 0x01,
                0x00, 0x80, 0x01, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff,
                0x21, 0xf9, 0x04, 0x01, 0x00, 0x00, 0x01, 0x00, 0x2c, 0x00,
                0x00, 0x00, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x02, 0x02,
                0x4c, 0x01, 0x00, 0x3b);

our $SHOP = 'https://shop.example/p?a=1&b=2&c=%C3%A9#top';

CRM::Test::reset();

{
    my @rows = map { "('$A', '$E{$_}', 'reader$_\@track.test', 'Hi', 'x')" }
               1 .. 14;
    push @rows, "('$B', '$E{b1}', 'reader\@other.test', 'Hi', 'x')";
    sql('INSERT INTO emails (workspace_id, id, to_email, subject, body_text)'
        . ' VALUES ' . join(', ', @rows));
    # sent an hour ago, but 6: being sent (its send not yet recorded)
    sql("UPDATE emails SET status = 'sent',"
        . " sent_at = now() - interval '1 hour' WHERE id <> '$E{6}'");
    sql("UPDATE emails SET status = 'sending' WHERE id = '$E{6}'");
}

our $TrackHttp = $CRM::Test::HttpConfig
    . "    crm_tracking_secret $SECRET;\n"
    . "    crm_tracking_url http://127.0.0.1:\$TEST_NGINX_SERVER_PORT/t/;\n";

my $TrackConfig = $CRM::Test::Config . <<'_EOC_';
    location /t/ {
        crm_tracking;
    }
_EOC_

# the suite's default configuration: the module's, with tracking
add_block_preprocessor(sub {
    my $block = shift;

    # before or after CRM::Test's own, which sets the module's
    if (($block->http_config // $CRM::Test::HttpConfig)
        eq $CRM::Test::HttpConfig)
    {
        $block->set_value('http_config', $TrackHttp);
    }

    if (($block->config // $CRM::Test::Config) eq $CRM::Test::Config) {
        $block->set_value('config', $TrackConfig);
    }
});


# a token as src/model/crm_track.c makes it

sub tok {
    my ($kind, $email, %o) = @_;
    my $raw = chr(1) . $kind . uuid($o{ws} // $A) . uuid($email)
              . ($o{url} // '');
    my $mac = substr(hmac_sha256("crm track 1\0" . $raw,
                                 $o{secret} // $SECRET), 0, 16);
    return encode_base64url($raw . $mac);
}

sub uuid {
    (my $u = shift) =~ s/-//g;
    return pack('H*', $u);
}

sub open_path  { my $e = shift; return '/t/o/' . tok('o', $e, @_) . '.gif' }
sub click_path { my $e = shift; return '/t/c/' . tok('c', $e, @_) }
sub unsub_path { my $e = shift; return '/t/u/' . tok('u', $e, @_) }

# one character of a token changed (in the middle: every bit counts)
sub tamper {
    my ($t) = @_;
    my $i = int(length($t) / 2);
    my $c = substr($t, $i, 1);
    substr($t, $i, 1) = $c eq 'A' ? 'B' : 'A';
    return $t;
}

sub events {
    my ($email, $type) = @_;
    return sql("SELECT count(*) FROM email_events WHERE email_id = '$email'"
               . " AND type = '$type'");
}

# the details of the email's last event of "type", once there is one
sub details {
    my ($email, $type) = @_;
    my $row = '';
    wait_for(sub {
        $row = sql("SELECT details::text FROM email_events"
                   . " WHERE email_id = '$email' AND type = '$type'"
                   . " ORDER BY id DESC LIMIT 1");
        return $row ne '';
    }, 5);
    return $row eq '' ? {} : JSON::PP::decode_json($row);
}

sub error_log {
    my $f = Test::Nginx::Socket::server_root() . '/logs/error.log';
    open(my $fh, '<', $f) or return '';
    local $/;
    return <$fh>;
}

sub log_lines {
    my ($re) = @_;
    return scalar(grep { /$re/ } split /\n/, error_log());
}

# "n" hits of "path" from "procs" processes at once; how many were served
sub burst {
    my ($n, $procs, $path) = @_;
    my @kids;
    for my $k (1 .. $procs) {
        pipe(my $r, my $w) or die "pipe: $!";
        my $pid = fork() // die "fork: $!";
        if ($pid == 0) {
            close $r;
            my $ok = 0;
            for (1 .. int($n / $procs) + ($k <= $n % $procs ? 1 : 0)) {
                my ($s) = eval { http_request('GET', $path,
                                              ["User-Agent: $UA"]) };
                $ok++ if ($s // 0) == 200;
            }
            print $w $ok;
            close $w;
            POSIX::_exit(0);
        }
        close $w;
        push @kids, [$pid, $r];
    }
    my $served = 0;
    for my $kid (@kids) {
        my $fh = $kid->[1];
        local $/;
        $served += <$fh> // 0;
        close $fh;
        waitpid($kid->[0], 0);
    }
    return $served;
}

sub pixel_ok {
    my ($email, $name, $what) = @_;
    my ($s, $b, $h) = http_request('GET', open_path($email),
                                   ["User-Agent: $UA"]);
    return ($s == 200 && $b eq $GIF && $h =~ m{^Content-Type: image/gif\r?$}mi);
}


add_response_body_check(sub {
    my ($block, $body, $req_idx, $repeated, $dry_run) = @_;
    my $name = $block->name;

    return if $dry_run;

    if ($name =~ /TEST 1:/) {
        my $d = details($E{1}, 'opened');
        is($d->{userAgent}, $UA, "$name - the user agent is recorded");
        is($d->{ip}, '127.0.0.1', "$name - and the client's address");
        ok(defined $d->{head} && !$d->{head}, "$name - not a HEAD");
        ok(defined $d->{machine} && !$d->{machine},
           "$name - a person's open");
        ok(!exists $d->{url}, "$name - an open has no URL");
        cmp_ok($d->{secondsSinceSent} // 0, '>', 3000,
               "$name - seconds since the email was sent");
        is(sql("SELECT workspace_id FROM email_events WHERE email_id ="
               . " '$E{1}' AND type = 'opened'"), $A,
           "$name - in the email's workspace");

    } elsif ($name =~ /TEST 2:/) {
        my $d = details($E{2}, 'opened');
        ok($d->{head} && $d->{machine}, "$name - HEAD: recorded, a machine");
        is($d->{machineReason}, 'head', "$name - because of the HEAD");

    } elsif ($name =~ /TEST 3:/) {
        my $d = details($E{3}, 'clicked');
        is($d->{url}, $SHOP, "$name - the click's URL is recorded");
        ok(defined $d->{machine} && !$d->{machine},
           "$name - a person's click");

    } elsif ($name =~ /TEST 4:/) {
        my $d = details($E{4}, 'clicked');
        ok($d->{head} && $d->{machine}, "$name - a machine's click");
        is($d->{machineReason}, 'head', "$name - because of the HEAD");

    } elsif ($name =~ /TEST 5:/) {
        my $d = details($E{5}, 'clicked');
        ok($d->{machine}, "$name - a machine's click");
        is($d->{machineReason}, 'scanner', "$name - a scanner");
        is($d->{userAgent}, 'python-requests/2.31.0', "$name - its agent");

    } elsif ($name =~ /TEST 6:/) {
        my $d = details($E{6}, 'opened');
        ok($d->{machine}, "$name - a machine's open");
        is($d->{machineReason}, 'too_soon', "$name - too soon");

    } elsif ($name =~ /TEST 7:/) {
        my $d = details($E{8}, 'opened');
        is(length($d->{userAgent} // ''), 512,
           "$name - the user agent is cut at 512 characters");
        like($d->{userAgent} // '', qr/^\x{e9}+$/,
             "$name - as characters, not bytes");

    } elsif ($name =~ /TEST 8:|TEST 9:|TEST 10:|TEST 11:|TEST 12:/) {
        # another hit must be recorded meanwhile: the pool served
        # what was sent before (one worker, statements in order)
        Time::HiRes::sleep(0.3);
        is(events($E{1}, 'clicked'), 0, "$name - no click recorded");

    } elsif ($name =~ /TEST 15:/) {
        Time::HiRes::sleep(0.5);
        is(events($E{9}, 'opened'), 0,
           "$name - nothing for the email of workspace A");
        is(sql("SELECT count(*) FROM email_events WHERE workspace_id = '$B'"
               . " AND type IN ('opened', 'clicked')"), 0,
           "$name - nothing in workspace B");

        my ($s) = http_request('GET', click_path($E{9}, url => $SHOP,
                                                 ws => $B));
        is($s, 302, "$name - a click of that token redirects too");
        Time::HiRes::sleep(0.5);
        is(events($E{9}, 'clicked'), 0, "$name - and records nothing");

    } elsif ($name =~ /TEST 16:/) {
        Time::HiRes::sleep(0.5);
        is(sql("SELECT count(*) FROM email_events WHERE email_id ="
               . " '$NOBODY'"), 0, "$name - nothing recorded");

    } elsif ($name =~ /TEST 17:/) {
        is(sql("SELECT count(*) FROM suppressions"), 0,
           "$name - nothing is suppressed");
        is(events($E{7}, 'unsubscribed'), 0, "$name - no event");

    } elsif ($name =~ /TEST 18:/) {
        is(sql("SELECT reason || ' ' || email || ' ' || email_id"
               . " FROM suppressions WHERE workspace_id = '$A'"),
           "unsubscribe reader7\@track.test $E{7}",
           "$name - the address is suppressed, by this email");
        is(events($E{7}, 'unsubscribed'), 1, "$name - one event");

        my ($s, $b) = http_request('POST', unsub_path($E{7}),
            ['Content-Type: application/x-www-form-urlencoded'],
            'List-Unsubscribe=One-Click');
        is($s, 200, "$name - twice: 200 again");
        is(sql("SELECT count(*) FROM suppressions"), 1,
           "$name - still one suppression");
        is(events($E{7}, 'unsubscribed'), 1, "$name - still one event");

        ($s, $b) = http_request('POST', unsub_path($E{7}),
            ['Content-Type: application/x-www-form-urlencoded'],
            'List-Unsubscribe=One-Click');
        is($s, 200, "$name - the page's own form: 200");

    } elsif ($name =~ /TEST 21:/) {
        is(sql("SELECT count(*) FROM suppressions WHERE workspace_id ="
               . " '$A'"), 1, "$name - suppressed nothing more");

    } elsif ($name =~ /TEST 27:/) {
        # more hits, while PostgreSQL is down: all served, all kept
        my $t0 = Time::HiRes::time();
        my $ok = 0;

        for (1 .. 20) {
            $ok++ if pixel_ok($E{10});
            my ($s, undef, $h) = http_request('GET',
                                              click_path($E{10}, url => $SHOP));
            $ok++ if $s == 302 && $h =~ /^Location: \Q$SHOP\E\r?$/m;
        }

        is($ok, 40, "$name - 20 pixels and 20 redirects served");

        my ($s, $b, $h) = http_request('POST', unsub_path($E{11}),
            ['Content-Type: application/x-www-form-urlencoded'],
            'List-Unsubscribe=One-Click');
        is($s, 503, "$name - an unsubscribe needs the database: 503");
        like($b, qr/try again/, "$name - a page that says to try again");
        like($h, qr/^Retry-After: \d+\r?$/m, "$name - with Retry-After");
        like($h, qr{^Content-Type: text/html}mi, "$name - as HTML");

        my $wait = qr/crm: tracking: \d+ opens and clicks wait to be recorded/;
        ok(wait_for(sub { log_lines($wait) >= 1 }, 5),
           "$name - the log says the hits wait");
        Time::HiRes::sleep(1);
        my $dt = Time::HiRes::time() - $t0;
        cmp_ok(log_lines($wait), '<=', 1 + int($dt),
               "$name - at most one line a second (" . log_lines($wait)
               . " in $dt s)");
        is(log_lines(qr/an open or click was not recorded/), 0,
           "$name - nothing is dropped");
        ok(pixel_ok($E{10}), "$name - still serving");

        # the database back: what was held is recorded, once
        CRM::Test::pg('start');
        my ($o, $c) = (0, 0);
        wait_for(sub {
            ($o, $c) = (events($E{10}, 'opened'), events($E{10}, 'clicked'));
            return $o >= 22 && $c >= 20;
        }, 15);
        is($o, 22, "$name - the 22 opens are recorded once it is back");
        is($c, 20, "$name - and the 20 clicks");
        Time::HiRes::sleep(0.5);
        is(events($E{10}, 'opened') + events($E{10}, 'clicked'), 42,
           "$name - once each");

    } elsif ($name =~ /TEST 28:/) {
        my $n = 0;
        wait_for(sub {
            pixel_ok($E{12});
            $n = events($E{12}, 'opened');
            return $n > 0;
        }, 15);
        cmp_ok($n, '>', 0, "$name - opens are recorded");
        is(events($E{10}, 'opened') + events($E{10}, 'clicked'), 42,
           "$name - what was held while it was down is not recorded again");

    } elsif ($name =~ /TEST 29:/) {
        my $d = details($E{11}, 'opened');
        ok($d->{machine}, "$name - a machine's open");
        is($d->{machineReason}, 'proxy', "$name - a prefetching proxy");

    } elsif ($name =~ /TEST 30:/) {
        # 2,000 hits at once while the email's row is locked, so that
        # nothing can be recorded for 2 s: they wait, none is dropped
        CRM::Test::lock_row('emails', $E{13}, 2);
        my $t0 = Time::HiRes::time();
        my $served = 1 + burst(1999, 8, open_path($E{13}));
        is($served, 2000, "$name - 2,000 pixels served ("
                          . sprintf('%.1f', Time::HiRes::time() - $t0)
                          . " s)");
        my $n = 0;
        wait_for(sub {
            $n = events($E{13}, 'opened');
            return $n >= 2000;
        }, 15);
        my $dt = Time::HiRes::time() - $t0;
        is($n, 2000, "$name - all 2,000 recorded ("
                     . sprintf('%.1f', $dt) . " s)");
        is(log_lines(qr/an open or click was not recorded/), 0,
           "$name - nothing dropped");

    } elsif ($name =~ /TEST 31:/) {
        # PostgreSQL down, crm_tracking_queue 50: 100 hits served, 50
        # held, the rest dropped and logged
        my $t0 = Time::HiRes::time();
        my $ok = 1;
        for (2 .. 100) {
            $ok++ if pixel_ok($E{14});
        }
        is($ok, 100, "$name - 100 pixels served");
        my $drop = qr/an open or click was not recorded \(queue full\)/;
        ok(wait_for(sub { log_lines($drop) >= 1 }, 5),
           "$name - the drops are logged");
        my $dt = Time::HiRes::time() - $t0;
        cmp_ok(log_lines($drop), '<=', 1 + int($dt),
               "$name - at most one line a second");

        CRM::Test::pg('start');
        my $n = 0;
        wait_for(sub {
            $n = events($E{14}, 'opened');
            return $n >= 50;
        }, 15);
        Time::HiRes::sleep(0.5);
        is(events($E{14}, 'opened'), 50,
           "$name - the 50 held are recorded once it is back");
    }
});

no_shuffle();
run_tests();

__DATA__

=== TEST 1: the pixel is a transparent GIF that is never cached
--- request eval
"GET " . main::open_path($main::E{1})
--- more_headers eval
"User-Agent: $main::UA"
--- error_code: 200
--- response_headers
Content-Type: image/gif
Cache-Control: no-store, no-cache, must-revalidate, max-age=0
Pragma: no-cache
Content-Length: 43
--- response_body eval
$main::GIF
--- no_error_log
[error]

=== TEST 2: a HEAD of the pixel is served and recorded as a machine's
--- request eval
"HEAD " . main::open_path($main::E{2})
--- more_headers eval
"User-Agent: $main::UA"
--- error_code: 200
--- response_headers
Content-Type: image/gif
Pragma: no-cache

=== TEST 3: a click redirects to the signed URL, query string and all
--- request eval
"GET " . main::click_path($main::E{3}, url => $main::SHOP)
--- more_headers eval
"User-Agent: $main::UA"
--- error_code: 302
--- response_headers eval
"Location: $main::SHOP\nCache-Control: no-store"

=== TEST 4: a HEAD of a click redirects and is recorded as a machine's
--- request eval
"HEAD " . main::click_path($main::E{4}, url => 'http://a.test/x')
--- more_headers eval
"User-Agent: $main::UA"
--- error_code: 302
--- response_headers
Location: http://a.test/x

=== TEST 5: a scanner's click is recorded as a machine's
--- request eval
"GET " . main::click_path($main::E{5}, url => 'https://a.test/')
--- more_headers
User-Agent: python-requests/2.31.0
--- error_code: 302
--- response_headers
Location: https://a.test/

=== TEST 6: an open before the send was recorded is a machine's
--- request eval
"GET " . main::open_path($main::E{6})
--- more_headers eval
"User-Agent: $main::UA"
--- error_code: 200

=== TEST 7: a long user agent is recorded, cut at 512 characters
--- request eval
"GET " . main::open_path($main::E{8})
--- more_headers eval
"User-Agent: " . ("\xc3\xa9" x 600)
--- error_code: 200

=== TEST 8: a token with one character changed is 404, not a redirect
--- request eval
"GET /t/c/" . main::tamper(main::tok('c', $main::E{1}, url => $main::SHOP))
--- error_code: 404
--- response_headers
!Location
Content-Type: text/html; charset=utf-8
--- response_body_like: This link is not valid

=== TEST 9: a truncated token is 404
--- request eval
"GET /t/c/" . substr(main::tok('c', $main::E{1}, url => $main::SHOP), 0, -3)
--- error_code: 404
--- response_headers
!Location

=== TEST 10: an open token is no click: 404
--- request eval
"GET /t/c/" . main::tok('o', $main::E{1})
--- error_code: 404
--- response_headers
!Location

=== TEST 11: a token signed with another secret is 404
--- request eval
"GET " . main::click_path($main::E{1}, url => 'http://evil.test/',
                          secret => 'another-secret-0123456789abcdef')
--- error_code: 404
--- response_headers
!Location

=== TEST 12: a URL in the path is 404
--- request
GET /t/c/http://evil.test/
--- error_code: 404
--- response_headers
!Location

=== TEST 13: a url= in the query changes nothing: the signed URL only
--- request eval
"GET " . main::click_path($main::E{3}, url => 'https://shop.example/ok')
       . "?url=http://evil.test/&u=http%3A%2F%2Fevil.test"
--- error_code: 302
--- response_headers
Location: https://shop.example/ok

=== TEST 14: a click token is no pixel: 404
--- request eval
"GET /t/o/" . main::tok('c', $main::E{1}, url => $main::SHOP) . ".gif"
--- error_code: 404
--- response_headers
Content-Type: text/html; charset=utf-8

=== TEST 15: a token of workspace B naming an email of A records nothing
--- request eval
"GET " . main::open_path($main::E{9}, ws => $main::B)
--- error_code: 200
--- response_headers
Content-Type: image/gif

=== TEST 16: a valid token of an unknown email is served, records nothing
--- request eval
"GET " . main::open_path($main::NOBODY)
--- error_code: 200
--- response_headers
Content-Type: image/gif

=== TEST 17: the unsubscribe page asks, and changes nothing
--- request eval
"GET " . main::unsub_path($main::E{7})
--- error_code: 200
--- response_headers
Content-Type: text/html; charset=utf-8
Cache-Control: no-store
--- response_body_like: (?s)<form method="post"><input type="hidden" name="List-Unsubscribe" value="One-Click"><button type="submit">Unsubscribe</button></form>

=== TEST 18: the one-click POST unsubscribes, once however often
--- request eval
"POST " . main::unsub_path($main::E{7}) . "\nList-Unsubscribe=One-Click"
--- more_headers
Content-Type: application/x-www-form-urlencoded
--- error_code: 200
--- response_headers
Content-Type: text/html; charset=utf-8
--- response_body_like: You are unsubscribed

=== TEST 19: an unsubscribed address cannot be sent to
--- request
POST /api/v1/emails/send
{"to":"reader7@track.test","subject":"Again","text":"Hello"}
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json
--- error_code: 422
--- response_body_like: "field":"to","code":"suppressed"

=== TEST 20: the unsubscribe of an unknown email is 404
--- request eval
"POST " . main::unsub_path($main::NOBODY) . "\nList-Unsubscribe=One-Click"
--- more_headers
Content-Type: application/x-www-form-urlencoded
--- error_code: 404

=== TEST 21: an unsubscribe token of another kind's path is 404
--- request eval
"POST /t/u/" . main::tok('o', $main::E{12}) . "\nList-Unsubscribe=One-Click"
--- more_headers
Content-Type: application/x-www-form-urlencoded
--- error_code: 404

=== TEST 22: the pixel and the redirect take GET and HEAD only
--- request eval
"POST " . main::open_path($main::E{1}) . "\nx=1"
--- error_code: 405
--- response_headers
Allow: GET, HEAD
Content-Type: text/html; charset=utf-8

=== TEST 23: the unsubscribe takes GET, HEAD and POST
--- request eval
"DELETE " . main::unsub_path($main::E{1})
--- error_code: 405
--- response_headers
Allow: GET, HEAD, POST

=== TEST 24: other paths are 404, not JSON
--- request
GET /t/x/abc
--- error_code: 404
--- response_headers
Content-Type: text/html; charset=utf-8
--- response_body_unlike: "error"

=== TEST 25: a pixel without .gif is 404
--- request eval
"GET /t/o/" . main::tok('o', $main::E{1})
--- error_code: 404

=== TEST 26: without crm_tracking_secret the location is 404
--- http_config eval
$CRM::Test::HttpConfig . "    # no crm_tracking_secret\n"
--- request eval
"GET " . main::open_path($main::E{1})
--- error_code: 404
--- response_headers
Content-Type: text/html; charset=utf-8

=== TEST 27: served while PostgreSQL is down, recorded once it is back
--- pg: stop
--- request eval
"GET " . main::open_path($main::E{10})
--- error_code: 200
--- response_body eval
$main::GIF
--- no_error_log
[alert]
[crit]
[emerg]

=== TEST 28: opens are recorded with PostgreSQL back, none twice
--- pg: start
--- request eval
"GET " . main::open_path($main::E{12})
--- error_code: 200
--- no_error_log
[alert]
[crit]

=== TEST 29: an open by Apple's privacy prefetch is a machine's
--- request eval
"GET " . main::open_path($main::E{11})
--- more_headers
User-Agent: Mozilla/5.0
--- error_code: 200


=== TEST 30: a burst of 2,000 hits is recorded, all of them
--- request eval
"GET " . main::open_path($main::E{13})
--- more_headers eval
"User-Agent: $main::UA"
--- error_code: 200
--- no_error_log
[alert]
[crit]

=== TEST 31: beyond crm_tracking_queue hits are dropped, the rest kept
--- http_config eval
$main::TrackHttp . "    crm_tracking_queue 50;\n"
--- pg: stop
--- request eval
"GET " . main::open_path($main::E{14})
--- more_headers eval
"User-Agent: $main::UA"
--- error_code: 200
--- no_error_log
[alert]
[crit]
