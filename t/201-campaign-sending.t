# Campaigns that send, through the email outbox and the SMTP sink: one
# message per recipient with its merge fields, excluded recipients
# counted and never mailed; pause, resume and cancel; and the known
# failures of other campaign engines that this one must not have: a
# batch of only excluded recipients ending the campaign, a restart
# marking it finished, a resume sending twice.

use strict;
use warnings;
use utf8;

use Test::Nginx::Socket 'no_plan';
use Test::More;
use CRM::Test qw(api sql wait_for);

my $A = $CRM::Test::WS_A;
my $KA = $CRM::Test::KEY_A;

CRM::Test::reset();
CRM::Test::smtp_wipe();

# 30 "vip" contacts of Acme, two of them suppressed, one without address
sql(<<"_SQL_");
INSERT INTO companies (workspace_id, id, name) VALUES
 ('$A', 'c1900000-0000-4000-8000-000000000001', 'Acme & <Sons>');
INSERT INTO contacts (workspace_id, first_name, email, tags, company_id)
SELECT '$A', 'Name' || i, 'vip' || i || '\@camp.test', '{vip}',
       'c1900000-0000-4000-8000-000000000001'
  FROM generate_series(1, 30) i;
INSERT INTO contacts (workspace_id, first_name, email, tags) VALUES
 ('$A', 'Nomail', NULL, '{vip}'),
 ('$A', '<b>Bob & Co</b>', 'bob\@camp.test', '{html}');
INSERT INTO suppressions (workspace_id, email, reason) VALUES
 ('$A', 'vip1\@camp.test', 'unsubscribe'),
 ('$A', 'vip2\@camp.test', 'hard_bounce');
_SQL_

$CRM::Test::HttpConfig .= <<'_EOC_';
    crm_smtp smtp://127.0.0.1:$TEST_NGINX_SMTP_PORT from=crm@example.test
             connections=4 batch=10 lease=10s;
    crm_email_retry 300ms 30s;
    crm_jobs_interval 200ms;
    crm_outbound_allow 127.0.0.0/8;
    crm_tracking_secret test-tracking-secret-0123456789;
    crm_tracking_url http://127.0.0.1:$TEST_NGINX_SERVER_PORT/t/;
_EOC_

our $SMTP = <<'_EOC_';
    crm_smtp smtp://127.0.0.1:$TEST_NGINX_SMTP_PORT from=crm@example.test
             connections=2 batch=5 lease=10s;
    crm_jobs_interval 200ms;
    crm_outbound_allow 127.0.0.0/8;
_EOC_

sub campaign {
    my (%c) = @_;
    my ($s, $d) = api('POST', '/api/v1/campaigns', $KA,
                      JSON::PP->new->utf8->encode(\%c));
    die "campaign not created: $s\n" unless $s == 201;
    return $d->{data}{id};
}

sub act {
    my ($id, $what) = @_;
    my ($s, $d) = api('POST', "/api/v1/campaigns/$id/$what", $KA, '{}');
    return ($s, $d->{data} || $d->{error});
}

sub get {
    my ($id) = @_;
    my ($s, $d) = api('GET', "/api/v1/campaigns/$id", $KA);
    return $d->{data} || {};
}

sub status_is {
    my ($id, $want, $secs) = @_;
    return wait_for(sub { (get($id)->{status} // '') eq $want }, $secs);
}

sub mails_like {
    my ($re) = @_;
    return grep { $_->{rcpt} =~ $re } CRM::Test::smtp_messages();
}

sub once_each {
    my ($re) = @_;
    my %n;
    $n{ $_->{rcpt} }++ for mails_like($re);
    return (scalar(keys %n), scalar(grep { $_ != 1 } values %n));
}

sub slow_contacts {
    my ($tag, $n) = @_;
    sql("INSERT INTO contacts (workspace_id, first_name, email, tags)"
        . " SELECT '$A', 'S' || i, 'slow1-$tag-' || i || '\@camp.test',"
        . " '{$tag}' FROM generate_series(1, $n) i");
}

Test::Nginx::Socket::add_response_body_check(sub {
    my ($block, $body, $req_idx, $repeated, $dry_run) = @_;
    my $name = $block->name;

    return if $dry_run;

    if ($name =~ /one message per recipient/) {
        my $id = JSON::PP::decode_json($body)->{data}{id};
        my ($s) = act($id, 'start');
        is($s, 200, "$name - started");
        ok(status_is($id, 'completed', 30), "$name - completed");
        my $c = get($id);
        is(JSON::PP->new->canonical->encode($c->{counters}),
           '{"no_address":1,"sent":28,"suppressed":1,"unsubscribed":1}',
           "$name - its counters");
        my ($n, $twice) = once_each(qr/^vip\d+\@camp\.test$/);
        is($n, 28, "$name - 28 recipients got it");
        is($twice, 0, "$name - none twice");
        ok(!mails_like(qr/^vip[12]\@/), "$name - not the suppressed ones");

        my ($m) = grep { $_->{rcpt} eq 'vip7@camp.test' }
                  CRM::Test::smtp_messages();
        my ($p) = @{ CRM::Test::eml($m) };
        is($p->{subject}, 'Hello Name7 of Acme & <Sons>',
           "$name - the subject's merge fields");
        like($p->{text}, qr/^Dear Name7,\n/, "$name - the text part's");
        like($p->{html}, qr{<p>Dear Name7 of Acme &amp; &lt;Sons&gt;</p>},
             "$name - the html part's, escaped");
        like($p->{list_unsubscribe}, qr{/t/u/}, "$name - List-Unsubscribe");
        is(sql("SELECT count(*) FROM emails WHERE campaign_id = '$id'"), 28,
           "$name - 28 emails in the outbox, each its own");
        is(sql("SELECT string_agg(type, ',' ORDER BY seq) FROM events"
               . " WHERE record_id = '$id' AND type LIKE 'campaign.%'"),
           'campaign.created,campaign.started,campaign.completed',
           "$name - its creation, start and completion are events");
        my (undef, $ev) = api('GET', "/api/v1/events?recordId=$id"
                              . '&type=campaign.completed', $KA);
        my $js = JSON::PP->new->canonical;
        is($js->encode($ev->{data}[0]{data}{object} || {}),
           $js->encode(get($id)),
           "$name - campaign.completed carries the campaign as GET has it");
        my (undef, $d) = api('GET', "/api/v1/campaigns/$id/emails?limit=1"
                          . '&fields=status', $KA);
        is($d->{data}[0]{status}, 'sent', "$name - the campaign's emails");
        (undef, $d) = api('GET', "/api/v1/campaigns/$id/recipients"
                          . '?status=no_address&fields=email,status', $KA);
        is(scalar @{ $d->{data} }, 1, "$name - its recipients, by state");
        is($d->{data}[0]{email}, undef, "$name - the one without address");
        (undef, $d) = api('GET', "/api/v1/campaigns/$id/recipients"
                          . '?status=sent&count=exact&limit=1', $KA);
        is($d->{meta}{total}, 28, "$name - 28 recipients sent");
        (undef, $d) = api('GET', "/api/v1/campaigns/$id/recipients"
                          . '?email=VIP7@Camp.TEST&fields=email', $KA);
        is(join(',', map { $_->{email} } @{ $d->{data} }), 'vip7@camp.test',
           "$name - a recipient by address, in any case");

    } elsif ($name =~ /empty filter sends to no one/) {
        # stored before such a filter was refused: not every contact
        my $id = 'ca201000-0000-4000-8000-000000000001';
        sql("INSERT INTO campaigns (workspace_id, id, name, subject,"
            . " body_text, audience) VALUES ('$A', '$id', 'Nobody', 's',"
            . " 'x', '{\"filter\": \"\"}')");
        my ($s) = act($id, 'start');
        is($s, 422, "$name - the API refuses to start it");
        # started by SQL, as by a module before that check: the runner's
        is(sql("SELECT db_campaign_start('$A', '$id', '{}')->>'status'"),
           'running', "$name - started");
        ok(status_is($id, 'completed', 20), "$name - completed");
        is(sql("SELECT count(*) FROM campaign_recipients"
               . " WHERE campaign_id = '$id'"), 0, "$name - no recipient");
        is(sql("SELECT count(*) FROM emails WHERE campaign_id = '$id'"), 0,
           "$name - no email");
        like(CRM::Test::error_log(),
             qr/\[warn\].*campaign \Q$id\E: its audience filter "" selects no contact in particular: it has no recipients/,
             "$name - said so in the error log");
        is(get($id)->{audienceProblem},
           'the audience filter selects no contact in particular',
           "$name - and on the campaign");

        # a contact with a number beyond 64 bits is rendered, not stuck
        sql("INSERT INTO custom_fields (workspace_id, object, name, type)"
            . " VALUES ('$A', 'contacts', 'n', 'number')");
        sql("INSERT INTO contacts (workspace_id, first_name, email, tags,"
            . " custom_fields) VALUES ('$A', 'Big', 'big\@camp.test',"
            . " '{big}', '{\"n\": 100000000000000000000}')");
        $id = campaign(name => 'Big', subject => 'Hi {{firstName}}',
                       text => 'x', audience => { tags => ['big'] });
        ($s) = act($id, 'start');
        ok(status_is($id, 'completed', 20), "$name - a contact with 1e20:"
           . ' its campaign completes');
        is(scalar(mails_like(qr/^big\@camp\.test$/)), 1,
           "$name - and it is mailed");

    } elsif ($name =~ /values are escaped in html only/) {
        my $id = JSON::PP::decode_json($body)->{data}{id};
        act($id, 'start');
        ok(status_is($id, 'completed', 20), "$name - completed");
        my ($m) = mails_like(qr/^bob\@camp\.test$/);
        my ($p) = @{ CRM::Test::eml($m) };
        is($p->{text}, "Hi <b>Bob & Co</b>\n", "$name - the text part raw");
        like($p->{html}, qr{<p>Hi &lt;b&gt;Bob &amp; Co&lt;/b&gt;</p>},
             "$name - the html part escaped");

    } elsif ($name =~ /only excluded recipients does not end/) {
        my @ids = map {
            sql("SELECT id FROM contacts WHERE email = '$_'")
        } ('vip1@camp.test', 'vip2@camp.test');
        push @ids, sql("SELECT id FROM contacts WHERE first_name = 'Nomail'");
        sql("INSERT INTO contacts (workspace_id, first_name, email) VALUES"
            . " ('$A', 'Late', 'slow2-late\@camp.test')");
        push @ids, sql("SELECT id FROM contacts"
                       . " WHERE email = 'slow2-late\@camp.test'");
        my $id = campaign(name => 'excluded first', subject => 's',
                          text => 'x', audience => { contactIds => \@ids });
        act($id, 'start');
        ok(wait_for(sub { mails_like(qr/^slow2-late\@/) >= 1 }, 10),
           "$name - the one sendable recipient is being sent to");
        is(get($id)->{status}, 'running',
           "$name - the campaign still runs while it is in flight");
        ok(status_is($id, 'completed', 15), "$name - then it completes");
        is(JSON::PP->new->canonical->encode(get($id)->{counters}),
           '{"no_address":1,"sent":1,"suppressed":1,"unsubscribed":1}',
           "$name - every recipient counted");

    } elsif ($name =~ /pause stops it, resume finishes it/) {
        slow_contacts('pause', 12);
        my $id = campaign(name => 'pause', subject => 's', text => 'x',
                          audience => { tags => ['pause'] });
        CRM::Test::second_nginx(http => $SMTP);
        act($id, 'start');
        ok(wait_for(sub { mails_like(qr/^slow1-pause-/) >= 2 }, 15),
           "$name - sending");
        my ($s) = act($id, 'pause');
        is($s, 200, "$name - paused");
        Time::HiRes::sleep(2.5);
        my $at_pause = mails_like(qr/^slow1-pause-/);
        Time::HiRes::sleep(2);
        is(scalar(mails_like(qr/^slow1-pause-/)), $at_pause,
           "$name - nothing more is sent while paused");
        ok($at_pause < 12, "$name - it was paused mid-way ($at_pause sent)");
        ($s) = act($id, 'resume');
        is($s, 200, "$name - resumed");
        ok(status_is($id, 'completed', 30), "$name - completed");
        my ($n, $twice) = once_each(qr/^slow1-pause-/);
        is($n, 12, "$name - every recipient got it");
        is($twice, 0, "$name - none twice");
        CRM::Test::stop_second_nginx();

    } elsif ($name =~ /restart mid-campaign does not finish it/) {
        slow_contacts('restart', 10);
        my $id = campaign(name => 'restart', subject => 's', text => 'x',
                          audience => { tags => ['restart'] });
        CRM::Test::second_nginx(http => $SMTP, master => 1);
        act($id, 'start');
        ok(wait_for(sub { mails_like(qr/^slow1-restart-/) >= 2 }, 15),
           "$name - sending");
        ok(CRM::Test::stop_second_nginx('QUIT', 20), "$name - nginx stops");
        my $sent = mails_like(qr/^slow1-restart-/);
        ok($sent < 10, "$name - mid-way ($sent sent)");
        is(get($id)->{status}, 'running', "$name - still running, not done");
        CRM::Test::second_nginx(http => $SMTP, master => 1);
        ok(status_is($id, 'completed', 30), "$name - completed after");
        my ($n, $twice) = once_each(qr/^slow1-restart-/);
        is($n, 10, "$name - every recipient got it");
        is($twice, 0, "$name - none twice");
        CRM::Test::stop_second_nginx();

    } elsif ($name =~ /1,000 contacts on two hosts/) {
        sql("INSERT INTO contacts (workspace_id, first_name, email, tags)"
            . " SELECT '$A', 'K' || i, 'k' || i || '\@thousand.test',"
            . " '{thousand}' FROM generate_series(1, 1000) i");
        my $id = campaign(name => 'thousand', subject => 'Hi {{firstName}}',
                          text => 'Hello {{firstName}}',
                          audience => { filter => 'tags=thousand' });
        my $master = CRM::Test::second_nginx(http => $SMTP, master => 1);
        act($id, 'start');
        ok(wait_for(sub { mails_like(qr/\@thousand\.test$/) >= 100 }, 30),
           "$name - sending on both hosts");

        # a worker of the second host dies mid-campaign
        my $pgrep = `pgrep -P $master`;
        my ($worker) = split /\s+/, $pgrep;
        ok($worker, "$name - the second host has a worker ($worker)");
        kill 'KILL', $worker if $worker;

        ok(status_is($id, 'completed', 150), "$name - completed");
        my ($n, $twice) = once_each(qr/\@thousand\.test$/);
        is($n, 1000, "$name - 1,000 recipients got it");
        my $dups = sql("SELECT count(*) FROM (SELECT message_id FROM emails"
                       . " WHERE campaign_id = '$id' GROUP BY message_id"
                       . " HAVING count(*) > 1) d");
        is($dups, 0, "$name - one email per recipient in the outbox");
        ok($twice <= 10, "$name - at most the killed worker's transfers"
           . " twice ($twice), as docs/EMAIL.md says");
        my %mid;
        for my $m (mails_like(qr/\@thousand\.test$/)) {
            push @{ $mid{ $m->{rcpt} } }, $m->{message_id};
        }
        my @bad = grep { my %u = map { $_ => 1 } @{ $mid{$_} }; keys(%u) > 1 }
                  keys %mid;
        is(scalar @bad, 0, "$name - a duplicate keeps its Message-ID");
        my ($m) = grep { $_->{rcpt} eq 'k77@thousand.test' }
                  CRM::Test::smtp_messages();
        is(CRM::Test::eml($m)->[0]{subject}, 'Hi K77',
           "$name - merge fields filled");
        CRM::Test::stop_second_nginx();

    } elsif ($name =~ /contacts as they are when it sends/) {
        # three recipients made, then one contact deleted, one readdressed
        sql("INSERT INTO contacts (workspace_id, id, first_name, email, tags)"
            . " VALUES ('$A', 'c2010000-0000-4000-8000-000000000001', 'Kept',"
            . " 'live1\@camp.test', '{live}'),"
            . " ('$A', 'c2010000-0000-4000-8000-000000000002', 'Gone',"
            . " 'live2\@camp.test', '{live}'),"
            . " ('$A', 'c2010000-0000-4000-8000-000000000003', 'Moved',"
            . " 'live3\@camp.test', '{live}')");
        my $id = campaign(name => 'live', subject => 's',
                          text => 'to {{email}} since {{createdAt}}',
                          audience => { tags => ['live'] });
        my ($s) = act($id, 'start');
        is($s, 200, "$name - started (no runner yet)");
        my (undef, undef, $h) = api('GET', "/api/v1/campaigns/$id", $KA);
        my ($etag) = $h =~ /^ETag: (\S+)/mi;
        is(sql("SELECT db_campaign_materialize('$A', '$id', NULL)"), 3,
           "$name - its three recipients made");

        # a change of the campaign's fields: a new version
        my (undef, $d, $h2) = api('GET', "/api/v1/campaigns/$id", $KA);
        my ($etag2) = $h2 =~ /^ETag: (\S+)/mi;
        ok(defined $etag && defined $etag2 && $etag ne $etag2,
           "$name - making them raised its version");
        ok(defined $d->{data}{recipientsAt}
           && $d->{data}{updatedAt} eq $d->{data}{recipientsAt},
           "$name - and its updatedAt");
        ($s) = CRM::Test::http_request('GET', "/api/v1/campaigns/$id",
                                       ["X-API-Key: $KA",
                                        "If-None-Match: $etag"]);
        is($s, 200, "$name - a GET on the version before is answered whole");
        ($s) = api('DELETE', '/api/v1/contacts/c2010000-0000-4000-8000-'
                   . '000000000002', $KA);
        is($s, 204, "$name - one contact deleted");
        ($s) = api('PATCH', '/api/v1/contacts/c2010000-0000-4000-8000-'
                   . '000000000003', $KA, '{"email":"moved3@camp.test"}');
        is($s, 200, "$name - another one's address changed");

        CRM::Test::second_nginx(http => $SMTP);
        ok(status_is($id, 'completed', 30), "$name - completed");
        CRM::Test::stop_second_nginx();

        is(join(' ', sort map { $_->{rcpt} }
                mails_like(qr/^(?:live\d|moved\d)\@camp\.test$/)),
           'live1@camp.test moved3@camp.test',
           "$name - the kept contact and the new address, nobody else");
        is(sql("SELECT string_agg(email || ':' || status, ' ' ORDER BY email)"
               . " FROM campaign_recipients WHERE campaign_id = '$id'"),
           'live1@camp.test:sent live2@camp.test:cancelled'
           . ' moved3@camp.test:sent',
           "$name - the deleted contact's recipient is cancelled");
        is(JSON::PP->new->canonical->encode(get($id)->{counters}),
           '{"cancelled":1,"sent":2}', "$name - its counters");
        my ($m) = mails_like(qr/^live1\@camp\.test$/);
        my (undef, $c) = api('GET', '/api/v1/contacts/c2010000-0000-4000-'
                             . '8000-000000000001', $KA);
        like(CRM::Test::eml($m)->[0]{text} // '',
             qr/since \Q$c->{data}{createdAt}\E/,
             "$name - a time merged as the API writes it");

    } elsif ($name =~ /audience on a custom field mails/) {
        sql("INSERT INTO custom_fields (workspace_id, object, name, type,"
            . " options) VALUES ('$A', 'contacts', 'tier', 'select',"
            . " '[\"gold\", \"silver\"]'),"
            . " ('$A', 'contacts', 'score', 'number', '[]')");
        sql("INSERT INTO contacts (workspace_id, first_name, email,"
            . " custom_fields) VALUES"
            . " ('$A', 'G1', 'tier-gold1\@camp.test',"
            . " '{\"tier\": \"gold\", \"score\": 0.1}'),"
            . " ('$A', 'G2', 'tier-gold2\@camp.test',"
            . " '{\"tier\": \"gold\", \"score\": 12345678901234567000}'),"
            . " ('$A', 'S1', 'tier-silver1\@camp.test',"
            . " '{\"tier\": \"silver\"}'),"
            . " ('$A', 'N1', 'tier-none1\@camp.test', '{}')");
        my $id = campaign(name => 'gold', subject => 's',
                          text => '{{firstName}} is {{customFields.tier}}'
                                  . ' {{customFields.score}}',
                          audience => { filter => 'customFields.tier=gold' });
        my ($s) = act($id, 'start');
        is($s, 200, "$name - started");
        ok(status_is($id, 'completed', 20), "$name - completed");
        is(join(' ', sort map { $_->{rcpt} } mails_like(qr/^tier-/)),
           'tier-gold1@camp.test tier-gold2@camp.test',
           "$name - the gold contacts, nobody else");
        my ($m) = mails_like(qr/^tier-gold1\@/);
        is(CRM::Test::eml($m)->[0]{text} // '', "G1 is gold 0.1\n",
           "$name - custom fields merged, a number as the API writes it");
        ($m) = mails_like(qr/^tier-gold2\@/);
        is(CRM::Test::eml($m)->[0]{text} // '',
           "G2 is gold 12345678901234567000\n",
           "$name - a number beyond a double's digits too");

        # the definition deleted after the campaign was written: the API
        # refuses to start it; one started all the same (by SQL, as a
        # module before that check did, or a field deleted between the
        # start and the runner) is the runner's to say
        my $id2 = campaign(name => 'silver', subject => 's', text => 'x',
                           audience => {
                               filter => 'customFields.tier=silver' });
        sql("UPDATE custom_fields SET deleted_at = now()"
            . " WHERE workspace_id = '$A' AND name = 'tier'");
        my $why;
        ($s, $why) = act($id2, 'start');
        is($s, 422, "$name - a start is refused, its field since deleted");
        like($why->{details}{fields}[0]{message} // '',
             qr/^the audience filter is no longer valid \(customFields\.tier: /,
             "$name - saying why");
        is(get($id2)->{status}, 'draft', "$name - it stays a draft");

        # two hosts look for it: the one that makes its (no) recipients
        # says so, once
        CRM::Test::second_nginx(http => $SMTP);
        is(sql("SELECT db_campaign_start('$A', '$id2', '{}')->>'status'"),
           'running', "$name - started by SQL");
        ok(status_is($id2, 'completed', 20), "$name - it completes");
        CRM::Test::stop_second_nginx();
        is(sql("SELECT count(*) FROM campaign_recipients"
               . " WHERE campaign_id = '$id2'"), 0, "$name - no recipient");
        ok(!mails_like(qr/^tier-silver/), "$name - the silver one not mailed");
        my $said = qr/\[error\].*campaign \Q$id2\E: its audience filter "customFields\.tier=silver" is no longer valid \(customFields\.tier: [^\n]*: it has no recipients/;
        my @lines = grep { /$said/ }
                    split /\n/, CRM::Test::error_log() . "\n"
                                . CRM::Test::error_log(1);
        is(scalar @lines, 1, "$name - said so in an error log, once");

        # and on the campaign, with the event of its completion
        like(get($id2)->{audienceProblem} // '',
             qr/^the audience filter is no longer valid \(customFields\.tier: ./,
             "$name - the campaign says why it mailed nobody");
        ok(exists get($id)->{audienceProblem}
           && !defined get($id)->{audienceProblem},
           "$name - the one that mailed says nothing");
        my (undef, $ev) = api('GET', '/api/v1/events?type=campaign.completed'
                              . "&recordId=$id2", $KA);
        is($ev->{data}[0]{data}{object}{audienceProblem},
           get($id2)->{audienceProblem}, "$name - its completion event too");

    } elsif ($name =~ /subject merged long is cut/) {
        sql("INSERT INTO contacts (workspace_id, first_name, email, tags)"
            . " VALUES ('$A', repeat(chr(233), 100), 'long\@camp.test',"
            . " '{long}')");
        my $id = campaign(name => 'long', subject => '{{firstName}}' x 20,
                          text => 'x', audience => { tags => ['long'] });
        my ($s) = act($id, 'start');
        is($s, 200, "$name - started");
        CRM::Test::second_nginx(http => $SMTP);
        ok(status_is($id, 'completed', 30), "$name - completed");
        CRM::Test::stop_second_nginx();
        is(sql("SELECT char_length(subject) || ' ' || (subject = repeat("
               . "chr(233), 998)) FROM emails WHERE campaign_id = '$id'"),
           '998 true', "$name - to 998 characters, whole ones");
        my (undef, $d) = api('GET', '/api/v1/emails?to=long@camp.test'
                             . '&sort=subject&limit=1&fields=subject', $KA);
        ok(defined $d->{meta}{cursor}, "$name - its emails sort by subject");
        is(scalar(mails_like(qr/^long\@camp\.test$/)), 1,
           "$name - and it is sent");

    } elsif ($name =~ /cancel drops what is queued/) {
        slow_contacts('cancel', 12);
        my $id = campaign(name => 'cancel', subject => 's', text => 'x',
                          audience => { tags => ['cancel'] });
        CRM::Test::second_nginx(http => $SMTP);
        act($id, 'start');
        ok(wait_for(sub { mails_like(qr/^slow1-cancel-/) >= 2 }, 15),
           "$name - sending");
        my ($s) = act($id, 'cancel');
        is($s, 200, "$name - cancelled");
        Time::HiRes::sleep(2.5);
        my $n = mails_like(qr/^slow1-cancel-/);
        Time::HiRes::sleep(1.5);
        is(scalar(mails_like(qr/^slow1-cancel-/)), $n,
           "$name - nothing more is sent");
        my $c = get($id)->{counters};
        is(($c->{cancelled} // 0) + ($c->{sent} // 0), 12,
           "$name - each recipient sent or cancelled");
        ok($c->{cancelled} > 0, "$name - some were cancelled");
        is(sql("SELECT count(*) FROM emails WHERE campaign_id = '$id'"
               . " AND status IN ('queued', 'deferred', 'sending')"), 0,
           "$name - nothing left in the outbox");
        my (undef, $ev) = api('GET', "/api/v1/events?recordId=$id"
                              . '&type=campaign.cancelled', $KA);
        my $ec = $ev->{data}[0]{data}{object}{counters} || {};
        ok(!exists $ec->{pending} && ($ec->{cancelled} // 0) > 0,
           "$name - campaign.cancelled counts the recipients cancelled,"
           . ' none pending');
        CRM::Test::stop_second_nginx();
    }
});

no_shuffle();
run_tests();

__DATA__

=== TEST 1: a campaign sends one message per recipient, merge fields filled
--- request
POST /api/v1/campaigns
{"name":"VIP","subject":"Hello {{firstName|there}} of {{company.name}}","text":"Dear {{firstName}},\n\nNews.\n","html":"<p>Dear {{firstName}} of {{company.name}}</p><p><a href=\"https://example.com/news\">news</a></p>","audience":{"filter":"tags=vip"}}
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json
--- error_code: 201
--- response_body_like: "status":"draft"



=== TEST 2: merge values are escaped in html only
--- request
POST /api/v1/campaigns
{"name":"Bob","subject":"Hi","text":"Hi {{firstName}}\n","html":"<p>Hi {{firstName}}</p>","audience":{"tags":["html"]}}
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json
--- error_code: 201
--- response_body_like: "status":"draft"



=== TEST 3: a campaign whose first recipients are only excluded recipients does not end early
--- request
GET /api/v1/campaigns?fields=status&limit=1
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
--- error_code: 200



=== TEST 4: pause stops it, resume finishes it, nobody twice
--- http_config
    crm_postgres "$TEST_NGINX_PG_DSN";
    crm_api_key test-key-a-0123456789abcdef 11111111-1111-4111-8111-111111111111;
    crm_jobs off;
--- request
GET /api/v1/campaigns?fields=status&limit=1
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
--- error_code: 200



=== TEST 5: a restart mid-campaign does not finish it
--- http_config
    crm_postgres "$TEST_NGINX_PG_DSN";
    crm_api_key test-key-a-0123456789abcdef 11111111-1111-4111-8111-111111111111;
    crm_jobs off;
--- request
GET /api/v1/campaigns?fields=status&limit=1
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
--- error_code: 200



=== TEST 6: cancel drops what is queued
--- http_config
    crm_postgres "$TEST_NGINX_PG_DSN";
    crm_api_key test-key-a-0123456789abcdef 11111111-1111-4111-8111-111111111111;
    crm_jobs off;
--- request
GET /api/v1/campaigns?fields=status&limit=1
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
--- error_code: 200



=== TEST 7: a campaign to 1,000 contacts on two hosts, one worker killed, sends each message once
--- request
GET /api/v1/campaigns?fields=status&limit=1
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
--- error_code: 200



=== TEST 8: a campaign stored with an empty filter sends to no one
--- request
GET /api/v1/campaigns?fields=status&limit=1
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
--- error_code: 200



=== TEST 9: a campaign mails its contacts as they are when it sends
--- http_config
    crm_postgres "$TEST_NGINX_PG_DSN";
    crm_api_key test-key-a-0123456789abcdef 11111111-1111-4111-8111-111111111111;
    crm_jobs off;
--- request
GET /api/v1/campaigns?fields=status&limit=1
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
--- error_code: 200



=== TEST 10: a subject merged long is cut to what an email takes
--- http_config
    crm_postgres "$TEST_NGINX_PG_DSN";
    crm_api_key test-key-a-0123456789abcdef 11111111-1111-4111-8111-111111111111;
    crm_jobs off;
--- request
GET /api/v1/campaigns?fields=status&limit=1
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
--- error_code: 200



=== TEST 11: a campaign's audience on a custom field mails the contacts it names, merged
--- request
GET /api/v1/campaigns?fields=status&limit=1
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
--- error_code: 200
