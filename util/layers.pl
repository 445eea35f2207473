#!/usr/bin/env perl
# util/layers.pl: the layering check of "make test".
#
# The source tree is layered (docs/DESIGN.md):
#
#   5  ngx_http_crm_module.c        directives, module hooks
#   4  src/*.c, src/*.h             the pipeline and its tables
#   3  src/handlers/ src/stages/ src/jobs/
#   2  src/http/                    requests: body, router, envelope, exec
#   1  src/io/                      event-loop clients: PostgreSQL, Redis
#   0  src/model/                   pure code, no I/O
#
# It fails (exit 1, saying why) when
#   - a file includes a project header of a higher layer;
#   - a job includes a header of src/http/ (jobs know no HTTP request);
#   - the includes between project files form a cycle;
#   - with object files (-o DIR, the nginx build directory): the calls
#     between the module's files form a cycle (from nm: the functions a
#     file defines and those it calls).
#
#   util/layers.pl [-o build/nginx] [ROOT]

use strict;
use warnings;

use File::Find;

my $objs;
if (@ARGV >= 2 && $ARGV[0] eq '-o') {
    shift @ARGV;
    $objs = shift @ARGV;
}

my $root = shift @ARGV // '.';
chdir $root or die "layers: cannot chdir to $root: $!\n";

my @files = ('ngx_http_crm_module.c');
find({ no_chdir => 1, wanted => sub {
    push @files, $File::Find::name if /\.[ch]\z/;
} }, 'src');
@files = sort @files;

sub layer {
    my ($f) = @_;
    return 5 if $f eq 'ngx_http_crm_module.c';
    return 0 if $f =~ m{^src/model/};
    return 1 if $f =~ m{^src/io/};
    return 2 if $f =~ m{^src/http/};
    return 3 if $f =~ m{^src/(?:handlers|stages|jobs)/};
    return 4 if $f =~ m{^src/[^/]+\z};
    return undef;
}

my (@errors, %inc);

for my $f (@files) {
    my $l = layer($f);
    if (!defined $l) {
        push @errors, "$f: in no layer (put it in model, io, http, stages,"
                      . " handlers or jobs)";
        next;
    }

    open my $fh, '<', $f or die "layers: $f: $!\n";
    while (my $line = <$fh>) {
        next unless $line =~ /^\s*#\s*include\s+"([^"]+)"/;
        my $h = "src/$1";

        if (!-f $h) {
            push @errors, "$f: includes \"$1\", which is not src/$1";
            next;
        }

        my $hl = layer($h);
        push @{ $inc{$f} }, $h;

        if ($hl > $l) {
            push @errors, "$f (layer $l) includes $h (layer $hl): includes"
                          . " point down only";
        }

        if ($f =~ m{^src/jobs/} && $h =~ m{^src/http/}) {
            push @errors, "$f: a job includes $h: jobs know no HTTP request";
        }
    }
    close $fh;
}

push @errors, cycles('include', \%inc);

if (defined $objs) {
    push @errors, cycles('call', calls($objs));
}

if (@errors) {
    print STDERR "layers: $_\n" for @errors;
    print STDERR "layers: FAILED (" . scalar(@errors) . " problems)\n";
    exit 1;
}

printf "layers: ok (%d files%s)\n", scalar(@files),
       defined $objs ? ', includes and calls' : ', includes';
exit 0;


# the cycles of a graph { node => [nodes] }, as messages
sub cycles {
    my ($what, $g) = @_;
    my (%state, @stack, @found);

    my $visit;
    $visit = sub {
        my ($n) = @_;
        $state{$n} = 1;
        push @stack, $n;
        for my $m (@{ $g->{$n} || [] }) {
            next if $m eq $n;
            if (($state{$m} // 0) == 1) {
                my @c = @stack;
                shift @c while $c[0] ne $m;
                push @found, "$what cycle: " . join(' -> ', @c, $m);
            } elsif (!$state{$m}) {
                $visit->($m);
            }
        }
        pop @stack;
        $state{$n} = 2;
    };

    for my $n (sort keys %$g) {
        $visit->($n) unless $state{$n};
    }

    return @found;
}


# file -> files it calls, from the symbols of the nginx build's objects
sub calls {
    my ($dir) = @_;
    my (%defines, %uses);

    my @o;
    find({ no_chdir => 1, wanted => sub {
        push @o, $File::Find::name
            if m{/addon/.*\.o\z} && /crm/;
    } }, $dir);

    if (!@o) {
        print "layers: no object files of the module under $dir:"
              . " calls not checked (make builds them)\n";
        return {};
    }

    for my $o (@o) {
        (my $name = $o) =~ s{.*/addon/}{};
        $name =~ s{\.o\z}{};
        for my $line (`nm $o`) {
            if ($line =~ /^\S+\s+T\s+(crm_\w+)$/) {
                $defines{$1} = $name;
            } elsif ($line =~ /^\s+U\s+(crm_\w+)$/) {
                push @{ $uses{$name} }, $1;
            }
        }
    }

    my %g;
    for my $f (keys %uses) {
        my %to;
        for my $sym (@{ $uses{$f} }) {
            my $d = $defines{$sym} or next;
            $to{$d} = 1 if $d ne $f;
        }
        $g{$f} = [sort keys %to];
    }

    return \%g;
}
