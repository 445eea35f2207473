package Test::Nginx::Socket;

# A small stand-in for Test::Nginx::Socket (CPAN, openresty/test-nginx),
# used by "make test" only when the real module is not installed.
# It implements the subset of sections and functions that t/README lists,
# with the real module's semantics, so that t/*.t run unchanged under both.
# Like the real one it is a Test::Base subclass: the block syntax, the
# filters (eval, chomp, ...), ONLY/SKIP/LAST and the re-exported Test::More
# functions all come from Test::Base itself.

use strict;
use warnings;
use v5.10.1;

use Test::Base -base;
use Test::LongString ();
use HTTP::Response ();
use IO::Socket::INET ();
use IO::Select ();
use File::Path qw(make_path remove_tree);
use File::Spec ();
use List::Util qw(shuffle min);
use POSIX ();
use Time::HiRes qw(sleep time);

our $VERSION = '0.33';    # the version of the real module this one follows

our @EXPORT = qw(
    env_to_nginx is_str plan run_tests repeat_each config_preamble
    worker_connections master_process_enabled no_long_string workers
    master_on master_off log_level no_shuffle no_root_location use_hup
    server_name server_addr server_root html_dir server_port
    server_port_for_client timeout no_nginx_manager check_accum_error_log
    add_block_preprocessor bail_out add_test_cleanup_handler
    add_cleanup_handler add_response_body_check
);

for my $v (qw(CHECK_LEAK BENCHMARK USE_HUP USE_STAP USE_HTTP2 USE_HTTP3
              USE_RR RANDOMIZE NO_NGINX_MANAGER))
{
    die "TEST_NGINX_$v is not supported by the compat Test::Nginx runner "
        . "(t/compat/lib); install the real Test::Nginx or unset it\n"
        if $ENV{"TEST_NGINX_$v"};
}

# ---- settings (same names, defaults and environment as the real one) -------

our $NginxBinary         = $ENV{TEST_NGINX_BINARY} || 'nginx';
our $ServerPort          = $ENV{TEST_NGINX_SERVER_PORT} || $ENV{TEST_NGINX_PORT}
                           || 1984;
our $ServerPortForClient = $ENV{TEST_NGINX_CLIENT_PORT} || $ServerPort;
our $ServerAddr          = '127.0.0.1';
our $ServerName          = 'localhost';
our $Workers             = 1;
our $WorkerConnections   = 64;
our $LogLevel            = $ENV{TEST_NGINX_LOG_LEVEL} || 'debug';
our $MasterProcessEnabled = $ENV{TEST_NGINX_MASTER_PROCESS} || 'off';
our $UseValgrind         = $ENV{TEST_NGINX_USE_VALGRIND};
our $DaemonEnabled       = $UseValgrind ? 'off' : 'on';
our $Timeout             = $ENV{TEST_NGINX_TIMEOUT} || 3;
our $TestNginxSleep      = $ENV{TEST_NGINX_SLEEP} || 0.015;
our $NoShuffle           = $ENV{TEST_NGINX_NO_SHUFFLE} || 0;
our $CheckAccumErrLog    = $ENV{TEST_NGINX_CHECK_ACCUM_ERR_LOG};
our $LoadModules         = $ENV{TEST_NGINX_LOAD_MODULES};
our $EventType           = $ENV{TEST_NGINX_EVENT_TYPE};
our $WorkerUser          = $ENV{TEST_NGINX_WORKER_USER};
our ($RepeatEach, $NoRootLocation, $NoLongString, $ConfigPreamble) = (1, 0, 0, '');
our (@EnvToNginx, @BlockPreprocessors, @ResponseBodyChecks);
our (@CleanupHandlers, @TestCleanupHandlers);

our $ServRoot   = $ENV{TEST_NGINX_SERVROOT} || File::Spec->rel2abs('t/servroot');
$ENV{TEST_NGINX_SERVER_ROOT} = $ServRoot;
our $LogDir     = "$ServRoot/logs";
our $ErrLogFile = "$LogDir/error.log";
our $AccLogFile = "$LogDir/access.log";
our $HtmlDir    = "$ServRoot/html";
our $ConfDir    = "$ServRoot/conf";
our $ConfFile   = "$ConfDir/nginx.conf";
our $PidFile    = "$LogDir/nginx.pid";

our ($NginxVersion, $NginxV, $PrevConfig, $ChildPid, $ErrLogFilePos, $RandPorts);
our $InSubprocess = 0;

# sections the real module implements and this one does not: a block using
# one is refused rather than silently half-tested
our @Unsupported = qw(
    http2 http3 curl curl_protocol curl_options curl_error request_eval
    response_body_eval response_body_filters response_body_json_sort
    write_resp_body_file charset error_log_file access_log no_access_log
    grep_error_log grep_error_log_out shutdown_error_log no_shutdown_error_log
    shutdown http09 reload_fails must_die skip_nginx2 skip_openssl skip_slave
    todo_nginx server_addr_for_client stap stap_out stap_out_like
    stap_out_unlike tcp_listen tcp_reply tcp_reply_delay tcp_query
    tcp_query_len tcp_query_auto_timeout tcp_no_close tcp_shutdown
    tcp_shutdown_delay udp_listen udp_reply udp_reply_delay udp_query
);

die "Bad value in the env TEST_NGINX_WORKER_USER: $WorkerUser\n"
    if defined $WorkerUser && $WorkerUser !~ /^\w[-\w]+(?:\s+\w[-\w]+)?$/;

# ---- exported functions -----------------------------------------------------

sub _getset { my $ref = shift; $$ref = shift if @_; $$ref }

sub repeat_each            { _getset(\$RepeatEach, @_) }
sub workers                { _getset(\$Workers, @_) }
sub worker_connections     { _getset(\$WorkerConnections, @_) }
sub log_level              { _getset(\$LogLevel, @_) }
sub timeout                { _getset(\$Timeout, @_) }
sub server_port            { _getset(\$ServerPort, @_) }
sub server_port_for_client { _getset(\$ServerPortForClient, @_) }
sub server_addr            { _getset(\$ServerAddr, @_) }
sub server_name            { _getset(\$ServerName, @_) }
sub config_preamble ($)    { $ConfigPreamble = shift }
sub master_on ()           { $MasterProcessEnabled = 'on' }
sub master_off ()          { $MasterProcessEnabled = 'off' }
sub master_process_enabled {
    $MasterProcessEnabled = $_[0] ? 'on' : 'off' if @_;
    $MasterProcessEnabled;
}
sub no_shuffle ()          { $NoShuffle = 1 }
sub no_root_location ()    { $NoRootLocation = 1 }
sub no_long_string ()      { $NoLongString = 1 }
sub check_accum_error_log () { $CheckAccumErrLog = 1 }
sub server_root ()         { $ServRoot }
sub html_dir ()            { $HtmlDir }
sub add_block_preprocessor (&) { unshift @BlockPreprocessors, shift }
sub add_cleanup_handler ($)      { unshift @CleanupHandlers, shift }
sub add_test_cleanup_handler ($) { unshift @TestCleanupHandlers, shift }
sub add_response_body_check ($)  { push @ResponseBodyChecks, shift }

sub use_hup ()           { Carp::croak("use_hup() is not supported by the compat runner") }
sub no_nginx_manager ()  { Carp::croak("no_nginx_manager() is not supported by the compat runner") }

sub env_to_nginx (@) {
    Carp::croak("env_to_nginx: no arguments specified") unless @_;
    for my $v (@_) {
        Carp::croak("env_to_nginx: bad argument value: $v\n")
            if $v !~ /^[A-Za-z_]/ || $v =~ /\n/;
        push @EnvToNginx, $v;
    }
}

sub is_str (@) {
    my ($got, $expected, $desc) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    return Test::More::like($got, $expected, $desc) if ref $expected eq 'Regexp';
    return Test::More::is($got, $expected, $desc) if $NoLongString;
    return Test::LongString::is_string($got, $expected, $desc);
}

sub bail_out (@) {
    cleanup();
    Test::More::BAIL_OUT(@_);
}

sub run_tests () {
    $NginxVersion = nginx_version();
    $ENV{TEST_NGINX_SERVER_PORT} = $ServerPort
        unless defined $ENV{TEST_NGINX_SERVER_PORT};

    my @blocks = Test::Base::blocks();
    @blocks = shuffle @blocks unless $NoShuffle;
    for my $block (@blocks) {
        $_->($block) for @BlockPreprocessors;
        $block->set_value(name => "$0 " . $block->name);
        run_test($block);
        $_->($block) for @TestCleanupHandlers;
    }
    cleanup();
}

# ---- one block ----------------------------------------------------------------

sub run_test ($) {
    my $block = shift;
    return if defined $block->SKIP;
    my $name = $block->name;
    $NginxVersion //= nginx_version();

    my @unsupported = grep { exists $block->{$_} } @Unsupported;
    bail_out("$name - not supported by the compat Test::Nginx runner "
             . "(t/compat/lib): --- @unsupported") if @unsupported;

    local $RandPorts = {};
    local $LogLevel = $LogLevel;
    $LogLevel = $block->log_level if $block->log_level;

    my $config = expand_env(scalar $block->config, $name);
    my ($skip_n, $skip_why, $todo) = skip_spec($block, $name);

    if (!$skip_n) {
        if (defined $config) {
            $PrevConfig = $config;
            start_nginx($block, $config) or return;
        } elsif (!defined $PrevConfig) {
            bail_out("$name - No '--- config' section specified and could "
                     . "not get previous one.");
        }
    }

    if ($block->init) {
        eval $block->init;
        bail_out("$name - init failed: $@") if $@;
    }

    my $failed_before = failures();
    $ErrLogFilePos = 0;
    for my $i (0 .. $RepeatEach - 1) {
        write_user_files($block) if $i > 0;
        if ($skip_n && $todo) {
            TODO: { Test::More::todo_skip("$name - $skip_why", $skip_n) }
        } elsif ($skip_n) {
            SKIP: { Test::More::skip("$name - $skip_why", $skip_n) }
        } else {
            run_requests($block, $i);
        }
    }

    if ($UseValgrind) {
        stop_nginx($name);
        check_valgrind($name);
    }

    if (failures() > $failed_before) {
        Test::More::diag("$name - last non-debug lines of $ErrLogFile:\n" . log_tail(20));
    }
}

sub failures { scalar grep { !$_ } Test::More->builder->summary }

# "--- skip_nginx: 2: < 1.19.0 [: why]", "--- skip_eval: 2: perl code",
# "--- todo: 2: why"; returns (number of tests, reason, is_todo)
sub skip_spec {
    my ($block, $name) = @_;
    my %cmp = ('<' => sub { $_[0] < $_[1] }, '<=' => sub { $_[0] <= $_[1] },
               '>' => sub { $_[0] > $_[1] }, '>=' => sub { $_[0] >= $_[1] });

    if (defined(my $s = $block->skip_nginx)) {
        $s =~ /^\s*(\d+)\s*:\s*([<>]=?)\s*(\d+)\.(\d+)\.(\d+)(?:\s*:\s*(.*))?\s*$/
            or bail_out("$name - Invalid --- skip_nginx spec: $s");
        my ($n, $op, $why) = ($1, $2, $6);
        my $ver = sprintf "%d.%03d%03d", $3, $4, $5;
        return ($n, $why || "nginx version $op $3.$4.$5")
            if $cmp{$op}->($NginxVersion, $ver);
    }
    if (defined(my $s = $block->skip_eval)) {
        if ($s =~ /^\s*(\d+)\s*:\s*(.*)/s) {
            my ($n, $code) = ($1, $2);
            my $skip = eval $code;
            bail_out("$name - skip_eval - failed to eval the Perl code "
                     . "\"$code\": $@") if $@;
            return ($n, 'skip_eval') if $skip;
        }
    }
    if (defined(my $s = $block->todo)) {
        $s =~ /^\s*(\d+)\s*:\s*(.*)/s
            or bail_out("$name - Invalid --- todo spec: $s");
        return ($1, $2 || 'various reasons', 1);
    }
    return;
}

# ---- server root, config, nginx process ------------------------------------

sub setup_server_root {
    if (-d $ServRoot) {
        remove_tree($ConfDir, glob("$ServRoot/*_cache"), glob("$ServRoot/*_temp"),
                    "$ServRoot/cache", $HtmlDir, $LogDir);
        rmdir $ServRoot or bail_out("Can't remove $ServRoot (not empty?): $!");
    }
    for my $d ($ServRoot, $LogDir, $HtmlDir, $ConfDir) {
        mkdir $d or bail_out("Failed to do mkdir $d: $!");
    }
    open my $out, '>', "$HtmlDir/index.html"
        or bail_out("Can't open $HtmlDir/index.html for writing: $!");
    print $out '<html><head><title>It works!</title></head>'
               . '<body>It works!</body></html>';
    close $out;
}

# "--- user_files": ">>> path [touch -t date]" lines, each followed by the
# file's contents; relative paths are under html_dir()
sub write_user_files {
    my $block = shift;
    my $name = $block->name;
    my $files = $block->user_files or return;

    if (!ref $files) {
        my ($fname, $date, $body, @list);
        for my $line (split /^/, $files) {
            if ($line =~ />>> (\S+)(?:\s+(.+))?/) {
                push @list, [$fname, $body, $date] if $fname;
                ($fname, $date, $body) = ($1, $2, undef);
            } else {
                $body .= $line;
            }
        }
        push @list, [$fname, $body, $date] if $fname;
        $files = \@list;
    } elsif (ref $files ne 'ARRAY') {
        bail_out("$name - wrong value type: ", ref $files,
                 ", only scalar or ARRAY are accepted");
    }

    for my $f (@$files) {
        my ($fname, $body, $date) = @$f;
        my $path = $fname =~ m{^/} ? $fname : "$HtmlDir/$fname";
        make_path($1) if $path =~ m{(.*)/} && !-d $1;
        open my $out, '>', $path or bail_out("$name - Cannot open $path for writing: $!");
        binmode $out;
        print $out expand_env($body // '', $name);
        close $out;
        if ($date) {
            system("TZ=GMT touch -t '$date' '$path'") == 0
                or bail_out("$name - failed to touch $path");
        }
    }
}

sub write_config_file {
    my ($block, $config) = @_;
    my $name = $block->name;

    my $http_config = expand_env($block->http_config // '', $name);
    my $main_config = $block->main_config // '';
    my @modules = map { "load_module $_;" } grep { length } split /\s+/, $LoadModules // '';
    $main_config = join ' ', @modules, $main_config if @modules;
    $main_config = expand_env($main_config, $name);
    my $post_main_config = expand_env($block->post_main_config // '', $name);
    my $server_name = $block->server_name // $ServerName;
    $server_name =~ s/([\\'])/\\$1/g;

    my $env = join '', map { my $v = /\s/ ? "'$_'" : $_; "env $v;\n" } @EnvToNginx;

    $NginxV //= `$NginxBinary -V 2>&1`;
    my $temp_paths = '';
    for my $t (qw(client_body proxy fastcgi scgi uwsgi)) {
        next if $NginxV =~ /--without-http_${t}_module/;
        next if ($t eq 'client_body' || $t eq 'proxy')
                && $http_config =~ /\b${t}_temp_path\b/;
        $temp_paths .= " ${t}_temp_path $ServRoot/${t}_temp;";
    }

    my $root_location = $NoRootLocation ? '' : <<"_EOC_";
        location / {
            root $HtmlDir;
            index index.html index.htm;
        }
_EOC_

    my $events = $EventType ? "    use $EventType;\n" : '';
    my $user = defined $WorkerUser ? "user $WorkerUser;\n"
             : $> == 0             ? "user root;\n" : '';

    open my $out, '>', $ConfFile or bail_out("Can't open $ConfFile for writing: $!");
    print $out <<"_EOC_";
worker_processes  $Workers;
daemon $DaemonEnabled;
master_process $MasterProcessEnabled;
error_log $ErrLogFile $LogLevel;
pid       $PidFile;
env MOCKEAGAIN_VERBOSE;
env MOCKEAGAIN;
env MOCKEAGAIN_WRITE_TIMEOUT_PATTERN;
env LD_PRELOAD;
env LD_LIBRARY_PATH;
env DYLD_INSERT_LIBRARIES;
env DYLD_FORCE_FLAT_NAMESPACE;
$env
$main_config

http {
    access_log $AccLogFile;$temp_paths

    default_type text/plain;
    keepalive_timeout  68000ms;

$http_config
    server {
        listen          $ServerAddr:$ServerPort;
        server_name     '$server_name';
        client_max_body_size 30M;

        # Begin preamble config...
$ConfigPreamble
        # End preamble config...

        # Begin test case config...
$config
        # End test case config.

$root_location    }
}

$post_main_config

events {
    accept_mutex off;

    worker_connections  $WorkerConnections;
$events}
env ASAN_OPTIONS;
env MOCKNOEAGAIN_VERBOSE;
env MOCKNOEAGAIN;
$user
_EOC_
    close $out;
}

sub start_nginx {
    my ($block, $config) = @_;
    my $name = $block->name;

    stop_nginx($name);
    setup_server_root();
    if ($block->post_setup_server_root) {
        eval $block->post_setup_server_root;
        bail_out("$name - post_setup_server_root failed: $@") if $@;
    }
    write_user_files($block);
    write_config_file($block, $config);

    my @cmd = ($NginxBinary, ($NginxVersion >= 1.019005 ? ('-e', $ErrLogFile) : ()),
               '-p', "$ServRoot/", '-c', $ConfFile);

    if ($UseValgrind) {
        my @opts = $UseValgrind =~ /^\d+$/
            ? ('--num-callers=100', '-q', '--tool=memcheck', '--leak-check=full',
               '--keep-debuginfo=yes', '--show-possibly-lost=no',
               '--gen-suppressions=all',
               (-f 'valgrind.suppress' ? '--suppressions=valgrind.suppress' : ()))
            : ('-q', split ' ', $UseValgrind);
        @cmd = ('valgrind', @opts, "--log-file=$LogDir/valgrind.%p.log", @cmd);
        warn "$name\n";
    }

    my $pid = fork // bail_out("$name - fork() failed: $!");
    if ($pid == 0) {
        $InSubprocess = 1;
        setpgrp;
        open STDOUT, '>', '/dev/null';
        open STDERR, '>', '/dev/null' if defined $block->suppress_stderr;
        exec { $cmd[0] } @cmd;
        warn "cannot exec $cmd[0]: $!\n";
        POSIX::_exit(127);
    }

    if ($UseValgrind) {
        $ChildPid = $pid;    # nginx runs in the foreground under valgrind
    } else {
        waitpid($pid, 0);    # returns once the daemon has bound its port
        if ($? != 0) {
            Test::More::fail("$name - Cannot start nginx using command "
                             . "\"@cmd\" (status code $?)");
            Test::More::diag("last non-debug lines of $ErrLogFile:\n" . log_tail(20));
            return 0;
        }
    }

    my $deadline = time + ($UseValgrind ? 60 : 5);
    until (port_listening($ServerPort)) {
        if (time > $deadline || ($ChildPid && waitpid($ChildPid, POSIX::WNOHANG()) != 0)) {
            undef $ChildPid if $ChildPid && !is_running($ChildPid);
            Test::More::fail("$name - nginx is not listening on port $ServerPort");
            Test::More::diag("last non-debug lines of $ErrLogFile:\n" . log_tail(20));
            check_valgrind($name) if $UseValgrind;
            return 0;
        }
        sleep 0.05;
    }
    sleep $TestNginxSleep;
    return 1;
}

sub port_listening {
    my $hex = sprintf ':%04X ', shift;
    for my $f ('/proc/net/tcp', '/proc/net/tcp6') {
        open my $in, '<', $f or next;
        while (<$in>) {
            my @f = split ' ';
            return 1 if @f > 3 && "$f[1] " =~ /\Q$hex\E$/ && $f[3] eq '0A';
        }
    }
    return 0;
}

sub is_running {
    my $pid = shift;
    waitpid($pid, POSIX::WNOHANG());    # reaps our own (valgrind) child
    return 0 unless kill 0, $pid;
    # an exited daemon stays a zombie until init reaps it
    if (open my $st, '<', "/proc/$pid/stat") {
        return 0 if (<$st> // '') =~ /^\d+ \(.*\) Z/s;
    }
    return 1;
}

# the pid in the pid file, if that process still looks like our nginx
sub nginx_pid {
    open my $in, '<', $PidFile or return $ChildPid;
    my $pid = <$in> // '';
    chomp $pid;
    return $ChildPid unless $pid =~ /^\d+$/;
    if (open my $cmd, '<', "/proc/$pid/cmdline") {
        my $c = <$cmd> // '';
        return $ChildPid unless $c =~ /nginx|valgrind|memcheck|\Q$ServRoot\E/;
    }
    return $pid;
}

sub kill_process {
    my ($pid, $name) = @_;
    kill($ENV{TEST_NGINX_FAST_SHUTDOWN} ? 'TERM' : 'QUIT', $pid);
    my $left = $UseValgrind ? 30 : $Timeout;
    while ($left > 0 && is_running($pid)) {
        sleep 0.05;
        $left -= 0.05;
    }
    if (is_running($pid)) {
        warn "$name - timeout when waiting for the process $pid to exit\n";
        kill 'KILL', (getpgrp($pid) == $pid ? -$pid : $pid);
        sleep 0.05;
        waitpid($pid, 0) if defined $ChildPid && $pid == $ChildPid;
    }
}

sub stop_nginx {
    my $name = shift;
    my $pid = nginx_pid();
    if ($pid && is_running($pid)) {
        kill_process($pid, $name);
    }
    if ($ChildPid && $ChildPid != ($pid // 0) && is_running($ChildPid)) {
        kill_process($ChildPid, $name);
    }
    undef $ChildPid;
    unlink $PidFile if -f $PidFile;
}

# valgrind's findings (-q: it writes nothing when there is nothing to say)
sub check_valgrind {
    my $name = shift;
    my $report = '';
    for my $f (sort glob "$LogDir/valgrind.*.log") {
        open my $in, '<', $f or next;
        $report .= do { local $/; <$in> } // '';
    }
    return unless $report =~ /^==\d+== (?!Warning:)\S/m;
    warn $report;
    Test::More::fail("$name - valgrind reported errors (see above)");
}

sub cleanup {
    $_->() for @CleanupHandlers;
    if ($ChildPid) {
        kill_process($ChildPid, 'cleanup') if is_running($ChildPid);
        undef $ChildPid;
    }
}

END {
    if (!$InSubprocess) {
        local $?;
        cleanup();
        if ($UseValgrind || !$ENV{TEST_NGINX_NO_CLEAN}) {
            my $pid = -f $PidFile && nginx_pid();
            if ($pid && is_running($pid)) {
                kill_process($pid, 'END');
            } elsif (-f $PidFile) {
                unlink $PidFile;
            }
        }
    }
}

sub nginx_version {
    my $out = `$NginxBinary -V 2>&1`;
    bail_out("Failed to get the version of the Nginx in PATH: " . ($out // ''))
        if !defined $out || $? != 0;
    $NginxV = $out;
    return sprintf("%d.%03d%03d", $1, $2, $3) if $out =~ m{\w+/(\d+)\.(\d+)\.(\d+)};
    bail_out("Failed to parse the output of \"nginx -V\": $out");
}

# the last $n lines of error.log that are not at the debug level
sub log_tail {
    my $n = shift;
    open my $in, '<', $ErrLogFile or return "(cannot open $ErrLogFile: $!)\n";
    my @lines = grep { m{^\d{4}/\d\d/\d\d [\d:]+ \[(?!debug\])} } <$in>;
    return "(no lines above the debug level)\n" unless @lines;
    return join '', @lines[($#lines >= $n ? $#lines - $n + 1 : 0) .. $#lines];
}

# $TEST_NGINX_FOO from %ENV; $TEST_NGINX_RAND_PORT_N gets a free port per block
sub expand_env {
    my ($text, $name) = @_;
    return undef unless defined $text;
    $text =~ s{\$(TEST_NGINX_[_A-Z0-9]+)}{
        my $var = $1;
        if ($var =~ /^TEST_NGINX_RAND_PORT_[0-9]+$/) {
            $RandPorts->{$var} //= rand_port($name);
        } else {
            bail_out("$name - No environment $var defined.\n")
                unless defined $ENV{$var};
            $ENV{$var};
        }
    }eg;
    return $text;
}

sub rand_port {
    my $name = shift;
    my %used = ($ServerPort => 1, map { $_ => 1 } values %$RandPorts);
    for (1 .. 1000) {
        my $port = int(rand 63547) + 1988;
        next if $used{$port};
        my $s = IO::Socket::INET->new(LocalAddr => $ServerAddr, LocalPort => $port,
                                      Proto => 'tcp', Listen => 5, Reuse => 1)
            or next;
        close $s;
        return $port;
    }
    bail_out("$name - Cannot find an available listening port number.");
}

sub parse_time {
    my $t = shift;
    return undef unless defined $t;
    return $1 / 1000 if $t =~ /^\s*([\d.]+)\s*ms\s*$/;
    $t =~ s/([^_a-zA-Z])s\s*$/$1/;
    return $t;
}

sub error_log_data {
    sleep $TestNginxSleep * 3;    # for lines logged after the response
    open my $in, '<', $ErrLogFile or return [];
    seek $in, $ErrLogFilePos, 0 if !$CheckAccumErrLog && $ErrLogFilePos;
    my @lines = <$in>;
    $ErrLogFilePos = tell $in unless $CheckAccumErrLog;
    return \@lines;
}

# ---- requests -----------------------------------------------------------------

sub parse_more_headers {
    my $in = shift;
    my ($out, $chunked) = ('', 0);
    for my $h (split /\n+/, $in) {
        next if $h =~ /^\s*\#/;
        my ($key, $val) = split /:\s*/, $h, 2;
        $val //= '';
        $chunked = 1 if lc $key eq 'transfer-encoding' && $val eq 'chunked';
        $out .= "$key: $val\r\n";
    }
    return ($out, $chunked);
}

# "METHOD [/uri [HTTP/x.y]]" on the first line, the body on the next ones
sub build_request {
    my ($name, $req, $more, $conn) = @_;
    my ($hdr, $chunked) = parse_more_headers($more);
    $req //= '';
    my ($first, $body) = $req =~ /\A([^\n]*\n?)(.*)\z/s;
    bail_out("$name - Request line should be non-empty") if $first eq '';
    $first =~ /^\s*(\S+) *(?:(\S+) *)?(?:(\S+) *)?\s*$/
        or bail_out("$name - Request line is not valid. Should be "
                    . "'meth [url [version]]' but got \"$first\".");
    my ($meth, $url, $ver) = ($1, $2 // '/', $3 // 'HTTP/1.1');

    my $len = '';
    if (!$chunked && $body ne '' && $hdr !~ /(?:^|\n)Content-Length:/) {
        $body =~ s/^\s+|\s+$//gs;
        $len = 'Content-Length: ' . length($body) . "\r\n";
    }
    my $head = '';
    $head .= "Host: $ServerName\r\n" if $hdr !~ /(?:^|\n)Host:/msi;
    $head .= "Connection: $conn\r\n" if $hdr !~ /(?:^|\n)Connection/msi;
    return "$meth $url $ver\r\n$head$hdr$len\r\n$body";
}

# a list of requests, each a list of packets (strings) sent one by one
sub get_requests {
    my $block = shift;
    my $name = $block->name;

    if (defined(my $raw = $block->raw_request)) {
        return [[$raw]] unless ref $raw;
        bail_out("$name - --- raw_request: only a string or an array of strings "
                 . "is supported by the compat runner")
            if ref $raw ne 'ARRAY' || grep { ref } @$raw;
        return [[@$raw]];
    }

    my $more = $block->more_headers // '';
    my $more_for = sub {
        my $i = shift;
        return $more unless ref $more eq 'ARRAY';
        bail_out("$name - --- more_headers lacks data for request $i")
            unless defined $more->[$i];
        return $more->[$i];
    };

    if (my $reqs = $block->pipelined_requests) {
        bail_out("$name - invalid entries in --- pipelined_requests")
            unless ref $reqs eq 'ARRAY';
        my $all = '';
        for my $i (0 .. $#$reqs) {
            $all .= build_request($name, expand_env($reqs->[$i], $name), $more_for->($i),
                                  $i == $#$reqs ? 'close' : 'keep-alive');
        }
        return [[$all]];
    }

    my $req = $block->request;
    if (!ref $req) {
        1 while defined $req && $req =~ s/^\s*\#[^\n]+\s+|^\s+//gs;
        return [[build_request($name, $req, $more_for->(0), 'close')]];
    }
    bail_out("$name - invalid --- request: MUST be string or array of requests")
        unless ref $req eq 'ARRAY';
    my @list;
    for my $i (0 .. $#$req) {
        bail_out("$name - request packets (arrays inside --- request) are "
                 . "not supported by the compat runner") if ref $req->[$i];
        push @list, [build_request($name, $req->[$i], $more_for->($i), 'close')];
    }
    return \@list;
}

sub send_request {
    my ($block, $packets, $timeout) = @_;
    my $name = $block->name;
    my $head_req = join('', @$packets) =~ /^\s*HEAD\s+/ ? 1 : 0;

    my $sock;
    for (my $try = 1; ; $try++) {
        $sock = IO::Socket::INET->new(PeerAddr => $ServerAddr,
                                      PeerPort => $ServerPortForClient,
                                      Proto => 'tcp', Timeout => $timeout);
        last if $sock;
        my $err = $!;
        my $pid = nginx_pid();
        if ($try >= 20 || ($try >= 3 && !($pid && is_running($pid)))) {
            Test::More::fail("$name - Can't connect to $ServerAddr:"
                             . "$ServerPortForClient: $err (aborted)\n");
            return (undef, $head_req);
        }
        sleep min(0.5, $TestNginxSleep * $try * $try);
    }
    $sock->blocking(0);
    local $SIG{PIPE} = 'IGNORE';

    my $sel = IO::Select->new($sock);
    my ($resp, $timed_out, $first) = ('', 0, 1);
    my $delay = parse_time(scalar $block->raw_request_middle_delay);
    WRITE: for my $data (@$packets) {
        sleep $delay if $delay && !$first;
        $first = 0;
        my $off = 0;
        while ($off < length $data) {
            if (!$sel->can_write($timeout)) { $timed_out = 1; last WRITE }
            my $n = syswrite $sock, $data, length($data) - $off, $off;
            if (!defined $n) {
                next if $!{EAGAIN} || $!{EINTR};
                warn "WARNING: $name - write failed: $!\n";
                last WRITE;
            }
            $off += $n;
        }
    }
    while (!$timed_out) {
        if (!$sel->can_read($timeout)) { $timed_out = 1; last }
        my $n = sysread $sock, my $buf, 65536;
        if (!defined $n) {
            next if $!{EAGAIN} || $!{EINTR};
            warn "WARNING: $name - HTTP response read failure: $!\n";
            last;
        }
        last if $n == 0;
        $resp .= $buf;
    }
    close $sock;
    Test::More::fail("ERROR: client socket timed out - $name\n")
        if $timed_out && !defined $block->abort;
    return ($resp, $head_req);
}

# returns (HTTP::Response or undef, raw header text, bytes after the response)
sub parse_response {
    my ($name, $raw, $head_req) = @_;
    my $raw_headers = $raw =~ /(.*?\r\n)\r\n/s ? $1 : '';
    my $res = HTTP::Response->parse($raw);
    my $code = $res->code;
    if (defined $code && $code !~ /^\d+$/) { undef $code; $res->code(undef) }
    return ($res, $raw_headers) if $code && ($code == 304 || $code == 101);

    my $te  = $res->header('Transfer-Encoding');
    my $len = $res->header('Content-Length');
    my $left;
    if (defined $te && $te eq 'chunked') {
        my $body = $res->content // '';
        my $decoded = '';
        while (1) {
            if ($body =~ /\G0[ \t]*(?:;[^\r\n]*)?\r\n/gc) {
                1 while $body =~ /\G[^\r\n]+\r\n/gc;    # trailer fields
                if ($body !~ /\G\r\n/gc) {
                    Test::More::fail("$name - invalid chunked data received (expected CRLF).");
                    return;
                }
                $left = $1 if $body =~ /\G(.+)/gcs;
                last;
            }
            if ($body =~ /\G[ \t]*([A-Fa-f0-9]+)[ \t]*(?:;[^\r\n]*)?\r\n/gc) {
                my ($size, $p) = (hex $1, pos $body);
                if (length($body) - $p < $size) {
                    Test::More::fail("$name - invalid chunked data received "
                                     . "(not enought octets for the data section)");
                    return;
                }
                $decoded .= substr $body, $p, $size;
                pos($body) = $p + $size;
                if ($body !~ /\G\r\n/gc) {
                    Test::More::fail("$name - invalid chunked data received (expected CRLF).");
                    return;
                }
            } elsif ($body =~ /\G(.+)/gcs) {
                Test::More::fail("$name - invalid chunked body received: $1");
                return;
            } else {
                Test::More::fail("$name - no last chunk found - $body");
                return;
            }
        }
        $res->content($decoded);
    } elsif (defined $len && $len =~ /^\d+$/) {
        my $body = $res->content // '';
        if (length $body < $len) {
            warn "WARNING: $name - response body truncated: $len expected, "
                 . "but got ", length $body, "\n" unless $head_req;
        } elsif (length $body > $len) {
            $left = substr $body, $len;
            $res->content(substr $body, 0, $len);
        }
    }
    return ($res, $raw_headers, $left);
}

# the same control flow as the real run_test_helper: every response of
# --- request eval [...] or --- pipelined_requests is checked in turn, and
# the error log is checked after each one but the last, then at the end
sub run_requests {
    my ($block, $rep) = @_;
    my $name = $block->name;
    my $reqs = get_requests($block);
    my $timeout = parse_time(scalar $block->timeout) // $Timeout;

    my ($res, $n, $need_array);
    my $req_idx = 0;
    for my $packets (@$reqs) {
        my ($raw, $head_req) = send_request($block, $packets, $timeout);
        if ($block->pipelined_requests) {
            $n = @{ $block->pipelined_requests };
            $need_array = 1;
        } else {
            $need_array = @$reqs > 1;
        }
        while (1) {
            $raw //= '';
            my ($raw_headers, $left);
            ($res, $raw_headers, $left) = parse_response($name, $raw, $head_req)
                unless defined $block->ignore_response;
            if (!$n) {
                if (defined $left && length $left) {
                    (my $l = $left) =~ s/([\0-\037\200-\377])/sprintf('\x{%02x}', ord $1)/eg;
                    warn "WARNING: $name - unexpected extra bytes after last chunk in "
                         . "response: \"$l\"\n";
                }
            } else {
                $raw = $left;
                $n--;
            }
            if (!defined $block->ignore_response) {
                check_response($block, $res, $raw_headers, $req_idx, $rep, $need_array);
            }
            if ($n || $req_idx < @$reqs - 1) {
                sleep $block->wait if $block->wait;
                check_error_log($block, $rep);
            }
            $req_idx++;
            last unless $n;
        }
    }
    sleep $block->wait if $block->wait;
    check_error_log($block, $rep);
}

# ---- checks -------------------------------------------------------------------

sub indexed {
    my ($name, $val, $idx, $need_array) = @_;
    if (ref $val eq 'ARRAY') {
        return $val->[$idx] if $need_array || $idx == 0;
    } elsif (!$need_array) {
        return $val;
    }
    bail_out("$name - You asked for many requests, the expected results "
             . "should be arrays as well.");
}

sub parse_headers {
    my %h;
    for (split /\n/, shift // '') {
        s/^\s+|\s+$//g;
        if (s/^!\s*//) {
            $h{$_} = undef;
        } else {
            my ($k, $v) = split /\s*:\s*/, $_, 2;
            $h{$k} = $v;
        }
    }
    return \%h;
}

sub trim_summary {
    my $s = shift // return '';
    $s =~ s/^\s+|\s+$//g;
    $s =~ s/\n/ /g;
    $s =~ s/\s{2,}/ /g;
    return $s;
}

sub check_response {
    my ($block, $res, $raw_headers, $idx, $rep, $need_array) = @_;
    my $name = $block->name;
    my $code = ($res && $res->code) || '';
    $raw_headers //= '';

    if (defined $block->error_code_like) {
        my $pat = indexed($name, scalar $block->error_code_like, $idx, $need_array);
        Test::More::like($code, qr/$pat/sm, "$name - status code ok");
    } elsif (defined $block->error_code) {
        Test::More::is($code, indexed($name, scalar $block->error_code, $idx, $need_array),
                       "$name - status code ok");
    } else {
        Test::More::is($code, 200, "$name - status code ok");
    }

    if (defined $block->raw_response_headers_like) {
        my $pat = indexed($name, scalar $block->raw_response_headers_like, $idx, $need_array);
        Test::More::like($raw_headers, qr/$pat/s, "$name - raw resp headers like");
    }
    if (defined $block->raw_response_headers_unlike) {
        my $pat = indexed($name, scalar $block->raw_response_headers_unlike, $idx, $need_array);
        Test::More::unlike($raw_headers, qr/$pat/s, "$name - raw resp headers unlike");
    }

    if (defined $block->response_headers) {
        my $h = parse_headers(indexed($name, scalar $block->response_headers, $idx, $need_array));
        for my $key (sort keys %$h) {
            my $val = $h->{$key};
            if (!defined $val) {
                Test::More::unlike($raw_headers, qr/^\s*\Q$key\E\s*:/ms,
                                   "$name - header $key not present in the raw headers");
                next;
            }
            $val =~ s/\$ServerPort\b/$ServerPort/g;
            $val =~ s/\$ServerPortForClient\b/$ServerPortForClient/g;
            my $got = $res ? $res->header($key) : undef;
            Test::More::is($got // '', $val, "$name - header $key ok");
        }
    } elsif (defined $block->response_headers_like) {
        my $h = parse_headers(indexed($name, scalar $block->response_headers_like, $idx, $need_array));
        for my $key (sort keys %$h) {
            my $got = $res ? $res->header($key) : undef;
            Test::More::like($got // '', qr/^$h->{$key}$/, "$name - header $key like ok");
        }
    }

    my $content = $res ? $res->content : undef;
    if (defined $content) {
        $content =~ s/^TE: deflate,gzip;q=0\.3\r\n//gms;
        $content =~ s/^Connection: TE, close\r\n//gms;
    }

    if (defined $block->response_body) {
        my $expected = indexed($name, scalar $block->response_body, $idx, $need_array);
        if (defined $expected && !ref $expected) {
            $expected =~ s/\$ServerPort\b/$ServerPort/g;
            $expected =~ s/\$ServerPortForClient\b/$ServerPortForClient/g;
            $expected = expand_env($expected, $name);
        }
        my $what = "(repeated req $rep, req $idx)";
        if (ref $expected) {
            Test::More::like($content, $expected, "$name - response_body - like $what");
        } else {
            is_str($content, $expected, "$name - response_body - response is expected $what");
        }
    } elsif (defined $block->response_body_like || defined $block->response_body_unlike) {
        my $type = defined $block->response_body_like ? 'like' : 'unlike';
        my $pat = indexed($name, $type eq 'like' ? $block->response_body_like
                                                 : $block->response_body_unlike,
                          $idx, $need_array);
        $pat =~ s/\$ServerPort\b/$ServerPort/g;
        $pat =~ s/\$ServerPortForClient\b/$ServerPortForClient/g;
        my $desc = "$name - response_body_$type - response is expected ("
                   . trim_summary($content) . ")";
        if ($type eq 'like') {
            Test::More::like($content, qr/$pat/s, $desc);
        } else {
            Test::More::unlike($content, qr/$pat/s, $desc);
        }
    }

    $_->($block, $res ? $res->content : undef, $idx, $rep, 0) for @ResponseBodyChecks;
}

sub fmt_str {
    my $s = shift;
    chomp $s;
    $s =~ s/"/\\"/g;
    $s =~ s/\r/\\r/g;
    $s =~ s/\n/\\n/g;
    return $s;
}

# --- error_log / --- no_error_log: a string (one literal substring a line),
# or (with eval) a qr// or an array ref of strings and qr//s
sub patterns {
    my $pats = shift;
    if (!ref $pats) {
        chomp $pats;
        return [split /\n+/, $pats];
    }
    return ref $pats eq 'Regexp' ? [$pats] : [@$pats];
}

sub line_matches {
    my ($line, $pat) = @_;
    return (ref $pat && $line =~ /$pat/) || $line =~ /\Q$pat\E/;
}

sub check_error_log {
    my ($block, $rep) = @_;
    my $name = $block->name;
    my $lines = error_log_data();
    my %warn_on = map { $_ => 1 } qw(alert crit emerg);

    if (defined $block->error_log) {
        my $pats = patterns(scalar $block->error_log);
        for my $lvl (keys %warn_on) {
            delete $warn_on{$lvl} if grep { "$_" =~ /\Q[$lvl\E/ } grep { defined } @$pats;
        }
        for my $line (@$lines) {
            for my $pat (@$pats) {
                next unless defined $pat && line_matches($line, $pat);
                Test::More::pass("$name - pattern \"$pat\" matches a line in error.log (req $rep)");
                undef $pat;
            }
        }
        for my $pat (grep { defined } @$pats) {
            Test::More::fail("$name - pattern \"$pat\" should match a line in error.log (req $rep)");
        }
    }

    if (defined $block->no_error_log) {
        my $pats = patterns(scalar $block->no_error_log);
        for my $lvl (keys %warn_on) {
            delete $warn_on{$lvl} if grep { "$_" =~ /\Q[$lvl\E/ } grep { defined } @$pats;
        }
        my %found;
        for my $i (0 .. $#$lines) {
            for my $pat (grep { defined } @$pats) {
                next unless line_matches($lines->[$i], $pat);
                $found{$pat} = 1;
                my @more = @$lines[$i + 1 .. min($i + 9, $#$lines - 1)];
                Test::More::fail("$name - pattern \"" . fmt_str($pat) . "\" should not match "
                                 . "any line in error.log but matches line \""
                                 . fmt_str($lines->[$i]) . "\" (req $rep)\n" . join '', @more);
            }
        }
        for my $pat (grep { defined && !$found{$_} } @$pats) {
            Test::More::pass("$name - pattern \"" . fmt_str($pat)
                             . "\" does not match a line in error.log (req $rep)");
        }
    }

    for my $line (@$lines) {
        for my $lvl (keys %warn_on) {
            warn "WARNING: $name - " . fmt_str($line) . "\n" if $line =~ /\[$lvl\]/;
        }
        if ($line =~ /\bAssertion .*?failed\b/) {
            chomp(my $l = $line);
            Test::More::fail("$name - $l\n");
        }
    }
}

1;
