package CRM::Test;

# Fixtures and defaults shared by the suites.  Works with the real
# Test::Nginx::Socket and with the compatible runner in t/compat/lib.
#
#   use Test::Nginx::Socket 'no_plan';
#   use CRM::Test;
#   CRM::Test::reset();          # empty tenant tables, fixture workspaces
#   run_tests();
#
# Blocks without --- http_config / --- config get the module's default
# configuration: PostgreSQL from $TEST_NGINX_PG_DSN, two static keys
# (workspace A and B) and the API mounted at /api/v1/ and /v1/.

use strict;
use warnings;

use Test::Nginx::Socket ();
use Test::More ();
use IO::Socket::INET;
use JSON::PP ();
use POSIX ();
use Time::HiRes ();
use Cwd ();
use File::Basename ();

use Exporter 'import';
our @EXPORT_OK = qw(sql http_request api concurrent together wait_for
                    lock_row lock_tables error_log
                    smtp_stop smtp_start smtp_messages smtp_raw smtp_wipe
                    mails_to $WS_A $WS_B $KEY_A $KEY_B);

our $WS_A  = '11111111-1111-4111-8111-111111111111';
our $WS_B  = '22222222-2222-4222-8222-222222222222';
our $KEY_A = 'test-key-a-0123456789abcdef';
our $KEY_B = 'test-key-b-0123456789abcdef';

# when set, http_request() talks to this port instead of the test nginx
our $PORT;

# when set, http_request() connects from this loopback address (127.0.0.2,
# ...): another client, as far as nginx can tell
our $FROM;

# stored API keys (sql/002_auth.sql), made by stored_key()
our %KEYS = (
    owner_a   => 'crmk_' . ('a1' x 20),
    read_a    => 'crmk_' . ('b2' x 20),
    expired_a => 'crmk_' . ('c3' x 20),
    keys_a    => 'crmk_' . ('d4' x 20),
    owner_b   => 'crmk_' . ('e5' x 20),
);

our $HttpConfig = <<"_EOC_";
    crm_postgres "\$TEST_NGINX_PG_DSN";
    crm_postgres_pool_size 4;
    crm_postgres_pipeline 4;
    crm_auth_cache zone=crm_auth:1m ttl=30s;
    crm_redis 127.0.0.1:\$TEST_NGINX_REDIS_PORT;
    crm_cursor_secret test-cursor-secret-0123456789;
    crm_api_key $KEY_A $WS_A;
    crm_api_key $KEY_B $WS_B;
_EOC_

# under valgrind everything is slower: give connects time
$HttpConfig .= "    crm_postgres_connect_timeout 20s;\n"
    . "    crm_redis_connect_timeout 20s;\n    crm_redis_timeout 20s;\n"
    if $ENV{TEST_NGINX_USE_VALGRIND};

our $Config = <<'_EOC_';
    location /api/v1/ {
        crm_api;
    }

    location /v1/ {
        crm_api;
    }
_EOC_

# Custom sections (Test::Nginx lets a suite invent its own):
#
#   --- sql            SQL run on the test database before the block
#   --- pg             "stop" or "start": the test PostgreSQL, before
#   --- smtp           "stop", "start" or "wipe": the test SMTP sink,
#                      before
#   --- json_names     the data array's "firstName"s (or "name"s), in order
#   --- json_total     meta.total
#   --- json_keys      the keys of data (or data[0]), sorted

Test::Nginx::Socket::log_level('info');

Test::Nginx::Socket::add_block_preprocessor(sub {
    my $block = shift;

    if (defined section($block, 'sql')) {
        sql(section($block, 'sql'));
    }

    if (defined section($block, 'pg')) {
        pg(trim(section($block, 'pg')));
    }

    if (defined section($block, 'smtp')) {
        my $what = trim(section($block, 'smtp'));
        if ($what eq 'wipe') {
            smtp_wipe();
        } else {
            stack('sink', $what);
        }
    }

    if (!defined $block->http_config) {
        $block->set_value('http_config', $HttpConfig);
    }

    if (!defined $block->config) {
        $block->set_value('config', $Config);
    }
});

Test::Nginx::Socket::add_response_body_check(sub {
    my ($block, $body, $req_idx, $repeated_req_idx, $dry_run) = @_;
    my $name = $block->name;

    return if $dry_run;

    if (defined section($block, 'json_names')) {
        my $doc = eval { JSON::PP::decode_json($body) };
        my @got = map { $_->{firstName} // $_->{name} // '(none)' }
                  @{ ref $doc && ref $doc->{data} eq 'ARRAY'
                     ? $doc->{data} : [] };
        Test::More::is(join(' ', @got), trim(section($block, 'json_names')),
                       "$name - json_names");
    }

    if (defined section($block, 'json_total')) {
        my $doc = eval { JSON::PP::decode_json($body) } || {};
        Test::More::is($doc->{meta}{total} // 'none',
                       trim(section($block, 'json_total')), "$name - json_total");
    }

    if (defined section($block, 'json_keys')) {
        my $doc = eval { JSON::PP::decode_json($body) } || {};
        my $d = $doc->{data};
        $d = $d->[0] if ref $d eq 'ARRAY';
        Test::More::is(join(' ', sort keys %{ $d || {} }),
                       trim(section($block, 'json_keys')), "$name - json_keys");
    }
});


# a section's value, or undef where no block of the file has it

sub section {
    my ($block, $name) = @_;
    return $block->can($name) ? $block->$name : undef;
}


sub trim {
    my ($s) = @_;
    $s =~ s/^\s+|\s+$//g;
    return $s;
}


# stops or starts the test PostgreSQL or Redis (make test provides the
# command)

sub pg {
    stack('pg', @_);
}


sub redis {
    stack('redis', @_);
}


sub stack {
    my ($what, $action) = @_;
    my $stack = $ENV{TEST_NGINX_CRM_STACK}
        or die "TEST_NGINX_CRM_STACK is not set (run the suite with make test)\n";
    system("$stack $what-$action >/dev/null") == 0
        or die "cannot $action $what\n";
}


# The test SMTP sink (util/smtp_sink.py on $TEST_NGINX_SMTP_PORT, keeping
# messages in $TEST_NGINX_SMTP_DIR; see t/README for its magic
# recipients).  smtp_stop() and smtp_start() take the relay down (connections
# refused) and bring it back.

sub smtp_stop {
    stack('sink', 'stop');
}


sub smtp_start {
    stack('sink', 'start');
}


sub smtp_dir {
    my $dir = $ENV{TEST_NGINX_SMTP_DIR}
        or die "TEST_NGINX_SMTP_DIR is not set (run the suite with make test)\n";
    return $dir;
}


# the sink's relay listeners (util/stack.sh): STARTTLS on the plain
# port + 1, TLS from the start on + 2

sub smtp_tls_port {
    my $port = $ENV{TEST_NGINX_SMTP_PORT}
        or die "TEST_NGINX_SMTP_PORT is not set (run the suite with make test)\n";
    return $port + 1;
}


sub smtps_port {
    return smtp_tls_port() + 1;
}


# a TLS file of the test stack (util/stack.sh): ca.pem, other-ca.pem,
# server.pem, server.key

sub tls_file {
    my ($name) = @_;
    my $dir = smtp_dir();
    $dir =~ s{/[^/]+/?\z}{};
    return "$dir/tls/$name";
}


# what the sink received, oldest first: the lines of its log.jsonl, each
# a hash {seq, time, mail_from, rcpt, size, message_id, file, tls, auth,
# dropped?} with "path" added (the .eml's full path); in scalar context
# their count

sub smtp_messages {
    my $log = smtp_dir() . '/log.jsonl';
    open(my $fh, '<', $log) or return wantarray ? () : 0;
    my @out;
    while (my $line = <$fh>) {
        next unless $line =~ /\S/;
        my $e = eval { JSON::PP->new->utf8->decode($line) } or next;
        $e->{path} = smtp_dir() . "/$e->{file}";
        push @out, $e;
    }
    close $fh;
    return wantarray ? @out : scalar @out;
}


# the sink's entries of one recipient, oldest first; their count in
# scalar context

sub mails_to {
    my ($rcpt) = @_;
    return grep { $_->{rcpt} eq $rcpt } smtp_messages();
}


# the bytes of a message as received (an entry of smtp_messages())

sub smtp_raw {
    my ($e) = @_;
    open(my $fh, '<:raw', $e->{path}) or die "cannot read $e->{path}: $!\n";
    local $/;
    my $raw = <$fh>;
    close $fh;
    return $raw;
}


# what Python's email package (an independent MIME parser) makes of the
# sink's messages (t/lib/eml.py): one hash per entry of smtp_messages()

sub eml {
    my @paths = map { $_->{path} } @_;
    my $dir = $INC{'CRM/Test.pm'};
    $dir =~ s{/CRM/Test\.pm\z}{};
    open(my $fh, '-|', 'python3', "$dir/eml.py", @paths)
        or die "cannot run eml.py: $!\n";
    local $/;
    my $out = <$fh>;
    close($fh) or die "eml.py failed on @paths\n";
    return JSON::PP->new->utf8->decode($out);
}


# the error log of the nginx under test as it is now, or with "second"
# that of second_nginx(); dies when there is none

sub error_log {
    my ($second) = @_;
    my $root = $ENV{TEST_NGINX_SERVROOT} || 't/servroot';
    my $file = ($second ? "$root-second" : $root) . '/logs/error.log';
    open my $fh, '<', $file or die "$file: $!\n";
    local $/;
    return scalar <$fh>;
}


# Another nginx on the same database, as another host would run it, on
# port TEST_NGINX_SERVER_PORT + 1 under <servroot>-second: "http" is added
# to its http block; "master" runs it with a master and one worker (for
# graceful quits and killed workers); "main" is added to the main
# context (thread_pool); "no_postgres" leaves crm_postgres out.  Returns
# its master's (or only) pid; stop_second_nginx() ends it.

sub second_nginx {
    my (%o) = @_;
    my $root = $ENV{TEST_NGINX_SERVROOT} || 't/servroot';
    my $dir = "$root-second";
    my $port = ($ENV{TEST_NGINX_SERVER_PORT} || 1984) + 1;

    stop_second_nginx();
    system("rm -rf $dir");
    mkdir $dir;
    mkdir "$dir/$_" for qw(conf logs tmp);

    my $mods = join '', map { "load_module $_;\n" }
               split ' ', ($ENV{TEST_NGINX_LOAD_MODULES} // '');
    my $master = $o{master} ? "master_process on;\nworker_processes 1;"
                            : 'master_process off;';
    my $http = $o{http} // '';
    $http =~ s/\$(TEST_NGINX_\w+)/$ENV{$1}/g;
    my $main = $o{main} // '';
    my $pg = $o{no_postgres} ? ''
           : "crm_postgres \"$ENV{TEST_NGINX_PG_DSN}\";";

    open my $fh, '>', "$dir/conf/nginx.conf" or die $!;
    print $fh <<"_EOC_";
$mods
daemon on;
$master
$main
error_log $dir/logs/error.log info;
pid $dir/logs/nginx.pid;
events { worker_connections 256; }
http {
    access_log off;
    client_body_temp_path $dir/tmp/body;
    proxy_temp_path $dir/tmp/proxy;
    fastcgi_temp_path $dir/tmp/fastcgi;
    uwsgi_temp_path $dir/tmp/uwsgi;
    scgi_temp_path $dir/tmp/scgi;
    $pg
    crm_api_key $KEY_A $WS_A;
    $http
    server {
        listen 127.0.0.1:$port;
        location /api/v1/ { crm_api; }
    }
}
_EOC_
    close $fh;

    system($ENV{TEST_NGINX_BINARY} || 'nginx', '-p', $dir, '-c',
           "$dir/conf/nginx.conf", '-e', "$dir/logs/error.log") == 0
        or die "the second nginx did not start\n";

    return second_nginx_pid();
}


sub second_nginx_pid {
    my $root = $ENV{TEST_NGINX_SERVROOT} || 't/servroot';
    my $pid;
    for (1 .. 50) {
        if (open my $fh, '<', "$root-second/logs/nginx.pid") {
            $pid = <$fh>;
            close $fh;
            chomp $pid if defined $pid;
            return $pid if $pid;
        }
        Time::HiRes::sleep(0.1);
    }
    return undef;
}


# "QUIT" (graceful, the default) or "TERM"; waits up to "secs" (10) for
# the process to go; returns 1 when it went

sub stop_second_nginx {
    my ($sig, $secs) = @_;
    my $root = $ENV{TEST_NGINX_SERVROOT} || 't/servroot';
    open my $fh, '<', "$root-second/logs/nginx.pid" or return 1;
    my $pid = <$fh>;
    close $fh;
    chomp $pid;
    return 1 unless $pid;
    kill $sig // 'QUIT', $pid;
    for (1 .. ($secs // 10) * 10) {
        return 1 unless kill 0, $pid;
        Time::HiRes::sleep(0.1);
    }
    return 0;
}


# The webhook receiver (util/webhook_sink.py) on 127.0.0.1:hook_port()
# (CRM_TEST_HOOK_PORT, or TEST_NGINX_SERVER_PORT + 2), logging to hook_dir()/log.jsonl; started
# and stopped by the suites that use it.  hook_start(secret) verifies
# signatures with that secret as it logs; hook_start(secret, tls => 1)
# makes it an HTTPS receiver with the stack's server certificate
# (tls_file()).

sub hook_port {
    return $ENV{CRM_TEST_HOOK_PORT}
           || ($ENV{TEST_NGINX_SERVER_PORT} || 1984) + 2;
}


sub hook_dir {
    my $root = $ENV{TEST_NGINX_SERVROOT} || 't/servroot';
    return "$root-hooks";
}


sub hook_start {
    my ($secret, %o) = @_;
    my $dir = hook_dir();
    hook_stop();
    mkdir $dir;
    my $top = Cwd::abs_path(File::Basename::dirname(__FILE__)
                            . '/../../..');
    my $pid = fork() // die "fork: $!";
    if ($pid == 0) {
        open STDOUT, '>', "$dir/sink.out";
        open STDERR, '>&', \*STDOUT;
        exec('/usr/bin/python3', "$top/util/webhook_sink.py",
             '--port', hook_port(), '--dir', $dir,
             '--pidfile', "$dir/sink.pid",
             defined $secret ? ('--secret', $secret) : (),
             $o{tls} ? ('--tls-cert', tls_file('server.pem'),
                        '--tls-key', tls_file('server.key')) : ())
            or POSIX::_exit(1);
    }
    $CRM::Test::HOOK_PID = $pid;
    $CRM::Test::HOOK_OWNER = $$;
    for (1 .. 100) {
        my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                      PeerPort => hook_port(),
                                      Proto => 'tcp');
        if ($s) { close $s; return $pid; }
        Time::HiRes::sleep(0.05);
    }
    die "the webhook sink did not start\n";
}


sub hook_stop {
    my $pid = $CRM::Test::HOOK_PID or return;
    return unless ($CRM::Test::HOOK_OWNER // 0) == $$;
    kill 'TERM', $pid;
    waitpid($pid, 0);
    $CRM::Test::HOOK_PID = undef;
}


# empties the receiver's log

sub hook_wipe {
    unlink hook_dir() . '/log.jsonl';
}


# what the receiver got, oldest first: hashes {seq, time, method, path,
# headers, body, verified?, json (the body decoded)}

sub hook_requests {
    open(my $fh, '<', hook_dir() . '/log.jsonl')
        or return wantarray ? () : 0;
    my @out;
    while (my $line = <$fh>) {
        my $e = eval { JSON::PP->new->utf8->decode($line) } or next;
        $e->{json} = eval { JSON::PP->new->utf8->decode($e->{body}) };
        push @out, $e;
    }
    close $fh;
    return wantarray ? @out : scalar @out;
}

END { hook_stop() }


# The test DNS server (util/dns_sink.py) on UDP 127.0.0.1:dns_port()
# (CRM_TEST_DNS_PORT, or TEST_NGINX_SERVER_PORT + 53), authoritative for
# the names of its rules ("hook.test=127.0.0.1", "gone.test=nxdomain",
# "slow.test=drop": see the script); started and stopped by the suites
# that use it, its queries logged to dns_dir()/queries.jsonl.

sub dns_port {
    return $ENV{CRM_TEST_DNS_PORT}
           || ($ENV{TEST_NGINX_SERVER_PORT} || 1984) + 53;
}


sub dns_dir {
    my $root = $ENV{TEST_NGINX_SERVROOT} || 't/servroot';
    return "$root-dns";
}


sub dns_start {
    my (@rules) = @_;
    my $dir = dns_dir();
    dns_stop();
    mkdir $dir;
    unlink "$dir/queries.jsonl", "$dir/dns.pid";
    my $top = Cwd::abs_path(File::Basename::dirname(__FILE__)
                            . '/../../..');
    my $pid = fork() // die "fork: $!";
    if ($pid == 0) {
        open STDOUT, '>', "$dir/dns.out";
        open STDERR, '>&', \*STDOUT;
        exec('/usr/bin/python3', "$top/util/dns_sink.py",
             '--port', dns_port(), '--pidfile', "$dir/dns.pid",
             '--log', "$dir/queries.jsonl", @rules)
            or POSIX::_exit(1);
    }
    $CRM::Test::DNS_PID = $pid;
    $CRM::Test::DNS_OWNER = $$;
    for (1 .. 100) {
        return $pid if -s "$dir/dns.pid";
        Time::HiRes::sleep(0.05);
    }
    die "the test DNS server did not start\n";
}


sub dns_stop {
    my $pid = $CRM::Test::DNS_PID or return;
    return unless ($CRM::Test::DNS_OWNER // 0) == $$;
    local $?;                   # END { dns_stop() }: not the exit status
    kill 'TERM', $pid;
    waitpid($pid, 0);
    $CRM::Test::DNS_PID = undef;
}


# the queries it got, oldest first: hashes {time, name, type}

sub dns_queries {
    open(my $fh, '<', dns_dir() . '/queries.jsonl')
        or return wantarray ? () : 0;
    my @out;
    while (my $line = <$fh>) {
        my $e = eval { JSON::PP->new->utf8->decode($line) } or next;
        push @out, $e;
    }
    close $fh;
    return wantarray ? @out : scalar @out;
}

END { dns_stop() }


# empties the mail directory (the sink goes on numbering its files)

sub smtp_wipe {
    my $dir = smtp_dir();
    opendir(my $dh, $dir) or return;
    for my $f (readdir $dh) {
        unlink "$dir/$f" if $f =~ /\.eml\z/ || $f eq 'log.jsonl';
    }
    closedir $dh;
}


# runs SQL on the test database; dies when psql fails

sub sql {
    my ($q) = @_;
    my $dsn = $ENV{TEST_NGINX_PG_DSN}
        or die "TEST_NGINX_PG_DSN is not set (run the suite with make test)\n";

    open(my $fh, '-|', 'psql', $dsn, '-X', '-q', '-t', '-A',
         '-v', 'ON_ERROR_STOP=1', '-c', $q)
        or die "cannot run psql: $!\n";
    local $/;
    my $out = <$fh> // '';
    close($fh) or die "psql failed on: $q\n";
    $out =~ s/\s+\z//;
    return $out;
}


# empties the tenant tables and makes the two fixture workspaces

sub reset {
    redis_flush();
    sql("TRUNCATE webhook_deliveries, webhooks, events,"
        . " campaign_recipients, email_events, emails, campaigns,"
        . " suppressions, custom_fields,"
        . " activities, leads, deals, pipelines, contacts, companies,"
        . " api_keys");
    sql("INSERT INTO workspaces (id, name) VALUES "
        . "('$WS_A', 'Workspace A'), ('$WS_B', 'Workspace B') "
        . "ON CONFLICT (id) DO NOTHING");
}


# empties the test Redis (rate-limit counters, idempotency keys)

sub redis_flush {
    my $port = $ENV{TEST_NGINX_REDIS_PORT} or return;
    system("redis-cli -h 127.0.0.1 -p $port FLUSHALL >/dev/null") == 0
        or die "cannot flush the test Redis on port $port\n";
}


# a stored API key with a known secret (test fixtures only: the API and
# the bootstrap make keys with db_api_key_create())

sub stored_key {
    my ($key, $ws, $scopes, $expires) = @_;
    $expires = defined $expires ? "'$expires'" : 'NULL';
    sql("INSERT INTO api_keys (workspace_id, name, prefix, secret_hash,"
        . " scopes, expires_at) VALUES ('$ws', 'fixture', left('$key', 16),"
        . " digest('$key', 'sha256'), '$scopes', $expires) RETURNING id");
}


# one HTTP/1.0 request to the nginx under test (for checks that need
# more than one request while nginx runs); returns (status, body, headers)

sub http_request {
    my ($method, $path, $headers, $body) = @_;
    my $port = $CRM::Test::PORT || $ENV{TEST_NGINX_SERVER_PORT}
               || $ENV{TEST_NGINX_PORT} || 1984;

    my $sock = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                     PeerPort => $port, Proto => 'tcp',
                                     Timeout => 10,
                                     $FROM ? (LocalAddr => $FROM) : ())
        or die "cannot connect to nginx on $port: $!\n";

    my $req = "$method $path HTTP/1.0\r\nHost: localhost\r\n";
    for my $h (@{ $headers || [] }) {
        $req .= "$h\r\n";
    }
    if (defined $body) {
        $req .= "Content-Length: " . length($body) . "\r\n";
    }
    $req .= "\r\n" . ($body // '');

    print $sock $req;
    local $/;
    my $resp = <$sock> // '';
    close $sock;

    my ($head, $rbody) = split /\r\n\r\n/, $resp, 2;
    my ($status) = ($head // '') =~ m{^HTTP/\d\.\d (\d+)};
    return ($status // 0, $rbody // '', $head // '');
}


# a JSON API call with a credential (and a JSON body when given);
# returns (status, decoded body or {}, head)

sub api {
    my ($method, $path, $key, $body) = @_;
    my @h = ("X-API-Key: $key");
    push @h, 'Content-Type: application/json' if defined $body;
    my ($status, $b, $head) = http_request($method, $path, \@h, $body);
    return ($status, eval { JSON::PP::decode_json($b) } || {}, $head);
}


# waits (3 s at most) until the nginx under test reaches Redis; its
# workers connect in the background after they start

sub wait_redis {
    for (1 .. 30) {
        my ($status, $body) = http_request('GET', '/api/v1/health');
        return 1 if $body =~ /"redis":\{"status":"up"/;
        Time::HiRes::sleep(0.1);
    }
    return 0;
}


# "n" copies of one request at the same time (one process each); returns
# a list of [status, body, head, seconds]

sub concurrent {
    my ($n, @req) = @_;
    return together(map { [0, @req] } 1 .. $n);
}


# requests started together, each in a process of its own after its
# "delay" seconds: together([delay, method, path, headers, body], ...);
# returns [status, body, head, seconds] for each, in the order given

sub together {
    my (@reqs) = @_;
    my @kids;

    for my $req (@reqs) {
        my ($delay, @args) = @$req;
        pipe(my $r, my $w) or die "pipe: $!";
        my $pid = fork() // die "fork: $!";

        if ($pid == 0) {
            close $r;
            Time::HiRes::sleep($delay) if $delay;
            my $t0 = Time::HiRes::time();
            my ($status, $body, $head) = eval { http_request(@args) };
            $status //= 0;
            my $dt = Time::HiRes::time() - $t0;
            print $w JSON::PP::encode_json([$status, $body // '',
                                            $head // '', $dt]);
            close $w;
            POSIX::_exit(0);
        }

        close $w;
        push @kids, [$pid, $r];
    }

    my @out;
    for my $k (@kids) {
        my $fh = $k->[1];
        local $/;
        my $json = <$fh>;
        close $fh;
        waitpid($k->[0], 0);
        push @out, eval { JSON::PP::decode_json($json) } || [0, '', '', 0];
    }

    return @out;
}


# polls "cond" every 50 ms for "seconds" at most; its last answer

sub wait_for {
    my ($cond, $seconds) = @_;
    for (1 .. $seconds * 20) {
        return 1 if $cond->();
        Time::HiRes::sleep(0.05);
    }
    return 0;
}


# holds a row lock for "seconds" in a background session, so that writes
# to that row wait in PostgreSQL; returns the session's pid once the lock
# is held

sub lock_row {
    my ($table, $id, $seconds) = @_;
    return hold("SELECT 1 FROM $table WHERE id = '$id' FOR UPDATE",
                $seconds);
}


# holds ACCESS EXCLUSIVE locks on "tables" (an array ref) for "seconds"
# in a background session, so that every statement that reads or writes
# them waits in PostgreSQL; returns the session's pid once the locks are
# held

sub lock_tables {
    my ($tables, $seconds) = @_;
    return hold('LOCK TABLE ' . join(', ', @$tables)
                . ' IN ACCESS EXCLUSIVE MODE', $seconds);
}


# runs "lock" in a transaction that then sleeps "seconds"; returns once
# the session sleeps (it holds what "lock" took)

sub hold {
    my ($lock, $seconds) = @_;
    my $dsn = $ENV{TEST_NGINX_PG_DSN};

    my $pid = fork() // die "fork: $!";
    if ($pid == 0) {
        exec('psql', $dsn, '-X', '-q', '-o', '/dev/null',
             '-v', 'ON_ERROR_STOP=1',
             '-c', "BEGIN; $lock; SELECT pg_sleep($seconds); COMMIT;")
            or POSIX::_exit(1);
    }

    for (1 .. 100) {
        last if sql("SELECT count(*) FROM pg_stat_activity"
                    . " WHERE wait_event = 'PgSleep'") > 0;
        Time::HiRes::sleep(0.05);
    }

    return $pid;
}

1;
