#!/usr/bin/perl
#
# util/directives.pl: the README documents every directive of the
# module's commands table (ngx_http_crm_module.c), and nothing else, in
# nginx's own form: a heading, **Syntax:** naming the directive,
# **Default:**, **Context:** matching the table's NGX_HTTP_*_CONF flags,
# a description and **Example:**, an indented configuration block that
# uses the directive.  Run by "make test" (and "make directives"), so
# that the two cannot drift apart.
#
# With --nginx and --module, every example is also proven to be valid
# configuration: wrapped in the context it needs, it must pass
# "nginx -t" with the module loaded, without an error or a warning (one
# nginx -t per example, in a directory of its own).  The wrapper is the
# innermost context that the example does not open itself: main when it
# opens http{}, http when it opens server{}, server when it opens
# location{}, else the innermost context of its **Context:** (location,
# server, http).  Nothing is connected to (the module parses its
# addresses and conninfo without I/O); nginx -t binds the listening
# sockets, though, so an example listens on 127.0.0.1:port only, and the
# check puts a free port in its place.  A wrapping http{} has a
# crm_postgres unless the example has one (crm_api needs it).  A failure
# names the directive and the README line nginx complains about.
#
#   util/directives.pl [--nginx /usr/sbin/nginx --module build/x.so] [ROOT]

use strict;
use warnings;

use File::Temp ();
use IO::Socket::INET ();
use Getopt::Long ();
use POSIX ();

my ($nginx, $module);

Getopt::Long::GetOptions('nginx=s' => \$nginx, 'module=s' => \$module)
    or die "usage: util/directives.pl [--nginx BIN --module SO] [ROOT]\n";

die "directives: --nginx and --module go together\n"
    if defined $nginx != defined $module;

my $root = shift // '.';
my @errors;

open my $fh, '<', "$root/ngx_http_crm_module.c"
    or die "directives: $root/ngx_http_crm_module.c: $!\n";
my $c = do { local $/; <$fh> };
close $fh;

my ($table) = $c =~ /ngx_http_crm_commands\[\]\s*=\s*\{(.*?)ngx_null_command/s
    or die "directives: no commands table in ngx_http_crm_module.c\n";

# name => [contexts]
my %cmd;
while ($table =~ /\{\s*ngx_string\("([a-z_]+)"\),\s*([^,]+),/g) {
    my ($name, $flags) = ($1, $2);
    my @ctx;
    push @ctx, 'http' if $flags =~ /NGX_HTTP_MAIN_CONF/;
    push @ctx, 'server' if $flags =~ /NGX_HTTP_SRV_CONF/;
    push @ctx, 'location' if $flags =~ /NGX_HTTP_LOC_CONF/;
    $cmd{$name} = \@ctx;
}

open $fh, '<', "$root/README" or die "directives: $root/README: $!\n";
my @lines = <$fh>;
close $fh;

# a section: a line "crm_x", a line of dashes, then text to the next one;
# name => { text, first (its first line's index), last }
my %doc;
for my $i (0 .. $#lines - 1) {
    my ($name) = $lines[$i] =~ /^(crm_[a-z_]+)\s*$/;
    next unless defined $name && $lines[$i + 1] =~ /^-+\s*$/;
    my $text = '';
    my $j;
    for ($j = $i + 2; $j <= $#lines; $j++) {
        last if $j + 1 <= $#lines && $lines[$j] =~ /^\S+\s*$/
                && $lines[$j + 1] =~ /^[-=]+\s*$/;
        $text .= $lines[$j];
    }
    push @errors, "README: $name is documented twice" if exists $doc{$name};
    $doc{$name} = { text => $text, first => $i + 2, last => $j - 1 };
}

# name => { lines => [the example, unindented], line => README line of
# its first line (1-based) }
my %example;

for my $name (sort keys %cmd) {
    my $doc = $doc{$name};

    if (!defined $doc) {
        push @errors, "README: the directive $name is not documented";
        next;
    }

    my $text = $doc->{text};

    push @errors, "README: $name: no **Syntax:** naming it"
        unless $text =~ /\*\*Syntax:\*\*\s*`\Q$name\E[\s;`]/;
    push @errors, "README: $name: no **Default:**"
        unless $text =~ /\*\*Default:\*\*/;

    if ($text =~ /\*\*Context:\*\*\s*(.*)/) {
        my %got = map { $_ => 1 } $1 =~ /\b(http|server|location)\b/g;
        my %want = map { $_ => 1 } @{ $cmd{$name} };
        my $g = join ', ', sort keys %got;
        my $w = join ', ', sort keys %want;
        push @errors, "README: $name: Context says \"$g\", the table \"$w\""
            if $g ne $w;

    } else {
        push @errors, "README: $name: no **Context:**";
    }

    my $ex = section_example($name, $doc);
    next unless defined $ex;

    if (strip_comments(join "\n", @{ $ex->{lines} })
        !~ /(?:^|[;{}])\s*\Q$name\E(?=[\s;])/)
    {
        push @errors, "README: $name: its example does not use $name";
        next;
    }

    # nginx -t binds what it listens on: loopback only, on a free port
    for my $l (@{ $ex->{lines} }) {
        next unless $l =~ /^\s*listen\s/;
        next if $l =~ /^\s*listen\s+127\.0\.0\.1:\d+[\s;]/;
        push @errors, "README: $name: its example listens elsewhere than "
                      . "on 127.0.0.1:port: \"$l\"";
    }

    $example{$name} = $ex;
}

for my $name (sort keys %doc) {
    push @errors, "README: $name is documented but is no directive"
        unless exists $cmd{$name};
}

if (defined $nginx) {
    check_examples();
}

if (@errors) {
    print STDERR "directives: $_\n" for @errors;
    print STDERR "directives: FAILED (" . scalar(@errors) . " problems)\n";
    exit 1;
}

printf "directives: ok (%d directives documented%s)\n", scalar(keys %cmd),
    defined $nginx
        ? sprintf(", %d examples pass nginx -t", scalar(keys %example))
        : '';


# the block after the section's one "**Example:**" line: the lines
# indented by four spaces (blank lines within), unindented
sub section_example {
    my ($name, $doc) = @_;

    my @at = grep { $lines[$_] =~ /^\*\*Example:\*\*\s*$/ }
             $doc->{first} .. $doc->{last};

    if (@at != 1) {
        push @errors, @at ? "README: $name: more than one **Example:**"
                          : "README: $name: no **Example:**";
        return undef;
    }

    my $i = $at[0] + 1;
    $i++ while $i <= $doc->{last} && $lines[$i] =~ /^\s*$/;

    my $first = $i;
    my @ex;
    while ($i <= $doc->{last}
           && ($lines[$i] =~ /^    / || $lines[$i] =~ /^\s*$/))
    {
        (my $l = $lines[$i]) =~ s/^    //;
        $l =~ s/\s+$//;
        push @ex, $l;
        $i++;
    }
    pop @ex while @ex && $ex[-1] eq '';

    if (!@ex) {
        push @errors, "README: $name: **Example:** is not followed by a "
                      . "block indented by four spaces";
        return undef;
    }

    return { lines => \@ex, line => $first + 1 };
}


sub strip_comments {
    my ($s) = @_;
    $s =~ s{("(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')|#[^\n]*}
           {defined $1 ? $1 : ''}ge;
    return $s;
}


# the contexts the example opens at its top level: http, server, location
sub opened {
    my ($s) = @_;
    my %open;
    my $depth = 0;
    my $stmt = '';

    $s = strip_comments($s);
    $s =~ s/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'/""/g;

    for my $ch (split //, $s) {
        if ($ch eq '{') {
            $open{$1} = 1 if $depth == 0 && $stmt =~ /^\s*(\w+)/;
            $depth++;
            $stmt = '';
        } elsif ($ch eq '}') {
            $depth--;
            $stmt = '';
        } elsif ($ch eq ';') {
            $stmt = '';
        } else {
            $stmt .= $ch;
        }
    }

    return \%open;
}


# main, http, server or location: where the example goes
sub wrapper_level {
    my ($name) = @_;
    my $open = opened(join "\n", @{ $example{$name}{lines} });

    return 'main' if $open->{http};
    return 'http' if $open->{server};
    return 'server' if $open->{location};

    for my $ctx (qw(location server http)) {
        return $ctx if grep { $_ eq $ctx } @{ $cmd{$name} };
    }

    return 'http';
}


# every example in a configuration of its own, through nginx -t
sub check_examples {
    die "directives: $nginx is not executable\n" unless -x $nginx;
    die "directives: $module: no such file (make builds it)\n"
        unless -f $module;

    my $mod = $module =~ m{^/} ? $module : do {
        require Cwd;
        Cwd::abs_path($module);
    };

    my $tmp = File::Temp::tempdir('crm-directives.XXXXXX', TMPDIR => 1,
                                  CLEANUP => 1);

    # nginx -t binds the listening sockets: a port no one listens on now
    # (the kernel's choice) instead of the examples' 8080
    my $sock = IO::Socket::INET->new(LocalAddr => '127.0.0.1',
                                     LocalPort => 0, Proto => 'tcp',
                                     Listen => 1)
        or die "directives: no free port on 127.0.0.1: $@\n";
    my $port = $sock->sockport;
    close $sock;

    for my $name (sort keys %example) {
        my $level = wrapper_level($name);
        my $dir = "$tmp/$name";

        mkdir $dir or die "directives: $dir: $!\n";
        mkdir "$dir/logs" or die "directives: $dir/logs: $!\n";

        my (@conf, $at);
        my $ex = $example{$name}{lines};
        my $put = sub {
            my ($indent) = @_;
            $at = @conf + 1;
            push @conf, map { $_ eq '' ? '' : "$indent$_" }
                        map { s/^(\s*listen\s+127\.0\.0\.1:)\d+/$1$port/r }
                        @$ex;
        };

        push @conf, "load_module $mod;",
                    'error_log stderr warn;',
                    "pid $dir/nginx.pid;",
                    "lock_file $dir/nginx.lock;",
                    'events {}';

        if ($level eq 'main') {
            $put->('');

        } else {
            push @conf, 'http {',
                        '    access_log off;',
                        map { "    ${_}_temp_path $dir/$_;" }
                            qw(client_body proxy fastcgi uwsgi scgi);

            # crm_api needs it; an example that has its own keeps it
            push @conf, '    crm_postgres "host=127.0.0.1 dbname=crm";'
                unless grep { /^\s*crm_postgres\s/ } @$ex;

            if ($level eq 'http') {
                $put->('    ');

            } else {
                push @conf, '    server {',
                            "        listen 127.0.0.1:$port;";

                if ($level eq 'server') {
                    $put->('        ');

                } else {
                    push @conf, '        location / {';
                    $put->('            ');
                    push @conf, '        }';
                }

                push @conf, '    }';
            }

            push @conf, '}';
        }

        open my $out, '>', "$dir/nginx.conf"
            or die "directives: $dir/nginx.conf: $!\n";
        print $out map { "$_\n" } @conf;
        close $out or die "directives: $dir/nginx.conf: $!\n";

        my ($rc, $log) = run($nginx, '-t', '-q', '-p', "$dir/",
                             '-c', "$dir/nginx.conf");

        next if $rc == 0 && $log !~ /\[(?:warn|error|crit|alert|emerg)\]/;

        # nginx's "in .../nginx.conf:N" as the README's line
        my $readme = $example{$name}{line};
        my $n = @$ex;
        my $where = $level eq 'main' ? 'the main context' : "$level {}";

        $log =~ s{ in \Q$dir\E/nginx\.conf:(\d+)}{
            $1 >= $at && $1 < $at + $n
                ? " in README:" . ($readme + $1 - $at)
                : " in line $1 of the wrapper"
        }ge;
        $log =~ s{^nginx: configuration file \S+ test failed\n?}{}mg;
        $log =~ s{^\d{4}/\d\d/\d\d \d\d:\d\d:\d\d (\[\w+\]) \d+#\d+: }{$1 }mg;
        $log =~ s/\s+$//;
        $log =~ s/^/    /mg;

        push @errors, "README: $name: its example (README:$readme, in "
                      . "$where) fails nginx -t:\n$log";
    }
}


sub run {
    my @argv = @_;

    my $pid = open(my $from, '-|');
    die "directives: fork: $!\n" unless defined $pid;

    if ($pid == 0) {
        # no die here: it would run the parent's END blocks
        open STDERR, '>&', \*STDOUT or POSIX::_exit(127);
        { exec @argv };
        print "directives: $argv[0]: $!\n";
        POSIX::_exit(127);
    }

    my $log = do { local $/; <$from> } // '';
    close $from;
    $log =~ s/\s+$//;

    return ($? >> 8 || $? & 127, $log);
}
