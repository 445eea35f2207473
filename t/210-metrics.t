# crm_metrics: the Prometheus text format from shared memory.  Known
# requests move their counters by exactly their number, histograms are
# cumulative and agree with the counters, the counts survive a reload,
# and promtool accepts the exposition.

use strict;
use warnings;

use Test::Nginx::Socket 'no_plan';
use Test::More;
use File::Temp ();
use CRM::Test qw(http_request);

master_on();
workers(2);
no_shuffle();

my $ID = 'a0000000-0000-4000-8000-000000000210';
my $GONE = 'a0000000-0000-4000-8000-000000000211';

CRM::Test::reset();
CRM::Test::sql("INSERT INTO contacts (workspace_id, id, email) VALUES "
               . "('$CRM::Test::WS_A', '$ID', 'metrics\@example.com')");


# the exposition as { 'name{labels}' => value }, and its text

sub scrape {
    my ($status, $body) = http_request('GET', '/metrics');
    die "GET /metrics: $status\n" unless $status && $status == 200;

    my %m;
    for my $line (split /\n/, $body) {
        next if $line =~ /^#/ || $line !~ /\S/;
        my ($k, $v) = $line =~ /^(\S+(?:\{[^}]*\})?) (\S+)$/
            or die "bad line: $line\n";
        $m{$k} = $v;
    }

    return (\%m, $body);
}

sub req {
    my ($family, $resource, $method, $code) = @_;
    return "crm_http_requests_total{family=\"$family\",resource=\""
           . "$resource\",method=\"$method\",code=\"$code\"}";
}

sub delta {
    my ($before, $after, $key) = @_;
    return ($after->{$key} // 0) - ($before->{$key} // 0);
}

# the sum of crm_http_requests_total of a family and resource
sub family_total {
    my ($m, $family, $resource) = @_;
    my $n = 0;
    for my $k (keys %$m) {
        $n += $m->{$k}
            if index($k, "crm_http_requests_total{family=\"$family\","
                         . "resource=\"$resource\",") == 0;
    }
    return $n;
}

sub master_pid {
    my $root = $ENV{TEST_NGINX_SERVROOT} || 't/servroot';
    open my $fh, '<', "$root/logs/nginx.pid" or die "no pid file: $!";
    my $pid = <$fh>;
    chomp $pid;
    return $pid;
}

sub error_log {
    my $root = $ENV{TEST_NGINX_SERVROOT} || 't/servroot';
    open my $fh, '<', "$root/logs/error.log" or die $!;
    local $/;
    return <$fh>;
}


# crm_queue_depth: what the "queues" job last read, once it reads again
sub depth_after_wake {
    my ($want) = @_;
    my $m;
    CRM::Test::sql("NOTIFY crm_jobs, 'queues'");
    CRM::Test::wait_for(sub {
        ($m) = scrape();
        my $got = $m->{'crm_queue_depth{queue="email",state="waiting"}'};
        return defined $got && $got == $want;
    }, 5);
    return $m;
}

sub outboxes {
    my ($name) = @_;

    CRM::Test::sql("DELETE FROM email_events; DELETE FROM emails");

    my $m = depth_after_wake(0);
    is($m->{'crm_queue_depth{queue="email",state="waiting"}'}, 0,
       "$name - no email waits");
    ok($m->{'crm_queue_depth_timestamp_seconds'} > time() - 60,
       "$name - the depths were read just now");
    is($m->{'crm_queue_depth_limit'}, 100000, "$name - the limit");

    # three queued emails: no relay here, so they stay queued
    for my $i (1 .. 3) {
        CRM::Test::sql("INSERT INTO emails (workspace_id, to_email, subject,"
                       . " body_text) VALUES ('$CRM::Test::WS_A',"
                       . " 'q$i\@example.com', 'q', 'q')");
    }

    $m = depth_after_wake(3);
    is($m->{'crm_queue_depth{queue="email",state="waiting"}'}, 3,
       "$name - three emails wait");
    is($m->{'crm_queue_depth{queue="email",state="sending"}'}, 0,
       "$name - none is being sent");
    is($m->{'crm_queue_depth{queue="webhook",state="waiting"}'}, 0,
       "$name - no webhook delivery waits");

    my (undef, $text) = scrape();
    my $tmp = File::Temp->new(SUFFIX => '.prom');
    print $tmp $text;
    close $tmp;

    my $out = `promtool check metrics < $tmp 2>&1`;
    is($?, 0, "$name - promtool accepts the gauges") or diag($out);

    CRM::Test::sql("DELETE FROM email_events; DELETE FROM emails");
}


Test::Nginx::Socket::add_response_body_check(sub {
    my ($block, $body, $req_idx, $repeated, $dry_run) = @_;
    my $name = $block->name;

    if ($name =~ /outboxes/) {
        outboxes($name);
        return;
    }

    return unless $name =~ /known requests/;

    my @A = ("X-API-Key: $CRM::Test::KEY_A");
    my @B = ("X-API-Key: $CRM::Test::KEY_B");

    my ($m0) = scrape();

    my @got;
    push @got, (http_request('GET', "/api/v1/contacts/$ID", \@A))[0];
    push @got, (http_request('GET', "/api/v1/contacts/$GONE", \@A))[0];
    push @got, (http_request('GET', '/api/v1/contacts'))[0];
    push @got, (http_request('GET', '/api/v1/contacts', \@B))[0] for 1 .. 4;
    push @got, (http_request('GET', '/api/v1/no-such-route', \@A))[0];
    push @got, (http_request('TRACE', '/api/v1/contacts', \@A))[0];

    is("@got", '200 404 401 200 200 200 429 404 405',
       "$name - the requests were answered as planned");

    my ($m1) = scrape();

    my %want = (
        req('item', 'contacts', 'GET', 200) => 1,
        req('item', 'contacts', 'GET', 404) => 1,
        req('collection', 'contacts', 'GET', 401) => 1,
        req('collection', 'contacts', 'GET', 200) => 3,
        req('collection', 'contacts', 'GET', 429) => 1,
        req('none', '', 'GET', 404) => 1,
        req('none', '', 'other', 405) => 1,
        'crm_rate_limit_rejections_total{limit="requests"}' => 1,
        'crm_rate_limit_rejections_total{limit="auth_failures"}' => 0,
        'crm_idempotency_replays_total' => 0,
    );

    for my $k (sort keys %want) {
        is(delta($m0, $m1, $k), $want{$k}, "$name - $k moved by $want{$k}");
    }

    # the scrape before this one is counted by now (the log phase ran)
    ok(family_total($m1, 'metrics', '') >= 1,
       "$name - the metrics location counts its own requests");

    # histograms: cumulative, +Inf is _count, _count is the requests'
    for my $fr (['item', 'contacts'], ['collection', 'contacts'],
                ['none', ''])
    {
        my ($f, $r) = @$fr;
        my $l = "family=\"$f\",resource=\"$r\"";
        my @b = map { $m1->{"crm_http_request_duration_seconds_bucket"
                            . "{$l,le=\"$_\"}"} }
                qw(0.005 0.01 0.025 0.05 0.1 0.25 0.5 1 2.5 5 10 +Inf);

        is(scalar(grep { defined } @b), 12, "$name - $f: 12 buckets");

        my $mono = 1;
        for my $i (1 .. $#b) {
            $mono = 0 if ($b[$i] // -1) < ($b[$i - 1] // 0);
        }
        ok($mono, "$name - $f: the buckets are cumulative (@b)");

        my $count = $m1->{"crm_http_request_duration_seconds_count{$l}"};
        is($b[-1], $count, "$name - $f: +Inf is _count");
        is($count, family_total($m1, $f, $r),
           "$name - $f: _count is the requests counted");
        ok(defined $m1->{"crm_http_request_duration_seconds_sum{$l}"},
           "$name - $f: a _sum");
    }

    # the per-worker gauges: one series per worker of the two
    my @open = grep { /^crm_pg_connections_open\{pool="main",worker="\d+"\}$/ }
               keys %$m1;
    is(scalar(@open), 2, "$name - a pool gauge per worker (@open)");

    # a reload keeps the zone, and the counts
    my $reloads = () = error_log() =~ /SIGHUP\) received/g;
    kill 'HUP', master_pid();
    ok(CRM::Test::wait_for(sub {
        my $n = () = error_log() =~ /SIGHUP\) received/g;
        return $n > $reloads && error_log() =~ /gracefully shutting down/;
    }, 10), "$name - the reload happened");
    Time::HiRes::sleep(0.5);

    my ($m2, $text) = scrape();

    for my $k (sort grep { /^crm_http_requests_total\{family="(?!metrics)/ }
                    keys %$m1)
    {
        is($m2->{$k}, $m1->{$k}, "$name - $k survived the reload");
    }

    is($m2->{'crm_rate_limit_rejections_total{limit="requests"}'}, 1,
       "$name - the rejections survived the reload");

    ok(family_total($m2, 'metrics', '') > family_total($m1, 'metrics', ''),
       "$name - counting goes on after the reload");

    # promtool's parser and linter accept it
    my $tmp = File::Temp->new(SUFFIX => '.prom');
    print $tmp $text;
    close $tmp;

    my $out = `promtool check metrics < $tmp 2>&1`;
    is($?, 0, "$name - promtool check metrics accepts it") or diag($out);
    is($out, '', "$name - promtool has nothing to say");
});

run_tests();

__DATA__

=== TEST 1: the metrics location answers in the text format, without a credential
--- http_config eval: $CRM::Test::HttpConfig
--- config
    location /api/v1/ {
        crm_api;
    }

    location = /metrics {
        crm_metrics;
        allow 127.0.0.1;
        deny all;
    }
--- request
GET /metrics
--- response_headers
Content-Type: text/plain; version=0.0.4; charset=utf-8
--- response_body_like: ^# HELP crm_http_requests_total .*\n# TYPE crm_http_requests_total counter\n.*# TYPE crm_http_request_duration_seconds histogram\n.*# TYPE crm_pg_connections_open gauge\n.*# TYPE crm_redis_up gauge\n.*crm_email_deliveries_total\{outcome="bounced"\} 0\n.*crm_webhook_deliveries_total\{outcome="delivered"\} 0\n.*\z
--- no_error_log
[error]



=== TEST 2: known requests move the counters by exactly their number, across a reload
--- http_config eval
$CRM::Test::HttpConfig . <<'_EOC_';
    crm_metrics_zone zone=crm_metrics:2m;
    crm_rate_limit zone=crm_limit:1m per_minute=3;
_EOC_
--- config
    location /api/v1/ {
        crm_api;
    }

    location = /metrics {
        crm_metrics;
        allow 127.0.0.1;
        deny all;
    }
--- request
GET /metrics
--- timeout: 20
--- no_error_log
[alert]



=== TEST 3: the metrics location answers GET and HEAD only
--- config
    location = /metrics {
        crm_metrics;
    }
--- request
POST /metrics
x=1
--- error_code: 405


=== TEST 4: the outboxes' depths are read by a job into gauges
--- config
    location /api/v1/ {
        crm_api;
    }

    location = /metrics {
        crm_metrics;
    }
--- request
GET /metrics
--- error_code: 200
--- no_error_log
[alert]
[emerg]
