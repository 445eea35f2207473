# Unknown credentials: remembered briefly in the auth cache (no database
# lookup for a repeat), never for longer than negative_ttl, never at the
# expense of verified keys; failed authentications limited per client
# address (crm_auth_fail_limit), with 429 before any lookup.

use strict;
use warnings;

use Test::Nginx::Socket 'no_plan';
use Test::More;
use JSON::PP;
use Time::HiRes ();
use CRM::Test qw(http_request api concurrent sql);

master_on();
workers(2);

my %K = %CRM::Test::KEYS;
my ($A, $B) = ($CRM::Test::WS_A, $CRM::Test::WS_B);
my $root = $ENV{TEST_NGINX_SERVROOT} || 't/servroot';

CRM::Test::reset();
CRM::Test::stored_key($K{owner_a}, $A, '{*}');
CRM::Test::stored_key($K{read_a}, $A, '{contacts:read}');
CRM::Test::stored_key($K{expired_a}, $A, '{*}', '2020-01-01T00:00:00Z');
CRM::Test::stored_key($K{keys_a}, $A, '{*}');

# well-formed keys that no row has
sub junk {
    return 'crmk_' . sprintf('%040x', $_[0]);
}

# five more stored keys
sql("INSERT INTO api_keys (workspace_id, name, prefix, secret_hash, scopes)"
    . " SELECT '$A', 'many', left(k, 16), digest(k, 'sha256'), '{*}'"
    . " FROM (SELECT 'crmk_' || lpad(to_hex(i), 11, '0') || repeat('e', 29)"
    . " AS k FROM generate_series(1, 5) AS i) AS keys");

sub many_key {
    return sprintf('crmk_%011x', $_[0]) . ('e' x 29);
}

# a key made after it was probed, by the test
my $late = 'crmk_' . ('7a' x 20);

# a junk key with the prefix of a real one
my $twin = substr($K{owner_a}, 0, 16) . ('0' x 29);

sub statuses {
    my %n;
    $n{ $_->[0] }++ for @_;
    return join ' ', map { "$_=$n{$_}" } sort keys %n;
}

sub header {
    my ($head, $name) = @_;
    return $head =~ /\r\n\Q$name\E: ([^\r\n]*)/i ? $1 : '(none)';
}

sub from {
    my ($addr, @req) = @_;
    local $CRM::Test::FROM = $addr;
    return api(@req);
}

Test::Nginx::Socket::add_response_body_check(sub {
    my ($block, $body, $req_idx, $repeated, $dry_run) = @_;
    my $name = $block->name;

    if ($name =~ /without the database/) {
        my ($s, $d) = api('GET', '/api/v1/contacts', $K{expired_a});
        is("$s $d->{error}{message}", '401 the credential has expired',
           "$name - an expired key");

        CRM::Test::pg('stop');

        eval {
            ($s, $d) = api('GET', '/api/v1/contacts', junk(1));
            is("$s $d->{error}{message}", '401 the credential is not valid',
               "$name - the unknown key again: 401, not 503");

            ($s, $d) = api('GET', '/api/v1/contacts', $K{expired_a});
            is("$s $d->{error}{message}", '401 the credential has expired',
               "$name - the expired key again, with its own message");

            ($s) = api('GET', '/api/v1/contacts', junk(2));
            is($s, 503, "$name - a key not seen before needs the database");
        };

        my $err = $@;
        CRM::Test::pg('start');
        die $err if $err;

    } elsif ($name =~ /no longer than negative_ttl/) {
        CRM::Test::stored_key($late, $A, '{*}');

        my ($s) = api('GET', '/api/v1/contacts', $late);
        is($s, 401, "$name - the key made meanwhile is still unknown here");

        Time::HiRes::sleep(2.2);

        ($s) = api('GET', '/api/v1/contacts', $late);
        is($s, 200, "$name - and works once negative_ttl is over");

        sql("DELETE FROM api_keys WHERE prefix = left('$late', 16)");

    } elsif ($name =~ /prefix of a real key/) {
        my ($s) = api('GET', '/api/v1/contacts', $K{owner_a});
        is($s, 200, "$name - the real key works");

        ($s) = api('GET', '/api/v1/contacts', $twin);
        is($s, 401, "$name - the junk one does not");

    } elsif ($name =~ /do not flush verified keys/) {
        my %n;
        for my $i (1 .. 400) {
            my ($s) = api('GET', '/api/v1/contacts', junk($i));
            $n{$s}++;
        }
        is(join(' ', map { "$_=$n{$_}" } sort keys %n), '401=400',
           "$name - 400 junk keys refused");

        # revoked behind the module's back: only a cached entry still works
        sql("UPDATE api_keys SET deleted_at = now()"
            . " WHERE prefix = left('$K{read_a}', 16)");

        my ($s) = api('GET', '/api/v1/contacts', $K{read_a});
        is($s, 200, "$name - the verified key is still in the cache");

        sql("UPDATE api_keys SET deleted_at = NULL"
            . " WHERE prefix = left('$K{read_a}', 16)");

        open my $fh, '<', "$root/logs/error.log" or die $!;
        my $log = do { local $/; <$fh> };
        unlike($log, qr/\[alert\]|no memory/, "$name - no allocation failure");

    } elsif ($name =~ /429 before any lookup/) {
        # a key verified before the address is limited (ttl=1s here)
        my ($s, $d, $h) = api('GET', '/api/v1/contacts', $K{owner_a});
        is($s, 200, "$name - a good key");

        ($s) = api('GET', '/api/v1/contacts', junk(2));
        is($s, 401, "$name - second failure");
        ($s, $d, $h) = api('GET', '/api/v1/contacts', junk(3));
        is($s, 401, "$name - third failure");
        is(header($h, 'X-RateLimit-Remaining'), 0, "$name - none left");

        ($s, $d, $h) = api('GET', '/api/v1/contacts', junk(4));
        is($s, 429, "$name - the fourth is refused");
        is($d->{error}{code}, 'RATE_LIMITED', "$name - RATE_LIMITED");
        like(header($h, 'Retry-After'), qr/^(19|20)$/,
             "$name - Retry-After: one interval");
        is(header($h, 'X-RateLimit-Limit') . ' '
           . header($h, 'X-RateLimit-Remaining'), '3 0',
           "$name - X-RateLimit-* as for keys");
        is(header($h, 'WWW-Authenticate'), '(none)',
           "$name - not a 401");

        ($s) = http_request('GET', '/api/v1/contacts', []);
        is($s, 429, "$name - no credential: 429");
        ($s) = api('GET', '/api/v1/contacts', 'not-a-key');
        is($s, 429, "$name - a malformed one: 429");
        ($s) = api('GET', '/api/v1/contacts', junk(1));
        is($s, 429, "$name - a cached unknown one: 429");

        # a good key the module has not verified would need the database
        ($s) = api('GET', '/api/v1/contacts', $K{keys_a});
        is($s, 429, "$name - a key not verified here yet: 429, no lookup");

        ($s) = api('GET', '/api/v1/contacts', $CRM::Test::KEY_A);
        is($s, 200, "$name - a static key still works");

        ($s) = api('GET', '/api/v1/contacts', $K{owner_a});
        is($s, 200, "$name - a verified key still works");

        Time::HiRes::sleep(1.2);

        ($s) = api('GET', '/api/v1/contacts', $K{owner_a});
        is($s, 200, "$name - also when its entry is stale (looked up)");

        ($s) = api('GET', '/api/v1/contacts', junk(5));
        is($s, 429, "$name - the address is still limited");

        ($s, $d, $h) = from('127.0.0.2', 'GET', '/api/v1/contacts', junk(6));
        is("$s " . header($h, 'X-RateLimit-Remaining'), '401 2',
           "$name - another address has its own budget");
        ($s) = from('127.0.0.2', 'GET', '/api/v1/contacts', $K{keys_a});
        is($s, 200, "$name - and its good keys are looked up");

        open my $fh, '<', "$root/logs/error.log" or die $!;
        my $log = do { local $/; <$fh> };
        like($log,
             qr/too many failed authentications from crm:af:127\.0\.0\.1,/,
             "$name - logged with the address");

    } elsif ($name =~ /good credentials are not counted/) {
        for my $i (1 .. 5) {
            my ($s) = api('GET', '/api/v1/contacts', many_key($i));
            is($s, 200, "$name - good key $i");
        }

        my ($s, $d, $h) = api('GET', '/api/v1/contacts', junk(1));
        is("$s " . header($h, 'X-RateLimit-Remaining'), '401 2',
           "$name - the first failure leaves 2");

    } elsif ($name =~ /wrong passwords count/) {
        sql("DELETE FROM sessions WHERE user_id IN (SELECT id FROM users"
            . " WHERE email = 'limited\@a.test')");
        sql("DELETE FROM users WHERE email = 'limited\@a.test'");
        sql("INSERT INTO users (workspace_id, email, role, password_hash)"
            . " VALUES ('$A', 'limited\@a.test', 'member',"
            . " db_password_hash('correct horse battery'))");

        my $login = sub {
            my ($addr, $password) = @_;
            local $CRM::Test::FROM = $addr;
            return http_request('POST', '/api/v1/auth/login',
                                ['Content-Type: application/json'],
                                encode_json({ email => 'limited@a.test',
                                              password => $password }));
        };

        my ($s, $b, $h) = $login->('127.0.0.1', 'correct horse battery');
        is($s, 200, "$name - a good login");
        ($s, $b, $h) = $login->('127.0.0.1', 'wrong password one');
        is($s, 401, "$name - a wrong one");
        is(header($h, 'X-RateLimit-Remaining'), 1,
           "$name - the good one was given back, the wrong one counted");
        ($s, $b, $h) = $login->('127.0.0.1', 'wrong password two');
        is("$s " . header($h, 'X-RateLimit-Remaining'), '401 0',
           "$name - the last failure");

        my $t0 = Time::HiRes::time();
        ($s, $b, $h) = $login->('127.0.0.1', 'correct horse battery');
        is($s, 429, "$name - then even the right password waits");
        like($h, qr/\r\nRetry-After: \d+/i, "$name - with Retry-After");
        is(sql("SELECT count(*) FROM sessions s JOIN users u"
               . " ON u.id = s.user_id WHERE u.email = 'limited\@a.test'"),
           1, "$name - no session was made");

        ($s) = $login->('127.0.0.2', 'correct horse battery');
        is($s, 200, "$name - another address logs in");

    } elsif ($name =~ /concurrent failures/) {
        my @r = concurrent(10, 'GET', '/api/v1/contacts',
                           ['X-API-Key: ' . junk(9)]);
        is(statuses(@r), '401=2 429=8', "$name - 2 more of 10, then 429");
    }
});

no_shuffle();
run_tests();

__DATA__

=== TEST 1: an unknown key is answered again without the database
--- http_config
    crm_postgres "$TEST_NGINX_PG_DSN";
    crm_auth_cache zone=crm_auth:1m ttl=30s negative_ttl=60s;
--- request
GET /api/v1/contacts
--- more_headers eval
"X-API-Key: " . main::junk(1)
--- error_code: 401
--- response_body_like: "code":"UNAUTHENTICATED","status":401,"message":"the credential is not valid"

=== TEST 2: a key made after it was probed is hidden no longer than negative_ttl
--- http_config
    crm_postgres "$TEST_NGINX_PG_DSN";
    crm_auth_cache zone=crm_auth:1m ttl=30s negative_ttl=2s;
--- request
GET /api/v1/contacts
--- more_headers eval
"X-API-Key: crmk_" . ('7a' x 20)
--- error_code: 401

=== TEST 3: a junk key with the prefix of a real key does not hide it
--- http_config
    crm_postgres "$TEST_NGINX_PG_DSN";
    crm_auth_cache zone=crm_auth:1m ttl=30s negative_ttl=60s;
--- request
GET /api/v1/contacts
--- more_headers eval
"X-API-Key: " . substr($CRM::Test::KEYS{owner_a}, 0, 16) . ('0' x 29)
--- error_code: 401

=== TEST 4: junk keys do not flush verified keys out of a full cache
--- http_config
    crm_postgres "$TEST_NGINX_PG_DSN";
    crm_auth_cache zone=crm_auth:32k ttl=60s negative_ttl=60s;
--- request
GET /api/v1/contacts
--- more_headers eval
"X-API-Key: $CRM::Test::KEYS{read_a}"
--- error_code: 200

=== TEST 5: a failure carries the address's budget
--- http_config
    crm_postgres "$TEST_NGINX_PG_DSN";
    crm_auth_cache zone=crm_auth:1m;
    crm_auth_fail_limit zone=crm_fail:1m per_minute=3 per_hour=100;
--- request
GET /api/v1/contacts
--- more_headers eval
"X-API-Key: " . main::junk(1)
--- error_code: 401
--- response_headers
X-RateLimit-Limit: 3
X-RateLimit-Remaining: 2
X-RateLimit-Reset: 20

=== TEST 6: an address without failures left gets 429 before any lookup
--- http_config eval
qq{
    crm_postgres "\$TEST_NGINX_PG_DSN";
    crm_auth_cache zone=crm_auth:1m ttl=1s;
    crm_auth_fail_limit zone=crm_fail:1m per_minute=3 per_hour=100;
    crm_api_key $CRM::Test::KEY_A $CRM::Test::WS_A;
}
--- request
GET /api/v1/contacts
--- more_headers eval
"X-API-Key: " . main::junk(1)
--- error_code: 401

=== TEST 7: good credentials are not counted as failures
--- http_config
    crm_postgres "$TEST_NGINX_PG_DSN";
    crm_auth_fail_limit zone=crm_fail:1m per_minute=3 per_hour=100;
--- request
GET /api/v1/contacts
--- more_headers eval
"X-API-Key: $CRM::Test::KEYS{owner_a}"
--- error_code: 200

=== TEST 8: concurrent failures across workers stop at the limit
--- http_config
    crm_postgres "$TEST_NGINX_PG_DSN";
    crm_auth_cache zone=crm_auth:1m;
    crm_auth_fail_limit zone=crm_fail:1m per_minute=3 per_hour=100;
--- request
GET /api/v1/contacts
--- more_headers eval
"X-API-Key: " . main::junk(8)
--- error_code: 401

=== TEST 9: wrong passwords count against the address too
--- http_config
    crm_postgres "$TEST_NGINX_PG_DSN";
    crm_auth_fail_limit zone=crm_fail:1m per_minute=2 per_hour=100;
--- request
GET /api/v1/health
--- error_code: 200
