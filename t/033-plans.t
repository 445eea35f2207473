# How often PostgreSQL plans the module's statements
# (pg_stat_statements, which the test stack loads: util/stack.sh).  The
# ordinary pool's sessions run with plan_cache_mode force_generic_plan
# (src/io/crm_pg_conf.c): a list's page is planned once on a connection,
# whatever its boundary and workspace, where PostgreSQL's own choice
# (auto) plans at least the first five executions of a statement and,
# when their plans look cheaper than the generic one, every execution
# after them.  The heavy pool (q=, /search, count=exact) keeps
# PostgreSQL's choice: those plans depend on the text searched for.  A
# conninfo's own "options" may set plan_cache_mode otherwise.  A pool of
# one connection and no jobs, so that the counts are one session's.

use strict;
use warnings;

use Test::Nginx::Socket 'no_plan';
use Test::More;
use CRM::Test qw(http_request);

my @A = ("X-API-Key: $CRM::Test::KEY_A");

CRM::Test::reset();
CRM::Test::sql("INSERT INTO contacts (workspace_id, email, first_name,"
               . " created_at) SELECT '$CRM::Test::WS_A', 'plan' || n"
               . " || '\@example.com', 'Planned', timestamptz"
               . " '2026-01-01 00:00:00+00' - n * interval '1 minute'"
               . " FROM generate_series(1, 40) AS n");

# one connection, no jobs; the block's own conninfo options, if any
sub pool_config {
    my ($options) = @_;
    return "    crm_postgres \"\$TEST_NGINX_PG_DSN"
        . ($options ? " options='$options'" : '') . "\";\n"
        . "    crm_jobs off;\n"
        . "    crm_postgres_pool_size 1;\n"
        . "    crm_postgres_heavy pool_size=1;\n"
        . "    crm_api_key $CRM::Test::KEY_A $CRM::Test::WS_A;\n";
}

# plans and calls of the statements whose text is like the pattern
sub counts {
    my ($like) = @_;
    my $r = CRM::Test::sql("SELECT coalesce(sum(plans), 0) || ' ' ||"
                           . " coalesce(sum(calls), 0)"
                           . " FROM pg_stat_statements"
                           . " WHERE query LIKE '$like' AND dbid ="
                           . " (SELECT oid FROM pg_database"
                           . "   WHERE datname = current_database())");
    return split / /, $r;
}

# "n" pages of a list, each at another boundary; how many of its
# statements were planned and run meanwhile
sub pages {
    my ($name, $n, $query, $like) = @_;
    my ($p0, $c0) = counts($like);

    for my $i (1 .. $n) {
        my $before = sprintf '2025-12-31T%02d:%02d:00Z', 23, 59 - $i * 2;
        my ($s) = http_request('GET', "/api/v1/contacts?$query"
                               . "&created_before=$before", \@A);
        is($s, 200, "$name - page $i");
    }

    my ($p1, $c1) = counts($like);
    return ($p1 - $p0, $c1 - $c0);
}

Test::Nginx::Socket::add_response_body_check(sub {
    my ($block, $body, $req_idx, $repeated, $dry_run) = @_;
    my $name = $block->name;

    return if $dry_run;

    if ($name =~ /planned once/) {
        my ($plans, $calls) = pages($name, 12, 'limit=5&fields=id,phone',
                                    'SELECT id, phone, %FROM contacts%');
        is($calls, 12, "$name - the 12 pages ran one statement");
        ok($plans <= 1, "$name - planned once ($plans plans)");

    } elsif ($name =~ /search keeps/) {
        my ($plans, $calls) = pages($name, 12,
                                    'limit=5&fields=id,title&q=planned',
                                    '%SELECT id, title, %FROM m%');
        ok($calls >= 12, "$name - the 12 pages ran ($calls calls)");
        ok($plans >= 5, "$name - planned for their text ($plans plans)");

    } elsif ($name =~ /options/) {
        my ($plans, $calls) = pages($name, 8, 'limit=5&fields=id,source',
                                    'SELECT id, source, %FROM contacts%');
        is($calls, 8, "$name - the 8 pages ran one statement");
        is($plans, 8, "$name - planned at every execution");
    }
});

run_tests();

__DATA__

=== TEST 1: a list's page is planned once on a connection, at any boundary
--- http_config eval
main::pool_config()
--- request
GET /api/v1/health
--- error_code: 200
--- no_error_log
[alert]
[emerg]

=== TEST 2: a search keeps PostgreSQL's choice of plans (the heavy pool)
--- http_config eval
main::pool_config()
--- request
GET /api/v1/health
--- error_code: 200
--- no_error_log
[alert]
[emerg]

=== TEST 3: a conninfo's options may set plan_cache_mode
--- http_config eval
main::pool_config('-c plan_cache_mode=force_custom_plan')
--- request
GET /api/v1/health
--- error_code: 200
--- no_error_log
[alert]
[emerg]
