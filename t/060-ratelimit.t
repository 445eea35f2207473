# Rate limits per principal in shared memory: headers, 429, exactness
# across workers, reload, dry run, and the access-log variables.

use strict;
use warnings;

use Test::Nginx::Socket 'no_plan';
use Test::More;
use JSON::PP;
use CRM::Test qw(http_request concurrent sql);

master_on();
workers(2);

my %K = %CRM::Test::KEYS;
my ($A, $B) = ($CRM::Test::WS_A, $CRM::Test::WS_B);

CRM::Test::reset();
CRM::Test::stored_key($K{owner_a}, $A, '{*}');
CRM::Test::stored_key($K{owner_b}, $B, '{*}');
CRM::Test::stored_key($K{read_a}, $A, '{contacts:read}');
sql("UPDATE api_keys SET rate_limit_per_minute = 3"
    . " WHERE prefix = left('$K{read_a}', 16)");
CRM::Test::stored_key($K{keys_a}, $A, '{contacts:read,api-keys:write}');
sql("UPDATE api_keys SET rate_limit_per_minute = 50"
    . " WHERE prefix = left('$K{keys_a}', 16)");
# a key that may make keys, and expires
CRM::Test::stored_key('crmk_' . ('e7' x 20), $A,
                      '{contacts:read,analytics:read,api-keys:write}',
                      '2031-05-06T07:08:09.7Z');

my $root = $ENV{TEST_NGINX_SERVROOT} || 't/servroot';

# 400 more principals, for a zone too small to hold them all
sql("INSERT INTO api_keys (workspace_id, name, prefix, secret_hash, scopes)"
    . " SELECT '$A', 'many', left(k, 16), digest(k, 'sha256'), '{*}'"
    . " FROM (SELECT 'crmk_' || lpad(to_hex(i), 11, '0') || repeat('f', 29)"
    . " AS k"
    . " FROM generate_series(1, 400) AS i) AS keys");

sub many_key {
    return sprintf('crmk_%011x', $_[0]) . ('f' x 29);
}

sub statuses {
    my %n;
    $n{ $_->[0] }++ for @_;
    return join ' ', map { "$_=$n{$_}" } sort keys %n;
}

Test::Nginx::Socket::add_response_body_check(sub {
    my ($block, $body, $req_idx, $repeated, $dry_run) = @_;
    my $name = $block->name;
    my @ha = ("X-API-Key: $K{owner_a}");
    my @hb = ("X-API-Key: $K{owner_b}");

    if ($name =~ /exactly the limit passes/) {
        # the block's own request used 1 of 10
        my @r = concurrent(30, 'GET', '/api/v1/contacts', \@ha);
        is(statuses(@r), '200=9 429=21', "$name - 9 more of 30 pass");
        my ($b) = grep { $_->[0] == 429 } @r;
        like($b->[1], qr/^\{"error":\{"code":"RATE_LIMITED","status":429,/,
             "$name - RATE_LIMITED");
        like($b->[2], qr/\r\nRetry-After: [1-6](?:\r\n|$)/i,
             "$name - Retry-After within one interval");
        like($b->[2], qr/\r\nX-RateLimit-Remaining: 0(?:\r\n|$)/i,
             "$name - nothing remaining");

        my ($s) = http_request('GET', '/api/v1/contacts', \@hb);
        is($s, 200, "$name - another principal is not affected");

        ($s) = http_request('GET', '/api/v1/health', []);
        is($s, 200, "$name - health is not limited");

    } elsif ($name =~ /survive a reload/) {
        my @r = concurrent(12, 'GET', '/api/v1/contacts', \@ha);
        is(statuses(@r), '200=9 429=3', "$name - spent");

        open my $fh, '<', "$root/logs/nginx.pid" or die $!;
        my $master = <$fh>;
        chomp $master;
        kill 'HUP', $master;
        Time::HiRes::sleep(1);

        my ($s) = http_request('GET', '/api/v1/contacts', \@ha);
        is($s, 429, "$name - still limited after the reload");

    } elsif ($name =~ /dry run/) {
        my @r = concurrent(15, 'GET', '/api/v1/contacts', \@ha);
        is(statuses(@r), '200=15', "$name - nothing refused");
        open my $fh, '<', "$root/logs/error.log" or die $!;
        my $log = do { local $/; <$fh> };
        like($log, qr/rate limit exceeded for \S+ \(dry run\)/,
             "$name - what would have been refused is logged");

    } elsif ($name =~ /least recently seen/) {
        my $first = many_key(1);
        my @h1 = ("X-API-Key: $first");
        my ($s1) = http_request('GET', '/api/v1/contacts', \@h1);
        my ($s2) = http_request('GET', '/api/v1/contacts', \@h1);
        my ($s3) = http_request('GET', '/api/v1/contacts', \@h1);
        is("$s1 $s2 $s3", '200 200 429', "$name - the first key is spent");

        my %n;
        for my $i (2 .. 400) {
            my ($s) = http_request('GET', '/api/v1/contacts',
                                   ["X-API-Key: " . many_key($i)]);
            $n{$s}++;
        }
        is(join(' ', map { "$_=$n{$_}" } sort keys %n), '200=399',
           "$name - 399 more principals are served");

        my ($s4) = http_request('GET', '/api/v1/contacts', \@h1);
        is($s4, 200, "$name - the first was forgotten to make room");

        open my $fh, '<', "$root/logs/error.log" or die $!;
        my $log = do { local $/; <$fh> };
        unlike($log, qr/out of memory|\[alert\]/,
               "$name - no allocation failure");

    } elsif ($name =~ /sessions of one user/) {
        sql("INSERT INTO users (workspace_id, email, role, password_hash)"
            . " VALUES ('$A', 'limited\@a.test', 'member',"
            . " db_password_hash('limited password'))");
        my @t;
        for (1 .. 2) {
            my ($s, $b) = http_request('POST', '/api/v1/auth/login',
                ['Content-Type: application/json'],
                '{"email":"limited@a.test","password":"limited password"}');
            is($s, 200, "$name - logged in");
            push @t, decode_json($b)->{data}{token};
        }
        my @s;
        for my $t ($t[0], $t[0], $t[1], $t[1], $t[1], $t[0]) {
            my ($st) = http_request('GET', '/api/v1/contacts',
                                    ["Authorization: Bearer $t"]);
            push @s, $st;
        }
        is("@s", '200 200 200 200 429 429',
           "$name - 4 a minute for both sessions together");

    } elsif ($name =~ /access log/) {
        Time::HiRes::sleep(0.3);
        open my $fh, '<', "$root/logs/crm.log" or die "no crm.log: $!";
        my @lines = <$fh>;
        like($lines[-1], qr/^$A key:[0-9a-f-]{36} 9 200$/,
             "$name - workspace, principal, remaining");
    }
});

no_shuffle();
run_tests();

__DATA__

=== TEST 1: every authenticated response carries the budget
--- http_config
    crm_postgres "$TEST_NGINX_PG_DSN";
    crm_rate_limit zone=crm_limit:1m per_minute=10 per_hour=1000;
--- request
GET /api/v1/contacts
--- more_headers eval
"X-API-Key: $CRM::Test::KEYS{owner_a}"
--- error_code: 200
--- response_headers
X-RateLimit-Limit: 10
X-RateLimit-Remaining: 9
X-RateLimit-Reset: 6

=== TEST 2: exactly the limit passes across workers, then 429
--- http_config
    crm_postgres "$TEST_NGINX_PG_DSN";
    crm_rate_limit zone=crm_limit:1m per_minute=10 per_hour=1000;
--- request
GET /api/v1/contacts
--- more_headers eval
"X-API-Key: $CRM::Test::KEYS{owner_a}"
--- error_code: 200
--- no_error_log
[alert]

=== TEST 3: the window closest to exhaustion is the one shown
--- http_config
    crm_postgres "$TEST_NGINX_PG_DSN";
    crm_rate_limit zone=crm_limit:1m per_minute=100 per_hour=20;
--- request
GET /api/v1/contacts
--- more_headers eval
"X-API-Key: $CRM::Test::KEYS{owner_a}"
--- error_code: 200
--- response_headers
X-RateLimit-Limit: 20
X-RateLimit-Remaining: 19
X-RateLimit-Reset: 180

=== TEST 4: counters survive a reload
--- http_config
    crm_postgres "$TEST_NGINX_PG_DSN";
    crm_rate_limit zone=crm_limit:1m per_minute=10;
--- request
GET /api/v1/contacts
--- more_headers eval
"X-API-Key: $CRM::Test::KEYS{owner_a}"
--- error_code: 200

=== TEST 5: a dry run logs and refuses nothing
--- http_config
    crm_postgres "$TEST_NGINX_PG_DSN";
    crm_rate_limit zone=crm_limit:1m per_minute=10 dry_run;
--- request
GET /api/v1/contacts
--- more_headers eval
"X-API-Key: $CRM::Test::KEYS{owner_a}"
--- error_code: 200

=== TEST 6: a key's own limit replaces the configured one
--- http_config
    crm_postgres "$TEST_NGINX_PG_DSN";
    crm_rate_limit zone=crm_limit:1m per_minute=10;
--- request
GET /api/v1/contacts
--- more_headers eval
"X-API-Key: $CRM::Test::KEYS{read_a}"
--- error_code: 200
--- response_headers
X-RateLimit-Limit: 3
X-RateLimit-Remaining: 2
X-RateLimit-Reset: 20

=== TEST 7: the access log names the workspace, principal and budget
--- http_config
    crm_postgres "$TEST_NGINX_PG_DSN";
    crm_rate_limit zone=crm_limit:1m per_minute=10;
    log_format crm '$crm_workspace $crm_principal $crm_ratelimit_remaining $status';
    access_log logs/crm.log crm;
--- request
GET /api/v1/contacts
--- more_headers eval
"X-API-Key: $CRM::Test::KEYS{owner_a}"
--- error_code: 200

=== TEST 8: a full zone forgets the least recently seen principals
--- http_config
    crm_postgres "$TEST_NGINX_PG_DSN";
    crm_auth_cache zone=crm_auth:4m ttl=30s;
    crm_rate_limit zone=crm_limit:32k per_minute=2;
--- request
GET /api/v1/health
--- error_code: 200

=== TEST 9: large limits stay exact
--- http_config
    crm_postgres "$TEST_NGINX_PG_DSN";
    crm_rate_limit zone=crm_limit:1m per_minute=6000000 per_hour=360000000;
--- request
GET /api/v1/contacts
--- more_headers eval
"X-API-Key: $CRM::Test::KEYS{owner_a}"
--- error_code: 200
--- response_headers
X-RateLimit-Limit: 6000000
X-RateLimit-Remaining: 5999999

=== TEST 10: the sessions of one user share its budget: a new login is not a new one
--- http_config
    crm_postgres "$TEST_NGINX_PG_DSN";
    crm_rate_limit zone=crm_limit:1m per_minute=4;
--- request
GET /api/v1/health
--- error_code: 200

=== TEST 11: a key cannot give a key a rate limit above its own
--- http_config
    crm_postgres "$TEST_NGINX_PG_DSN";
    crm_rate_limit zone=crm_limit:1m per_minute=100 per_hour=1000;
--- request
POST /api/v1/api-keys
{"name":"child","scopes":["contacts:read"],"rateLimitPerMinute":51}
--- more_headers eval
"X-API-Key: $CRM::Test::KEYS{keys_a}\nContent-Type: application/json"
--- error_code: 403
--- response_body_like: ^\{"error":\{"code":"FORBIDDEN","status":403,"message":"a key cannot be given a rate limit above its creator's","details":\{"field":"rateLimitPerMinute","maximum":50\}

=== TEST 12: ... nor above the server's, where the maker has none of its own
--- http_config
    crm_postgres "$TEST_NGINX_PG_DSN";
    crm_rate_limit zone=crm_limit:1m per_minute=100 per_hour=1000;
--- request
POST /api/v1/api-keys
{"name":"child","scopes":["contacts:read"],"rateLimitPerMinute":50,"rateLimitPerHour":1001}
--- more_headers eval
"X-API-Key: $CRM::Test::KEYS{keys_a}\nContent-Type: application/json"
--- error_code: 403
--- response_body_like: "details":\{"field":"rateLimitPerHour","maximum":1000\}

=== TEST 13: a key made without limits by a key that has one inherits it
--- http_config
    crm_postgres "$TEST_NGINX_PG_DSN";
    crm_rate_limit zone=crm_limit:1m per_minute=100 per_hour=1000;
--- request
POST /api/v1/api-keys
{"name":"child","scopes":["contacts:read"],"rateLimitPerMinute":null}
--- more_headers eval
"X-API-Key: $CRM::Test::KEYS{keys_a}\nContent-Type: application/json"
--- error_code: 201
--- response_body_like: "rateLimitPerMinute":50,"rateLimitPerHour":null,

=== TEST 14: a limit at the maker's is given
--- http_config
    crm_postgres "$TEST_NGINX_PG_DSN";
    crm_rate_limit zone=crm_limit:1m per_minute=100 per_hour=1000;
--- request
POST /api/v1/api-keys
{"name":"child","scopes":["contacts:read"],"rateLimitPerMinute":50,"rateLimitPerHour":1000}
--- more_headers eval
"X-API-Key: $CRM::Test::KEYS{keys_a}\nContent-Type: application/json"
--- error_code: 201
--- response_body_like: "rateLimitPerMinute":50,"rateLimitPerHour":1000,

=== TEST 15: without crm_rate_limit only the maker's own limit holds
--- http_config
    crm_postgres "$TEST_NGINX_PG_DSN";
--- request
POST /api/v1/api-keys
{"name":"child","scopes":["contacts:read"],"rateLimitPerMinute":50,"rateLimitPerHour":999999}
--- more_headers eval
"X-API-Key: $CRM::Test::KEYS{keys_a}\nContent-Type: application/json"
--- error_code: 201
--- response_body_like: "rateLimitPerMinute":50,"rateLimitPerHour":999999,

=== TEST 16: a key cannot expire after the key that makes it
--- http_config
    crm_postgres "$TEST_NGINX_PG_DSN";
--- request
POST /api/v1/api-keys
{"name":"child","scopes":["contacts:read"],"expiresAt":"2031-05-06T07:08:10.000001Z"}
--- more_headers eval
"X-API-Key: crmk_" . ('e7' x 20) . "\nContent-Type: application/json"
--- error_code: 403
--- response_body_like: "message":"a key cannot expire after the key that makes it","details":\{"field":"expiresAt"\}

=== TEST 17: ... and without an expiry, or with null, it expires with it
--- http_config
    crm_postgres "$TEST_NGINX_PG_DSN";
--- request
POST /api/v1/api-keys
{"name":"child","scopes":["contacts:read"],"expiresAt":null}
--- more_headers eval
"X-API-Key: crmk_" . ('e7' x 20) . "\nContent-Type: application/json"
--- error_code: 201
--- response_body_like: "expiresAt":"2031-05-06T07:08:09.700Z"

=== TEST 18: ... or before it
--- http_config
    crm_postgres "$TEST_NGINX_PG_DSN";
--- request
POST /api/v1/api-keys
{"name":"child","scopes":["contacts:read"],"expiresAt":"2031-05-06T07:08:09.699Z"}
--- more_headers eval
"X-API-Key: crmk_" . ('e7' x 20) . "\nContent-Type: application/json"
--- error_code: 201
--- response_body_like: "expiresAt":"2031-05-06T07:08:09.699Z"

=== TEST 19: "analytics:*" is read, which a key with analytics:read may give
--- http_config
    crm_postgres "$TEST_NGINX_PG_DSN";
--- request
POST /api/v1/api-keys
{"name":"child","scopes":["analytics:*"]}
--- more_headers eval
"X-API-Key: crmk_" . ('e7' x 20) . "\nContent-Type: application/json"
--- error_code: 201
--- response_body_like: "scopes":\["analytics:\*"\]

=== TEST 20: ... or with it exactly
--- http_config
    crm_postgres "$TEST_NGINX_PG_DSN";
--- request
POST /api/v1/api-keys
{"name":"child","scopes":["contacts:read"],"expiresAt":"2031-05-06T07:08:09.700Z"}
--- more_headers eval
"X-API-Key: crmk_" . ('e7' x 20) . "\nContent-Type: application/json"
--- error_code: 201
--- response_body_like: "expiresAt":"2031-05-06T07:08:09.700Z"

=== TEST 21: an expiry within the maker's last second is the maker's
--- http_config
    crm_postgres "$TEST_NGINX_PG_DSN";
--- request
POST /api/v1/api-keys
{"name":"child","scopes":["contacts:read"],"expiresAt":"2031-05-06T07:08:09.950Z"}
--- more_headers eval
"X-API-Key: crmk_" . ('e7' x 20) . "\nContent-Type: application/json"
--- error_code: 201
--- response_body_like: "expiresAt":"2031-05-06T07:08:09.700Z"
