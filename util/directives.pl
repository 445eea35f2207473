#!/usr/bin/perl
#
# util/directives.pl: the README documents every directive of the
# module's commands table (ngx_http_crm_module.c), and nothing else, in
# nginx's own form: a heading, **Syntax:** naming the directive,
# **Default:**, **Context:** matching the table's NGX_HTTP_*_CONF flags.
# Run by "make test" (and "make directives"), so that the two cannot
# drift apart.
#
#   util/directives.pl [ROOT]

use strict;
use warnings;

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

# a section: a line "crm_x", a line of dashes, then text to the next one
my %doc;
for my $i (0 .. $#lines - 1) {
    my ($name) = $lines[$i] =~ /^(crm_[a-z_]+)\s*$/;
    next unless defined $name && $lines[$i + 1] =~ /^-+\s*$/;
    my $text = '';
    for my $j ($i + 2 .. $#lines) {
        last if $j + 1 <= $#lines && $lines[$j] =~ /^\S+\s*$/
                && $lines[$j + 1] =~ /^[-=]+\s*$/;
        $text .= $lines[$j];
    }
    push @errors, "README: $name is documented twice" if exists $doc{$name};
    $doc{$name} = $text;
}

for my $name (sort keys %cmd) {
    my $text = $doc{$name};

    if (!defined $text) {
        push @errors, "README: the directive $name is not documented";
        next;
    }

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
}

for my $name (sort keys %doc) {
    push @errors, "README: $name is documented but is no directive"
        unless exists $cmd{$name};
}

if (@errors) {
    print STDERR "directives: $_\n" for @errors;
    print STDERR "directives: FAILED (" . scalar(@errors) . " problems)\n";
    exit 1;
}

printf "directives: ok (%d directives documented)\n", scalar(keys %cmd);
