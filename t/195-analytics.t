# Analytics of email (docs/ANALYTICS.md): a campaign and two transactional
# emails go through the SMTP sink; the test opens and clicks what was
# delivered (people and machines, by their User-Agent) and unsubscribes
# once; then GET /analytics/campaigns/:id, /analytics/emails and
# /analytics/contacts/:id must say what the sink and the test's own hits
# say, counted here independently (unique opens and clicks: a contact once
# per bucket, sql/035).  Then empty buckets, rates with zero
# denominators, range limits, scopes and isolation between workspaces;
# a contact's opens of two emails in hours, days and weeks (events made
# in SQL at chosen times); the Redis cache of answers, and answers
# without Redis.

use strict;
use warnings;

use Test::Nginx::Socket 'no_plan';
use Test::More;
use CRM::Test qw(api sql http_request wait_for);
use POSIX ();
use Time::HiRes ();
use Time::Local ();

my ($A, $B) = ($CRM::Test::WS_A, $CRM::Test::WS_B);
my ($KA, $KB) = ($CRM::Test::KEY_A, $CRM::Test::KEY_B);
our $AN1 = 'c1950000-0000-4000-8000-000000000001';

CRM::Test::reset();
CRM::Test::smtp_wipe();

# ten recipients who get it, two hard bounces, one soft (the relay says
# "try again later" until the retry window closes), one without the tag
sql(<<"_SQL_");
INSERT INTO contacts (workspace_id, id, first_name, email, tags) VALUES
 ('$A', '$AN1', 'An1', 'an1\@an.test', '{an}');
INSERT INTO contacts (workspace_id, first_name, email, tags)
SELECT '$A', 'An' || i, 'an' || i || '\@an.test', '{an}'
  FROM generate_series(2, 10) i;
INSERT INTO contacts (workspace_id, first_name, email, tags) VALUES
 ('$A', 'Hard1', 'bounce-an1\@an.test', '{an}'),
 ('$A', 'Hard2', 'bounce-an2\@an.test', '{an}'),
 ('$A', 'Soft1', 'tempfail-an1\@an.test', '{an}'),
 ('$A', 'Other', 'other\@an.test', '{}');
INSERT INTO contacts (workspace_id, id, first_name, email) VALUES
 ('$B', 'c1950000-0000-4000-8000-0000000000b1', 'B1', 'b1\@an.test');
INSERT INTO campaigns (workspace_id, id, name, subject, body_text, audience)
VALUES ('$A', 'c1950000-0000-4000-8000-00000000c0de', 'Draft', 'S', 'T',
        '{"tags":["none"]}');
_SQL_

# a key that reads contacts only, and one that reads analytics only
CRM::Test::stored_key($CRM::Test::KEYS{read_a}, $A, '{contacts:read}');
CRM::Test::stored_key($CRM::Test::KEYS{owner_a}, $A, '{analytics:read}');

$CRM::Test::HttpConfig .= <<'_EOC_';
    crm_analytics_cache_ttl 0;
    crm_smtp smtp://127.0.0.1:$TEST_NGINX_SMTP_PORT from=crm@example.test
             connections=4 batch=10 lease=20s;
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

our $HUMAN = 'Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101'
             . ' Firefox/120.0';
our $PROXY = 'Mozilla/5.0';                 # Apple's prefetch: a machine
our $SCANNER = 'python-requests/2.31.0';    # a link scanner: a machine

our $L1 = 'https://shop.example/one';
our $L2 = 'https://shop.example/two';

our $CAMPAIGN;                              # made by TEST 1

# the blocks of the cache: answers kept 4 s
our $CACHE_TTL = 4;
our $T26;                                   # TEST 26: when its nginx started
our $CACHED = $CRM::Test::HttpConfig
              =~ s/(crm_analytics_cache_ttl) 0;/$1 ${CACHE_TTL}s;/r;

# TEST 25: contact B2 of workspace B gets two emails on Monday 2020-03-02
# and opens and clicks them at these times (UTC; "m": a machine's)
our $B2 = 'c1950000-0000-4000-8000-0000000000b2';
our %BE = (one => 'c1950000-0000-4000-8000-0000000e0001',
           two => 'c1950000-0000-4000-8000-0000000e0002');
our @BHITS = (
    [ one => opened  => '2020-03-02 10:05:00' ],
    [ one => clicked => '2020-03-02 10:06:00' ],
    [ two => opened  => '2020-03-02 10:20:00' ],
    [ one => opened  => '2020-03-02 10:30:00', 'm' ],
    [ one => opened  => '2020-03-02 11:10:00' ],
    [ two => opened  => '2020-03-04 08:00:00' ],
    [ two => clicked => '2020-03-04 08:01:00' ],
    [ two => clicked => '2020-03-09 07:00:00' ],    # the next ISO week
);
our $BSQL = "INSERT INTO contacts (workspace_id, id, first_name, email)"
    . " VALUES ('$B', '$B2', 'B2', 'b2\@an.test');"
    . " INSERT INTO emails (workspace_id, id, contact_id, to_email, subject,"
    . " body_text) VALUES"
    . join(',', map { " ('$B', '$BE{$_}', '$B2', 'b2\@an.test', '$_', 'x')" }
                sort keys %BE) . ';'
    . " UPDATE emails SET status = 'sent',"
    . " sent_at = '2020-03-02 09:00:00+00' WHERE workspace_id = '$B'"
    . " AND contact_id = '$B2';"
    . " INSERT INTO email_events (workspace_id, email_id, type, occurred_at,"
    . " details) VALUES"
    . join(',', (map { " ('$B', '$BE{$_}', 'sent', '2020-03-02 09:00:30+00',"
                       . " '{}')" } sort keys %BE),
                (map { " ('$B', '$BE{$_->[0]}', '$_->[1]', '$_->[2]+00',"
                       . " '{\"machine\": " . ($_->[3] ? 'true' : 'false')
                       . ", \"url\": \"https://shop.example/b\"}')" }
                 @BHITS)) . ';';

sub json { return JSON::PP->new->utf8->canonical->encode($_[0]) }

sub get_data {
    my ($path, $key) = @_;
    my ($s, $d) = api('GET', $path, $key // $KA);
    return ($s, $d->{data} || $d->{error} || {});
}

sub rate {
    my ($n, $d) = @_;
    return undef if $d == 0;
    return 0 + sprintf('%.4f', $n / $d);
}

sub iso_hours_ago {
    my ($h) = @_;
    return POSIX::strftime('%Y-%m-%dT%H:%M:%SZ', gmtime(time - $h * 3600));
}

# the figures the test expects from what it saw and did; uniques are
# counted by "by": "email" (a campaign's recipients, a contact's own
# emails) or "who" (the recipient: the workspace's figures; every hit of
# TEST 1 is in one hour)
sub figures {
    my ($x) = @_;
    my $by = $x->{by} // 'email';
    my %f = (delivered => $x->{delivered}, hardBounces => $x->{hard},
             softBounces => $x->{soft});
    $f{sent} = $f{delivered} + $f{hardBounces} + $f{softBounces};
    $f{bounced} = $f{hardBounces} + $f{softBounces};
    my (%uo, %uc);
    $f{$_} = 0 for qw(opens machineOpens clicks machineClicks unsubscribes);
    my %unsub;
    for my $h (@{ $x->{hits} }) {
        if ($h->{kind} eq 'open') {
            if ($h->{human}) { $f{opens}++; $uo{ $h->{$by} } = 1 }
            else { $f{machineOpens}++ }
        } elsif ($h->{kind} eq 'click') {
            if ($h->{human}) { $f{clicks}++; $uc{ $h->{$by} } = 1 }
            else { $f{machineClicks}++ }
        } else {
            $unsub{ $h->{email} } = 1;
        }
    }
    $f{uniqueOpens} = keys %uo;
    $f{uniqueClicks} = keys %uc;
    $f{unsubscribes} = keys %unsub;
    $f{rates} = { open => rate($f{uniqueOpens}, $f{delivered}),
                  click => rate($f{uniqueClicks}, $f{delivered}),
                  clickToOpen => rate($f{uniqueClicks}, $f{uniqueOpens}) };
    return \%f;
}

# one hit on a delivered message; returns the hit as figures() reads it
sub hit {
    my ($m, $kind, $agent, %o) = @_;
    my $html = $m->{html} // '';
    my ($path, $method) = ('', $o{head} ? 'HEAD' : 'GET');

    if ($kind eq 'open') {
        ($path) = $html =~ m{http://127\.0\.0\.1:\d+(/t/o/[A-Za-z0-9_-]+\.gif)};
    } elsif ($kind eq 'click') {
        my @links = $html =~ m{http://127\.0\.0\.1:\d+(/t/c/[A-Za-z0-9_-]+)}g;
        $path = $links[$o{link}];
    } else {
        ($path) = ($m->{list_unsubscribe} // '')
                  =~ m{http://127\.0\.0\.1:\d+(/t/u/[A-Za-z0-9_-]+)};
        $method = 'POST';
    }

    die "no $kind URL in the message to $m->{to}\n" unless $path;
    my ($s) = http_request($method, $path, ["User-Agent: $agent"],
                           $method eq 'POST' ? 'List-Unsubscribe=One-Click'
                                             : undef);
    die "$kind of $m->{to}: HTTP $s\n" unless $s == 200 || $s == 302;

    return { kind => $kind, email => $m->{email_id}, who => $m->{to},
             human => ($agent eq $HUMAN && !$o{head}) ? 1 : 0,
             url => $kind eq 'click' ? ($o{link} ? $L2 : $L1) : undef };
}

sub is_figures {
    my ($got, $want, $name) = @_;
    is(json($got), json($want), $name)
        or diag("got " . json($got) . "\nwant " . json($want));
}


sub x_cache {
    my ($head) = @_;
    return ($head =~ /^X-Cache: (\w+)\r?$/m)[0] // '(none)';
}

# TEST 25's figures by bucket from @BHITS: start => [opens, contacts who
# opened, clicks, contacts who clicked] (B2 is the only contact)
sub b2_buckets {
    my ($interval) = @_;
    my $size = { hour => 3600, day => 86400, week => 604800 }->{$interval};
    my (%b, %who);
    for my $h (grep { !$_->[3] } @BHITS) {
        my ($y, $mo, $d, $hh, $mi) = $h->[2] =~ /(\d+)/g;
        my $t = Time::Local::timegm(0, $mi, $hh, $d, $mo - 1, $y);
        # weeks from Monday 1970-01-05
        my $start = $interval eq 'week'
                    ? int(($t - 4 * 86400) / $size) * $size + 4 * 86400
                    : int($t / $size) * $size;
        my $key = POSIX::strftime('%Y-%m-%dT%H:%M:%S.000Z', gmtime($start));
        my $i = $h->[1] eq 'opened' ? 0 : 2;
        $b{$key} //= [0, 0, 0, 0];
        $b{$key}[$i]++;
        $b{$key}[$i + 1]++ unless $who{"$key $i"}++;
    }
    return \%b;
}


Test::Nginx::Socket::add_response_body_check(sub {
    my ($block, $body, $req_idx, $repeated, $dry_run) = @_;
    my $name = $block->name;

    return if $dry_run;

    if ($name =~ /TEST 1:/) {
        $CAMPAIGN = JSON::PP::decode_json($body)->{data}{id};

        # two transactional emails: one to a contact, one to an address
        my ($s1, $t1) = api('POST', '/api/v1/emails/send', $KA,
            json({ to => $AN1, subject => 'Receipt',
                   html => "<p>Thanks <a href=\"$L1\">shop</a></p>" }));
        my ($s2, $t2) = api('POST', '/api/v1/emails/send', $KA,
            json({ to => 'solo@an.test', subject => 'Solo',
                   text => 'Hello' }));
        is("$s1 $s2", '202 202', "$name - two transactional emails queued");

        my ($s) = api('POST', "/api/v1/campaigns/$CAMPAIGN/start", $KA, '{}');
        is($s, 200, "$name - the campaign started");
        ok(wait_for(sub {
               (get_data("/api/v1/campaigns/$CAMPAIGN"))[1]{status}
               eq 'completed' }, 40), "$name - and completed");
        ok(wait_for(sub {
               sql("SELECT count(*) FROM emails WHERE workspace_id = '$A'"
                   . " AND status IN ('queued', 'sending', 'deferred')")
               == 0 }, 20), "$name - every email has its outcome");

        # what the sink holds, parsed back: the campaign's and the others
        my @log = grep { $_->{rcpt} =~ /\@an\.test$/ }
                  CRM::Test::smtp_messages();
        my @msgs = @{ CRM::Test::eml(@log) };
        $msgs[$_]{to} = $log[$_]{rcpt} for 0 .. $#log;
        my @camp = grep { $_->{subject} eq 'News' } @msgs;
        my ($receipt) = grep { $_->{subject} eq 'Receipt' } @msgs;
        my ($solo) = grep { $_->{subject} eq 'Solo' } @msgs;
        my %to = map { $_->{to} => $_ } @camp;
        is(scalar(@camp), 10, "$name - the sink has 10 campaign messages");
        is(scalar(keys %to), 10, "$name - one per recipient");
        ok($receipt && $solo, "$name - and the two others");

        # people read later than the machine rule's "too soon"
        sql("UPDATE emails SET sent_at = now() - interval '1 hour'"
            . " WHERE workspace_id = '$A'");

        # every hit in one hour (so in one bucket of any series): not in
        # the last 30 s of an hour
        sleep(3601 - time % 3600) if time % 3600 > 3569;

        my @hits = (
            hit($to{'an1@an.test'}, 'open', $HUMAN),
            hit($to{'an1@an.test'}, 'open', $HUMAN),
            hit($to{'an2@an.test'}, 'open', $HUMAN),
            hit($to{'an3@an.test'}, 'open', $HUMAN),
            hit($to{'an4@an.test'}, 'open', $PROXY),
            hit($to{'an1@an.test'}, 'open', $HUMAN, head => 1),
            hit($to{'an1@an.test'}, 'click', $HUMAN, link => 0),
            hit($to{'an1@an.test'}, 'click', $HUMAN, link => 0),
            hit($to{'an1@an.test'}, 'click', $HUMAN, link => 1),
            hit($to{'an2@an.test'}, 'click', $HUMAN, link => 0),
            hit($to{'an5@an.test'}, 'click', $SCANNER, link => 0),
            hit($to{'an6@an.test'}, 'unsubscribe', $HUMAN),
            hit($to{'an6@an.test'}, 'unsubscribe', $HUMAN),
        );
        my @other = (
            hit($receipt, 'open', $HUMAN),
            hit($receipt, 'click', $SCANNER, link => 0),
            hit($solo, 'unsubscribe', $HUMAN),
        );
        my $recorded = scalar(@hits) + scalar(@other) - 1;  # one unsub twice
        ok(wait_for(sub {
               sql("SELECT count(*) FROM email_events WHERE workspace_id ="
                   . " '$A' AND type IN ('opened', 'clicked',"
                   . " 'unsubscribed')") == $recorded }, 10),
           "$name - the hits are recorded");

        my $campaign = figures({ delivered => 10, hard => 2, soft => 1,
                                 hits => \@hits });
        my $all = figures({ delivered => 12, hard => 2, soft => 1,
                            hits => [@hits, @other], by => 'who' });
        my $per_email = figures({ delivered => 12, hard => 2, soft => 1,
                                  hits => [@hits, @other] });
        my %an1 = map { $_->{email} => 1 }
                  grep { $_->{who} eq 'an1@an.test' && $_->{kind} eq 'open'
                         && $_->{human} } @hits, @other;
        is(scalar(keys %an1), 2, "$name - an1 opened two emails");

        # /analytics/campaigns/:id
        my ($s3, $c) = get_data("/api/v1/analytics/campaigns/$CAMPAIGN");
        is($s3, 200, "$name - GET /analytics/campaigns/:id");
        is_figures($c->{totals}, $campaign,
                   "$name - the campaign's totals are the sink's and the"
                   . " hits'");
        is($c->{interval}, 'hour', "$name - a series by the hour");
        my %sum;
        for my $b (@{ $c->{series} || [] }) {
            $sum{$_} += $b->{$_} for grep { $_ ne 'start' } keys %$b;
        }
        delete $campaign->{rates};
        is_figures(\%sum, $campaign, "$name - the series adds up to them");

        my %links;
        for my $h (grep { $_->{kind} eq 'click' } @hits) {
            my $l = $links{ $h->{url} } //= { url => $h->{url}, clicks => 0,
                                              uniqueClicks => {},
                                              machineClicks => 0 };
            if ($h->{human}) {
                $l->{clicks}++;
                $l->{uniqueClicks}{ $h->{email} } = 1;
            } else {
                $l->{machineClicks}++;
            }
        }
        $_->{uniqueClicks} = keys %{ $_->{uniqueClicks} } for values %links;
        is(json($c->{topLinks}), json([ @links{$L1, $L2} ]),
           "$name - the top links, most clicked first");
        is(json($c->{recipients}),
           json({ total => 13, byStatus => {
               pending => 0, rendering => 0, queued => 0, sent => 10,
               bounced => 2, failed => 1, suppressed => 0,
               unsubscribed => 0, no_address => 0, cancelled => 0 } }),
           "$name - the recipients by state");

        # /analytics/emails with campaignId, and of the whole workspace
        my $from = iso_hours_ago(3);
        my ($s4, $e) = get_data("/api/v1/analytics/emails?interval=hour"
                                . "&from=$from&campaignId=$CAMPAIGN");
        is($s4, 200, "$name - GET /analytics/emails?campaignId=");
        $campaign = figures({ delivered => 10, hard => 2, soft => 1,
                              hits => \@hits });
        is_figures($e->{totals}, $campaign, "$name - the same totals");
        is(scalar(@{ $e->{series} || [] }), 4,
           "$name - 3 hours back to now: 4 buckets");

        my ($s5, $w) = get_data("/api/v1/analytics/emails");
        is($s5, 200, "$name - GET /analytics/emails: by day, 30 days");
        is_figures($w->{totals}, $all,
                   "$name - the workspace's totals count every email");
        is($w->{totals}{uniqueOpens}, $per_email->{uniqueOpens} - 1,
           "$name - a contact who opened two emails is one unique open");
        is($w->{totals}{opens}, $per_email->{opens},
           "$name - and each of its opens counts in opens");
        is(scalar(@{ $w->{series} || [] }), 31, "$name - 31 day buckets");
        is($w->{interval}, 'day', "$name - interval day by default");

        # the contact: the campaign's email and the receipt
        my @mine = grep { $_->{email} eq $to{'an1@an.test'}{email_id}
                          || $_->{email} eq $receipt->{email_id} }
                   @hits, @other;
        my $f = figures({ delivered => 2, hard => 0, soft => 0,
                          hits => \@mine });
        my ($s6, $k) = get_data("/api/v1/analytics/contacts/$AN1");
        is($s6, 200, "$name - GET /analytics/contacts/:id");
        is($k->{emails}, 2, "$name - the contact's two emails");
        is_figures($k->{totals}, $f, "$name - the contact's figures");
        my $points = $f->{uniqueOpens} + 2 * $f->{uniqueClicks};
        is($k->{engagementScore},
           int(100 * (1 - exp(-$points / 3)) + 0.5),
           "$name - the engagement score of the documented formula");
        ok($k->{lastOpenAt} && $k->{lastClickAt}
           && $k->{lastEngagementAt} eq ($k->{lastOpenAt} gt $k->{lastClickAt}
                                         ? $k->{lastOpenAt}
                                         : $k->{lastClickAt}),
           "$name - last open, click and engagement");

        # the backfill makes the same rollups as the trigger did
        sql("SELECT db_analytics_backfill('$A')");
        my ($s7, $c2) = get_data("/api/v1/analytics/campaigns/$CAMPAIGN");
        my ($s8, $w2) = get_data("/api/v1/analytics/emails");
        my ($s9, $k2) = get_data("/api/v1/analytics/contacts/$AN1");
        is(json([ $c2, $w2, $k2 ]), json([ $c, $w, $k ]),
           "$name - db_analytics_backfill() agrees with the trigger");

        # another workspace sees none of it
        my ($s10, $wb) = get_data("/api/v1/analytics/emails", $KB);
        is($wb->{totals}{sent} . '/' . $wb->{totals}{opens}, '0/0',
           "$name - workspace B counts nothing of A's");

    } elsif ($name =~ /TEST 2:/) {
        my $d = JSON::PP::decode_json($body)->{data};
        is(scalar(@{ $d->{series} }), 7, "$name - 7 buckets");
        is(join(',', map { $_->{start} } @{ $d->{series} }[0, 6]),
           '2020-01-01T00:00:00.000Z,2020-01-07T00:00:00.000Z',
           "$name - from the first day to the last");
        ok(!grep({ $_->{sent} || $_->{opens} } @{ $d->{series} }),
           "$name - all empty");

    } elsif ($name =~ /TEST 25:/) {
        my %e;
        for my $interval (qw(hour day week)) {
            my ($s, $d) = get_data("/api/v1/analytics/emails?interval="
                                   . "$interval&from=2020-03-02&to=2020-03-11",
                                   $KB);
            is($s, 200, "$name - by the $interval");
            my %got = map { $_->{start} => [ @$_{qw(opens uniqueOpens clicks
                                                   uniqueClicks)} ] }
                      grep { $_->{opens} || $_->{clicks} } @{ $d->{series} };
            my $want = b2_buckets($interval);
            is(json(\%got), json($want),
               "$name - by the $interval: opens, contacts who opened,"
               . " clicks, contacts who clicked, per bucket");
            my @sum = (0, 0, 0, 0);
            for my $b (values %$want) { $sum[$_] += $b->[$_] for 0 .. 3 }
            is(join(',', @{ $d->{totals} }{qw(opens uniqueOpens clicks
                                              uniqueClicks)}),
               join(',', @sum), "$name - by the $interval: the totals are"
               . " the sum of the buckets");
            is(json($d->{totals}{rates}),
               json({ open => rate($sum[1], 2), click => rate($sum[3], 2),
                      clickToOpen => rate($sum[3], $sum[1]) }),
               "$name - by the $interval: the rates of the totals");
        }

        # the contact's own figures count its emails
        my ($s, $k) = get_data("/api/v1/analytics/contacts/$B2", $KB);
        is(join(',', @{ $k->{totals} }{qw(opens uniqueOpens machineOpens
                                          clicks uniqueClicks)}),
           '4,2,1,3,2', "$name - the contact: its two emails opened and"
           . " clicked");

        # the backfill makes the same counters
        my ($s1, $before) = get_data("/api/v1/analytics/emails?interval=day"
                                     . "&from=2020-03-02&to=2020-03-11", $KB);
        sql("SELECT db_analytics_backfill('$B')");
        my ($s2, $after) = get_data("/api/v1/analytics/emails?interval=day"
                                    . "&from=2020-03-02&to=2020-03-11", $KB);
        is(json($after), json($before),
           "$name - db_analytics_backfill() agrees with the trigger");

    } elsif ($name =~ /TEST 26:/) {
        my $q = '/api/v1/analytics/emails?interval=week&from=2020-03-02'
                . '&to=2020-03-09';
        my $t0 = Time::HiRes::time();      # the answer is kept by now
        my ($s1, $d1, $h1) = api('GET', $q, $KB);
        is(x_cache($h1), 'HIT', "$name - asked again: HIT");
        is(json($d1->{data}), json(JSON::PP::decode_json($body)->{data}),
           "$name - the same data");

        my ($s2, $d2, $h2) = api('GET', '/api/v1/analytics/emails?'
                                 . 'to=2020-03-08T23:00:00Z&interval=week'
                                 . '&from=2020-03-04T05:00:00%2B01:00', $KB);
        is(x_cache($h2), 'HIT',
           "$name - the same range written otherwise: HIT");

        my ($s3, $d3, $h3) = api('GET', $q, $KA);
        is(x_cache($h3), 'MISS', "$name - another workspace: MISS");

        # a record's answer is its own: its id is in the key, lowered
        my ($s6, $d6) = api('GET', "/api/v1/analytics/contacts/$B2", $KB);
        is($s6, 200, "$name - a contact's figures");
        my ($s7, $d7, $h7) = api('GET', '/api/v1/analytics/contacts/'
                                 . uc($B2), $KB);
        is(x_cache($h7) . ' ' . json($d7->{data}), 'HIT '
           . json($d6->{data}), "$name - its id in capitals: HIT, the same");
        my ($s8) = api('GET', '/api/v1/analytics/contacts/'
                       . 'c1950000-0000-4000-8000-0000000000b9', $KB);
        is($s8, 404, "$name - another id right after it: 404, not its"
           . " answer");
        my ($s9) = api('GET', '/api/v1/analytics/campaigns/'
                       . 'c1950000-0000-4000-8000-0000000000b9', $KB);
        is($s9, 404, "$name - the same for a campaign");

        # a new open of the week, not in the cached answer yet
        sql("INSERT INTO email_events (workspace_id, email_id, type,"
            . " occurred_at) VALUES ('$B', '$BE{one}', 'opened',"
            . " '2020-03-05 12:00:00+00')");
        my ($s4, $d4, $h4) = api('GET', $q, $KB);
        my $opens = $d1->{data}{totals}{opens};
        is(x_cache($h4) . ' ' . $d4->{data}{totals}{opens},
           "HIT $opens", "$name - a new event is not in the cached answer");
        ok(Time::HiRes::time() - $main::T26 < $CACHE_TTL,
           "$name - (all within the TTL)");

        # after the TTL it is
        Time::HiRes::sleep(0.1)
            while Time::HiRes::time() - $t0 < $CACHE_TTL + 0.3;
        my ($s5, $d5, $h5) = api('GET', $q, $KB);
        is(x_cache($h5) . ' ' . $d5->{data}{totals}{opens},
           'MISS ' . ($opens + 1), "$name - after the TTL: computed again,"
           . " with the new event");

    } elsif ($name =~ /TEST 27:/) {
        my ($s, $d, $h) = api('GET', '/api/v1/analytics/contacts/' . $B2,
                              $KB);
        is($s, 200, "$name - another answer without Redis");
        is(x_cache($h), 'MISS', "$name - computed");
        CRM::Test::redis('start');

    } elsif ($name =~ /TEST 3:/) {
        my $d = JSON::PP::decode_json($body)->{data};
        is(join(',', $d->{from}, $d->{to}, scalar(@{ $d->{series} })),
           '2019-12-30T00:00:00.000Z,2020-01-20T00:00:00.000Z,3',
           "$name - widened to whole weeks from Monday");
    }
});

no_shuffle();
run_tests();

__DATA__

=== TEST 1: analytics equal the sink's deliveries and the test's own hits
--- request
POST /api/v1/campaigns
{"name":"Analytics","subject":"News","text":"Hi {{firstName}}\n","html":"<p>Hi {{firstName}}</p><p><a href=\"https://shop.example/one\">one</a> <a href=\"https://shop.example/two\">two</a></p>","audience":{"tags":["an"]}}
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json
--- error_code: 201



=== TEST 2: empty buckets are present, rates with a zero denominator null
--- request
GET /api/v1/analytics/emails?from=2020-01-01&to=2020-01-08&interval=day
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
--- error_code: 200
--- response_body_like: "totals":\{"sent":0,.*"rates":\{"open":null,"click":null,"clickToOpen":null\}



=== TEST 3: weeks start on Monday, in UTC
--- request
GET /api/v1/analytics/emails?from=2020-01-01T10:00:00%2B02:00&to=2020-01-15&interval=week
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
--- error_code: 200



=== TEST 4: a campaign that never started: zeros, null rates, no series
--- request
GET /api/v1/analytics/campaigns/c1950000-0000-4000-8000-00000000c0de
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
--- error_code: 200
--- response_body_like: "status":"draft".*"totals":\{"sent":0,.*"rates":\{"open":null,"click":null,"clickToOpen":null\}\},"series":\[\],"topLinks":\[\],"recipients":\{"total":0,



=== TEST 5: from must be before to
--- request
GET /api/v1/analytics/emails?from=2020-01-02&to=2020-01-01
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
--- error_code: 400
--- response_body_like: "code":"INVALID_PARAMETER".*"parameter":"from","code":"invalid_range"



=== TEST 6: an hourly series covers at most 31 days
--- request
GET /api/v1/analytics/emails?from=2020-01-01&to=2020-02-01T00:00:01Z&interval=hour
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
--- error_code: 400
--- response_body_like: "parameter":"from","code":"range_too_long"



=== TEST 7: 31 days by the hour is the limit, 744 buckets
--- request
GET /api/v1/analytics/emails?from=2020-01-01&to=2020-02-01&interval=hour
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
--- error_code: 200
--- response_body_like: "start":"2020-01-31T23:00:00.000Z"[^\]]*\]\}\,



=== TEST 8: a daily series covers at most 366 days
--- request
GET /api/v1/analytics/emails?from=2020-01-01&to=2021-01-02T00:00:01Z
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
--- error_code: 400
--- response_body_like: "parameter":"from","code":"range_too_long"



=== TEST 9: a weekly series covers at most 5 years
--- request
GET /api/v1/analytics/emails?from=2015-01-01&to=2020-01-03&interval=week
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
--- error_code: 400
--- response_body_like: "parameter":"from","code":"range_too_long"



=== TEST 10: an unknown interval
--- request
GET /api/v1/analytics/emails?interval=month
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
--- error_code: 400
--- response_body_like: "parameter":"interval","code":"invalid_value"



=== TEST 11: a malformed timestamp
--- request
GET /api/v1/analytics/emails?to=yesterday
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
--- error_code: 400
--- response_body_like: "parameter":"to","code":"invalid_format"



=== TEST 12: an unknown parameter is named
--- request
GET /api/v1/analytics/emails?interval=day&colour=red
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
--- error_code: 400
--- response_body_like: "code":"INVALID_PARAMETER".*"parameter":"colour","code":"unknown_parameter"



=== TEST 13: a parameter given twice
--- request
GET /api/v1/analytics/emails?interval=day&interval=hour
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
--- error_code: 400
--- response_body_like: "parameter":"interval","code":"duplicate_parameter"



=== TEST 14: campaignId is a uuid
--- request
GET /api/v1/analytics/emails?campaign_id=42
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
--- error_code: 400
--- response_body_like: "parameter":"campaignId","code":"invalid_format"



=== TEST 15: the campaigns and contacts routes take no parameter
--- request
GET /api/v1/analytics/contacts/c1950000-0000-4000-8000-000000000001?days=30
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
--- error_code: 400
--- response_body_like: "parameter":"days","code":"unknown_parameter"



=== TEST 16: another workspace's campaign is not found
--- request
GET /api/v1/analytics/campaigns/c1950000-0000-4000-8000-00000000c0de
--- more_headers
X-API-Key: test-key-b-0123456789abcdef
--- error_code: 404
--- response_body_like: "code":"RESOURCE_NOT_FOUND"



=== TEST 17: another workspace's campaign as campaignId is not found
--- request
GET /api/v1/analytics/emails?campaignId=c1950000-0000-4000-8000-00000000c0de
--- more_headers
X-API-Key: test-key-b-0123456789abcdef
--- error_code: 404
--- response_body_like: "code":"RESOURCE_NOT_FOUND"



=== TEST 18: another workspace's contact is not found
--- request
GET /api/v1/analytics/contacts/c1950000-0000-4000-8000-000000000001
--- more_headers
X-API-Key: test-key-b-0123456789abcdef
--- error_code: 404
--- response_body_like: "code":"RESOURCE_NOT_FOUND"



=== TEST 19: a contact of its own workspace without emails
--- request
GET /api/v1/analytics/contacts/c1950000-0000-4000-8000-0000000000b1
--- more_headers
X-API-Key: test-key-b-0123456789abcdef
--- error_code: 200
--- response_body_like: "emails":0,"totals":\{"sent":0,.*"lastEngagementAt":null,"engagementScore":0,



=== TEST 20: an id that is no uuid is not found
--- request
GET /api/v1/analytics/contacts/42
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
--- error_code: 404



=== TEST 21: a key without analytics:read is refused
--- request
GET /api/v1/analytics/emails
--- more_headers
X-API-Key: crmk_b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2
--- error_code: 403
--- response_body_like: "code":"FORBIDDEN"



=== TEST 22: a key with analytics:read reads analytics
--- request
GET /api/v1/analytics/contacts/c1950000-0000-4000-8000-000000000001
--- more_headers
X-API-Key: crmk_a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1
--- error_code: 200
--- response_body_like: "contactId":"c1950000-0000-4000-8000-000000000001"



=== TEST 23: analytics:read is a scope an API key may be given
--- request
POST /api/v1/api-keys
{"name":"dashboards","scopes":["analytics:read"]}
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json
--- error_code: 201
--- response_body_like: "scopes":\["analytics:read"\]



=== TEST 24: analytics are read only
--- request
POST /api/v1/analytics/emails
{}
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json
--- error_code: 405
--- response_headers
Allow: GET, HEAD



=== TEST 25: a contact opening two emails is one unique open per hour, day and week
--- sql eval: $main::BSQL
--- request
GET /api/v1/analytics/emails?from=2020-03-02&to=2020-03-11&interval=day
--- more_headers
X-API-Key: test-key-b-0123456789abcdef
--- error_code: 200
--- response_body_like: "start":"2020-03-02T00:00:00.000Z","sent":2,"delivered":2,"bounced":0,"hardBounces":0,"softBounces":0,"opens":3,"uniqueOpens":1,"machineOpens":1,"clicks":1,"uniqueClicks":1,



=== TEST 26: an answer is kept for crm_analytics_cache_ttl, per workspace and query
--- http_config eval: $main::CACHED
--- init
CRM::Test::wait_redis();
$main::T26 = Time::HiRes::time();
--- request
GET /api/v1/analytics/emails?from=2020-03-02&to=2020-03-09&interval=week
--- more_headers
X-API-Key: test-key-b-0123456789abcdef
--- error_code: 200
--- response_headers
X-Cache: MISS



=== TEST 27: without Redis analytics are computed
--- http_config eval: $main::CACHED
--- init
CRM::Test::wait_redis();
CRM::Test::redis('stop');
--- request
GET /api/v1/analytics/emails?from=2020-03-02&to=2020-03-09&interval=week
--- more_headers
X-API-Key: test-key-b-0123456789abcdef
--- error_code: 200
--- response_headers
X-Cache: MISS



=== TEST 28: a range's end with a fraction of a second takes that second (and its hour)
--- request
GET /api/v1/analytics/emails?interval=hour&from=2020-01-01T10:00:00Z&to=2020-01-01T10:00:00.5Z
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
--- error_code: 200
--- response_body_like: "from":"2020-01-01T10:00:00\.000Z","to":"2020-01-01T11:00:00\.000Z",.*"series":\[\{"start":"2020-01-01T10:00:00\.000Z",[^\]]*\]
