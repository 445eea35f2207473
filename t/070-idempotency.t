# Idempotency-Key on POST and PATCH: replay, reuse, in flight, no Redis.

use strict;
use warnings;

use Test::Nginx::Socket 'no_plan';
use Test::More;
use JSON::PP;
use CRM::Test qw(http_request concurrent lock_row sql);

my %K = %CRM::Test::KEYS;
my ($A, $B) = ($CRM::Test::WS_A, $CRM::Test::WS_B);
my $ID = 'a0000000-0000-4000-8000-000000000001';

CRM::Test::reset();
CRM::Test::stored_key($K{owner_a}, $A, '{*}');
CRM::Test::stored_key($K{owner_b}, $B, '{*}');
sql("INSERT INTO contacts (workspace_id, id, email) VALUES"
    . " ('$A', '$ID', 'idem\@example.com')");

my $run = int(rand(1e9));

sub post {
    my ($key, $ikey, $body, $path) = @_;
    my @h = ("X-API-Key: $key", 'Content-Type: application/json');
    push @h, "Idempotency-Key: $ikey" if defined $ikey;
    return http_request('POST', $path // '/api/v1/contacts', \@h, $body);
}

Test::Nginx::Socket::add_response_body_check(sub {
    my ($block, $body, $req_idx, $repeated, $dry_run) = @_;
    my $name = $block->name;

    ok(CRM::Test::wait_redis(), "$name - Redis is reachable")
        if $name =~ /replayed|in flight|Redis is down|without Redis/;

    if ($name =~ /replayed/) {
        my $k = "create-$run";
        my ($s1, $b1, $h1) = post($K{owner_a}, $k, '{"email":"i1@example.com"}');
        is($s1, 201, "$name - created");
        my ($s2, $b2, $h2) = post($K{owner_a}, $k, '{"email":"i1@example.com"}');
        is($s2, 201, "$name - the same status again");
        is($b2, $b1, "$name - the same body, byte for byte");
        like($h2, qr/\r\nIdempotent-Replayed: true(?:\r\n|$)/i,
             "$name - marked as replayed");
        unlike($h1, qr/Idempotent-Replayed/i, "$name - the first was not");
        like($h2, qr/\r\nCache-Control: no-store(?:\r\n|$)/i,
             "$name - a replay is stored by no cache");

        # a replay that shows a secret again keeps it out of caches too
        my $kk = "key-$run";
        my ($ks1, undef, $kh1) = post($K{owner_a}, $kk,
                                      '{"name":"idem","scopes":["contacts:read"]}',
                                      '/api/v1/api-keys');
        my ($ks2, $kb2, $kh2) = post($K{owner_a}, $kk,
                                     '{"name":"idem","scopes":["contacts:read"]}',
                                     '/api/v1/api-keys');
        is("$ks1 $ks2", '201 201', "$name - a key made, then replayed");
        like($kb2, qr/"key":"crmk_/, "$name - the replay shows the key");
        like($kh2, qr/\r\nCache-Control: no-store(?:\r\n|$)/i,
             "$name - with no-store, as the first answer");
        my ($loc1) = $h1 =~ /\r\nLocation: (\S+)/i;
        my ($loc2) = $h2 =~ /\r\nLocation: (\S+)/i;
        is($loc2, $loc1, "$name - the same Location");
        my ($etag1) = $h1 =~ /\r\nETag: (\S+)/i;
        my ($etag2) = $h2 =~ /\r\nETag: (\S+)/i;
        ok(defined $etag1, "$name - an ETag");
        is($etag2, $etag1, "$name - the same ETag");
        is(sql("SELECT count(*) FROM contacts WHERE email = 'i1\@example.com'"),
           1, "$name - one contact only");

        my ($s3, $b3) = post($K{owner_a}, $k, '{"email":"other@example.com"}');
        is($s3, 422, "$name - another body with the key is refused");
        like($b3, qr/"code":"IDEMPOTENCY_KEY_REUSED"/, "$name - code");

        my ($s4) = post($K{owner_b}, $k, '{"email":"i1@example.com"}');
        is($s4, 201, "$name - keys are per principal");

        my ($s5, $b5) = post($K{owner_a}, "dup-$run",
                             '{"email":"idem@example.com"}');
        is($s5, 409, "$name - an error is a response too");
        my ($s6, $b6, $h6) = post($K{owner_a}, "dup-$run",
                                  '{"email":"idem@example.com"}');
        is($s6, 409, "$name - and is replayed");
        like($h6, qr/Idempotent-Replayed: true/i, "$name - as such");

    } elsif ($name =~ /in flight/) {
        my $locker = lock_row('contacts', $ID, 1.5);
        my $k = "patch-$run";
        my @r = concurrent(2, 'PATCH', "/api/v1/contacts/$ID",
                           ["X-API-Key: $K{owner_a}",
                            'Content-Type: application/json',
                            "Idempotency-Key: $k"],
                           '{"title":"once"}');
        waitpid($locker, 0);
        my @s = sort map { $_->[0] } @r;
        is("@s", '200 409', "$name - the second is a conflict");
        my ($c) = grep { $_->[0] == 409 } @r;
        like($c->[1], qr/"code":"CONFLICT"/, "$name - CONFLICT");

    } elsif ($name =~ /Redis is down/) {
        CRM::Test::redis('stop');
        my ($s) = post($K{owner_a}, "down-$run", '{"email":"d1@example.com"}');
        is($s, 201, "$name - processed without the guarantee");
        CRM::Test::redis('start');

    } elsif ($name =~ /refuses without Redis/) {
        CRM::Test::redis('stop');
        my ($s, $b) = post($K{owner_a}, "rej-$run", '{"email":"d2@example.com"}');
        is($s, 503, "$name - 503");
        like($b, qr/"code":"SERVICE_UNAVAILABLE"/, "$name - code");
        ($s) = post($K{owner_a}, undef, '{"email":"d3@example.com"}');
        is($s, 201, "$name - requests without a key still pass");
        CRM::Test::redis('start');
    }
});

no_shuffle();
run_tests();

__DATA__

=== TEST 1: the first response is stored and replayed
--- request
GET /api/v1/health
--- error_code: 200

=== TEST 2: a duplicate while the first is in flight is a conflict
--- request
GET /api/v1/health
--- error_code: 200

=== TEST 3: a key must be printable and short
--- request
POST /api/v1/contacts
{"email":"k@example.com"}
--- more_headers eval
"X-API-Key: $CRM::Test::KEYS{owner_a}\nContent-Type: application/json\nIdempotency-Key: " . ("x" x 300)
--- error_code: 400
--- response_body_like: "code":"BAD_REQUEST"

=== TEST 4: when Redis is down the request is processed
--- request
GET /api/v1/health
--- error_code: 200

=== TEST 5: crm_idempotency_without_redis reject refuses without Redis
--- http_config
    crm_postgres "$TEST_NGINX_PG_DSN";
    crm_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    crm_idempotency_without_redis reject;
--- request
GET /api/v1/health
--- error_code: 200

=== TEST 6: two Idempotency-Key headers are refused: which one was meant cannot be told
--- request
POST /api/v1/contacts
{"email":"twice@example.com"}
--- more_headers eval
"X-API-Key: $CRM::Test::KEYS{owner_a}\nContent-Type: application/json\nIdempotency-Key: one\nIdempotency-Key: two"
--- error_code: 400
--- response_body_like: "code":"BAD_REQUEST","status":400,"message":"Idempotency-Key is given twice"
