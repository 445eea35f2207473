# Stored API keys: hashes only, scopes, expiry, revocation, the cache.

use strict;
use warnings;

use Test::Nginx::Socket 'no_plan';
use Test::More;
use JSON::PP;
use CRM::Test qw(http_request api sql);

my %K = %CRM::Test::KEYS;
my ($A, $B) = ($CRM::Test::WS_A, $CRM::Test::WS_B);

CRM::Test::reset();
CRM::Test::stored_key($K{owner_a}, $A, '{*}');
CRM::Test::stored_key($K{read_a}, $A, '{contacts:read}');
CRM::Test::stored_key($K{expired_a}, $A, '{*}', '2020-01-01T00:00:00Z');
CRM::Test::stored_key($K{keys_a}, $A, '{contacts:write,api-keys:write}');
CRM::Test::stored_key($K{owner_b}, $B, '{*}');

# events carry their records: the feed and subscriptions need read on them
my %E = (events => 'crmk_' . ('f6' x 20), all => 'crmk_' . ('a7' x 20),
         hooks => 'crmk_' . ('b8' x 20));
CRM::Test::stored_key($E{events}, $A, '{events:read}');
CRM::Test::stored_key($E{all}, $A, '{events:read,*:read}');
CRM::Test::stored_key($E{hooks}, $A, '{webhooks:write,contacts:read}');
# every kind of record but the subscriptions themselves
$E{nohooks} = 'crmk_' . ('c9' x 20);
CRM::Test::stored_key($E{nohooks}, $A, '{events:read,contacts:read,'
    . 'companies:read,pipelines:read,deals:read,leads:read,activities:read,'
    . 'campaigns:read,emails:read}');
sql("INSERT INTO contacts (workspace_id, email) VALUES"
    . " ('$A', 'a\@example.com'), ('$B', 'b\@example.com')");

Test::Nginx::Socket::add_response_body_check(sub {
    my ($block, $body, $req_idx, $repeated, $dry_run) = @_;
    my $name = $block->name;

    if ($name =~ /may not take over a subscription/) {
        # the owner's subscription to everything, inactive
        my ($s, $d) = api('POST', '/api/v1/webhooks', $K{owner_a},
                          '{"url":"http://127.0.0.1:9/owner","events":["*"],'
                          . '"active":false}');
        is($s, 201, "$name - the owner subscribes to everything");
        my $w = $d->{data}{id};

        ($s, $d) = api('PATCH', "/api/v1/webhooks/$w", $E{hooks},
                       '{"url":"http://127.0.0.1:9/mine","active":true}');
        is($s, 403, "$name - its URL cannot be changed");
        like($d->{error}{message} // '', qr/may not read/,
             "$name - because of what it carries");
        ($s) = api('PATCH', "/api/v1/webhooks/$w", $E{hooks},
                   '{"description":"mine now"}');
        is($s, 403, "$name - nor anything else of it");
        ($s, $d) = api('POST', "/api/v1/webhooks/$w/rotate-secret",
                       $E{hooks}, '');
        is($s, 403, "$name - its secret cannot be taken");
        ok(!defined $d->{data}{secret}, "$name - no secret shown");
        ($s) = api('DELETE', "/api/v1/webhooks/$w", $E{hooks});
        is($s, 403, "$name - it cannot be deleted");
        is(sql("SELECT url || ' ' || active || ' ' || (deleted_at IS NULL)"
               . " FROM webhooks WHERE id = '$w'"),
           'http://127.0.0.1:9/owner false true', "$name - it is unchanged");

        # its own subscription (TEST 29's) it may change and re-key
        my $own = sql("SELECT id FROM webhooks WHERE events = '{contact.*}'"
                      . " AND workspace_id = '$A' LIMIT 1");
        ($s) = api('PATCH', "/api/v1/webhooks/$own", $E{hooks},
                   '{"description":"its own"}');
        is($s, 200, "$name - its own subscription it may change");
        ($s, $d) = api('POST', "/api/v1/webhooks/$own/rotate-secret",
                       $E{hooks}, '');
        is($s, 200, "$name - and re-key");
        my $v = sql("SELECT version FROM webhooks WHERE id = '$own'");
        ($s) = http_request('PATCH', "/api/v1/webhooks/$own",
                            ["X-API-Key: $E{hooks}",
                             'Content-Type: application/json',
                             'If-Match: "' . ($v + 5) . '"'],
                            '{"description":"stale"}');
        is($s, 412, "$name - its If-Match still holds beside the check");
        ($s) = http_request('PATCH', "/api/v1/webhooks/$own",
                            ["X-API-Key: $E{hooks}",
                             'Content-Type: application/json',
                             qq(If-Match: "$v")],
                            '{"description":"fresh"}');
        is($s, 200, "$name - the version it has");
        ($s) = api('PATCH', "/api/v1/webhooks/00000000-0000-4000-8000-"
                   . "000000000000", $E{hooks}, '{"description":"x"}');
        is($s, 404, "$name - one that is not there is 404");
        ($s) = api('PATCH', "/api/v1/webhooks/$w", $K{owner_a},
                   '{"description":"still the owner\'s"}');
        is($s, 200, "$name - the owner still may");

    } elsif ($name =~ /changed while a guarded write was checked/) {
        # the subscription's row is changed, and held, by another
        # transaction: the guard reads the version before it, the write
        # waits for it, then finds a newer version
        my $own = sql("SELECT id FROM webhooks WHERE events = '{contact.*}'"
                      . " AND workspace_id = '$A' LIMIT 1");
        my $v = sql("SELECT version FROM webhooks WHERE id = '$own'");
        my $pid = CRM::Test::hold("UPDATE webhooks SET description = 'held',"
                                  . " version = version + 1"
                                  . " WHERE id = '$own'", 1.5);
        my ($s, $b) = http_request('PATCH', "/api/v1/webhooks/$own",
                                   ["X-API-Key: $E{hooks}",
                                    'Content-Type: application/json'],
                                   '{"description":"raced"}');
        waitpid($pid, 0);
        is($s, 409, "$name - 409, though the client sent no If-Match");
        like($b, qr/"code":"CONFLICT".*"message":"the record changed while/,
             "$name - to send again");
        is(sql("SELECT description || ' ' || (version > $v)::text"
               . " FROM webhooks WHERE id = '$own'"), 'held true',
           "$name - the other change stands, this one was not made");
        ($s) = http_request('PATCH', "/api/v1/webhooks/$own",
                            ["X-API-Key: $E{hooks}",
                             'Content-Type: application/json'],
                            '{"description":"again"}');
        is($s, 200, "$name - sent again, it is made");

    } elsif ($name =~ /revoked while its lookup was in flight/) {
        my ($s, $d) = api('POST', '/api/v1/api-keys', $K{owner_a},
                          '{"name":"raced","scopes":["contacts:read"]}');
        is($s, 201, "$name - a key, never used yet");
        my ($key, $id) = ($d->{data}{key}, $d->{data}{id});
        my $prefix = substr($key, 0, 16);

        # its lookup reads the row, then sleeps a second before it answers
        # (a STABLE function: the whole statement sees one snapshot)
        my $def = sql("SELECT pg_get_functiondef("
                      . "'db_auth_lookup(text)'::regprocedure)");
        my $slow = $def;
        $slow =~ s{AS \$function\$\s*(.*?);?\s*\$function\$}
                  {AS \$function\$ WITH z AS MATERIALIZED (SELECT pg_sleep(CASE
                   WHEN p_prefix = '$prefix' THEN 1 ELSE 0 END))
                   SELECT l.* FROM ($1) l, z \$function\$}s
            or die "no body in: $def";
        sql($slow);

        my ($get, $del) = CRM::Test::together(
            [0, 'GET', '/api/v1/contacts', ["X-API-Key: $key"]],
            [0.4, 'DELETE', "/api/v1/api-keys/$id",
             ["X-API-Key: $K{owner_a}"]]);
        sql($def);

        is($get->[0], 200, "$name - the request read it before the revocation");
        cmp_ok($get->[3], '>=', 0.9, "$name - its lookup was slow");
        is($del->[0], 204, "$name - revoked meanwhile");
        cmp_ok($del->[3] + 0.4, '<', $get->[3],
               "$name - before the lookup answered");

        ($s, $d) = api('GET', '/api/v1/contacts', $key);
        is($s, 401, "$name - the next request is refused: nothing was cached");

    } elsif ($name =~ /key is shown once/) {
        my $doc = decode_json($body);
        my $key = $doc->{data}{key};
        my $id = $doc->{data}{id};

        like($key, qr/^crmk_[0-9a-f]{40}$/, "$name - the key");
        is($doc->{data}{prefix}, substr($key, 0, 16), "$name - its prefix");

        my ($s, $d) = api('GET', '/api/v1/contacts', $key);
        is($s, 200, "$name - the new key works");
        is(scalar @{ $d->{data} }, 1, "$name - in its workspace");

        ($s, $d) = api('GET', "/api/v1/api-keys/$id", $K{owner_a});
        is($s, 200, "$name - the key's record");
        ok(!exists $d->{data}{key}, "$name - never shown again");
        unlike(encode_json($d), qr/\Q$key\E|secret/i,
               "$name - nor its secret or hash");

        ($s, $d) = api('GET', '/api/v1/api-keys?limit=200', $K{owner_a});
        unlike(encode_json($d), qr/\Q$key\E|secret/i,
               "$name - nor in the list");

        is(sql("SELECT count(*) FROM api_keys WHERE prefix = '"
               . substr($key, 0, 16) . "' AND secret_hash ="
               . " digest('$key', 'sha256')"), 1,
           "$name - stored as a hash");
        is(sql("SELECT count(*) FROM api_keys WHERE prefix || secret_hash::text"
               . " LIKE '%" . substr($key, 16) . "%'"), 0,
           "$name - the secret part is not stored");

        ($s) = api('DELETE', "/api/v1/api-keys/$id", $K{owner_a});
        is($s, 204, "$name - revoked");

        ($s, $d) = api('GET', '/api/v1/contacts', $key);
        is($s, 401, "$name - refused at once after revocation");
        is($d->{error}{code}, 'UNAUTHENTICATED', "$name - UNAUTHENTICATED");

    } elsif ($name =~ /last use is recorded/) {
        my $prefix = substr($K{read_a}, 0, 16);
        is(sql("SELECT count(*) FROM api_keys WHERE prefix = '$prefix'"
               . " AND last_used_at IS NOT NULL"), 0,
           "$name - not written on the request itself");
        Time::HiRes::sleep(1.8);
        is(sql("SELECT count(*) FROM api_keys WHERE prefix = '$prefix'"
               . " AND last_used_at > now() - interval '1 minute'"), 1,
           "$name - written by the next flush");

    } elsif ($name =~ /cache holds a key for its TTL/) {
        my ($s) = api('GET', '/api/v1/contacts', $K{owner_b});
        is($s, 200, "$name - cached");

        # revoked behind the module's back, as another host would do it
        sql("UPDATE api_keys SET deleted_at = now() WHERE prefix = '"
            . substr($K{owner_b}, 0, 16) . "'");
        ($s) = api('GET', '/api/v1/contacts', $K{owner_b});
        is($s, 200, "$name - still cached within the TTL");

        Time::HiRes::sleep(2.2);
        ($s) = api('GET', '/api/v1/contacts', $K{owner_b});
        is($s, 401, "$name - refused once the TTL is over");

        sql("UPDATE api_keys SET deleted_at = NULL WHERE prefix = '"
            . substr($K{owner_b}, 0, 16) . "'");
    }
});

no_shuffle();
run_tests();

__DATA__

=== TEST 1: a stored key authenticates
--- request
GET /api/v1/contacts
--- more_headers eval
"X-API-Key: $CRM::Test::KEYS{owner_a}"
--- error_code: 200
--- response_body_like: "email":"a@example.com"
--- no_error_log eval
[qr/crmk_a1a1/, '[alert]']

=== TEST 2: a bearer token works the same
--- request
GET /api/v1/contacts
--- more_headers eval
"Authorization: Bearer $CRM::Test::KEYS{owner_b}"
--- error_code: 200
--- response_body_like: "email":"b@example.com"

=== TEST 3: a read-only key reads
--- request
GET /api/v1/contacts
--- more_headers eval
"X-API-Key: $CRM::Test::KEYS{read_a}"
--- error_code: 200

=== TEST 4: a read-only key cannot write
--- request
POST /api/v1/contacts
{"email":"x@example.com"}
--- more_headers eval
"X-API-Key: $CRM::Test::KEYS{read_a}\nContent-Type: application/json"
--- error_code: 403
--- response_body_like: ^\{"error":\{"code":"FORBIDDEN","status":403,

=== TEST 5: a key scoped to contacts cannot read companies
--- request
GET /api/v1/companies
--- more_headers eval
"X-API-Key: $CRM::Test::KEYS{read_a}"
--- error_code: 403
--- response_body_like: "code":"FORBIDDEN"

=== TEST 6: an expired key is refused and says so
--- request
GET /api/v1/contacts
--- more_headers eval
"X-API-Key: $CRM::Test::KEYS{expired_a}"
--- error_code: 401
--- response_headers
WWW-Authenticate: Bearer realm="crm"
--- response_body_like: "code":"UNAUTHENTICATED","status":401,"message":"the credential has expired"

=== TEST 7: a well-formed key that does not exist is refused
--- request
GET /api/v1/contacts
--- more_headers
X-API-Key: crmk_0000000000000000000000000000000000000000
--- error_code: 401
--- response_body_like: "code":"UNAUTHENTICATED"

=== TEST 8: a known prefix with a wrong secret is refused
--- request
GET /api/v1/contacts
--- more_headers
X-API-Key: crmk_a1a1a1a1a1a000000000000000000000000000000
--- error_code: 401
--- response_body_like: "code":"UNAUTHENTICATED"

=== TEST 9: a malformed credential is refused without a lookup
--- request
GET /api/v1/contacts
--- more_headers
X-API-Key: crmk_XYZ
--- error_code: 401
--- response_body_like: "code":"UNAUTHENTICATED"

=== TEST 10: the new key is shown once, works, and dies when revoked
--- request
POST /api/v1/api-keys
{"name":"ci","scopes":["contacts:read"]}
--- more_headers eval
"X-API-Key: $CRM::Test::KEYS{owner_a}\nContent-Type: application/json"
--- error_code: 201
--- response_headers_like
Location: /api/v1/api-keys/[0-9a-f-]{36}
--- response_body_like: ^\{"data":\{"key":"crmk_[0-9a-f]{40}","id":"[0-9a-f-]{36}","name":"ci","prefix":"crmk_[0-9a-f]{11}","scopes":\["contacts:read"\],"expiresAt":null,"lastUsedAt":null,

=== TEST 11: a key without api-keys:write cannot make keys
--- request
POST /api/v1/api-keys
{"name":"x","scopes":["contacts:read"]}
--- more_headers eval
"X-API-Key: $CRM::Test::KEYS{read_a}\nContent-Type: application/json"
--- error_code: 403
--- response_body_like: "code":"FORBIDDEN"

=== TEST 12: a key cannot grant more than it has
--- request
POST /api/v1/api-keys
{"name":"x","scopes":["*"]}
--- more_headers eval
"X-API-Key: $CRM::Test::KEYS{keys_a}\nContent-Type: application/json"
--- error_code: 403
--- response_body_like: "code":"FORBIDDEN","status":403,"message":"a key cannot be given a scope its creator does not have","details":\{"scope":"\*"\}

=== TEST 13: a key may grant what it has
--- request
POST /api/v1/api-keys
{"name":"x","scopes":["contacts:read","contacts:write"]}
--- more_headers eval
"X-API-Key: $CRM::Test::KEYS{keys_a}\nContent-Type: application/json"
--- error_code: 201
--- response_body_like: "scopes":\["contacts:read","contacts:write"\]

=== TEST 14: scopes must be well-formed and name known resources
--- request
POST /api/v1/api-keys
{"name":"x","scopes":["contacts:delete"]}
--- more_headers eval
"X-API-Key: $CRM::Test::KEYS{owner_a}\nContent-Type: application/json"
--- error_code: 422
--- response_body_like: "field":"scopes","code":"invalid_value"

=== TEST 15: an unknown resource in a scope is refused
--- request
POST /api/v1/api-keys
{"name":"x","scopes":["widgets:read"]}
--- more_headers eval
"X-API-Key: $CRM::Test::KEYS{owner_a}\nContent-Type: application/json"
--- error_code: 422
--- response_body_like: "field":"scopes","code":"invalid_value"

=== TEST 16: name and scopes are required
--- request
POST /api/v1/api-keys
{}
--- more_headers eval
"X-API-Key: $CRM::Test::KEYS{owner_a}\nContent-Type: application/json"
--- error_code: 422
--- response_body_like: (?=.*"field":"name","code":"required")(?=.*"field":"scopes","code":"required")

=== TEST 17: a key cannot be edited
--- request
PATCH /api/v1/api-keys/00000000-0000-4000-8000-000000000000
{"name":"y"}
--- more_headers eval
"X-API-Key: $CRM::Test::KEYS{owner_a}\nContent-Type: application/json"
--- error_code: 405
--- response_headers
Allow: GET, HEAD, DELETE

=== TEST 18: a key can have its own rate limits
--- request
POST /api/v1/api-keys
{"name":"slow","scopes":["contacts:read"],"rateLimitPerMinute":5,"rateLimitPerHour":100}
--- more_headers eval
"X-API-Key: $CRM::Test::KEYS{owner_a}\nContent-Type: application/json"
--- error_code: 201
--- response_body_like: "name":"slow",.*"rateLimitPerMinute":5,"rateLimitPerHour":100,

=== TEST 19: a rate limit must be positive
--- request
POST /api/v1/api-keys
{"name":"zero","scopes":["contacts:read"],"rateLimitPerMinute":0}
--- more_headers eval
"X-API-Key: $CRM::Test::KEYS{owner_a}\nContent-Type: application/json"
--- error_code: 422
--- response_body_like: "field":"rateLimitPerMinute","code":"invalid_value"

=== TEST 20: an expiry is kept with the key
--- request
POST /api/v1/api-keys
{"name":"old","scopes":["*"],"expiresAt":"2121-01-01T00:00:00Z"}
--- more_headers eval
"X-API-Key: $CRM::Test::KEYS{owner_a}\nContent-Type: application/json"
--- error_code: 201
--- response_body_like: "expiresAt":"2121-01-01T00:00:00.000Z"

=== TEST 21: the cache holds a key for its TTL, no longer
--- http_config
    crm_postgres "$TEST_NGINX_PG_DSN";
    crm_auth_cache zone=crm_auth:1m ttl=2s;
--- request
GET /api/v1/health
--- error_code: 200

=== TEST 22: a key's last use is recorded in batches, not per request
--- http_config
    crm_postgres "$TEST_NGINX_PG_DSN";
    crm_auth_cache zone=crm_auth:1m ttl=30s;
    crm_auth_last_used_interval 1s;
--- request
GET /api/v1/contacts
--- more_headers eval
"X-API-Key: $CRM::Test::KEYS{read_a}"
--- error_code: 200

=== TEST 23: a rate limit is a 32-bit integer, said on its field
--- request
POST /api/v1/api-keys
{"name":"huge","scopes":["contacts:read"],"rateLimitPerMinute":2147483648}
--- more_headers eval
"X-API-Key: $CRM::Test::KEYS{owner_a}\nContent-Type: application/json"
--- error_code: 422
--- response_body_like: "field":"rateLimitPerMinute","code":"out_of_range","message":"must be an integer between 1 and 2147483647"

=== TEST 24: a refused rate limit leaves no key behind
--- request
GET /api/v1/api-keys?name=zero
--- more_headers eval
"X-API-Key: $CRM::Test::KEYS{owner_a}"
--- error_code: 200
--- response_body_like: ^\{"data":\[\],

=== TEST 25: events:read alone does not read the feed: events carry records
--- request
GET /api/v1/events
--- more_headers eval
"X-API-Key: crmk_" . ('f6' x 20)
--- error_code: 403
--- response_body_like: "code":"FORBIDDEN",.*"message":"events carry their records

=== TEST 26: with read on every kind of record, it does
--- request
GET /api/v1/events?limit=1
--- more_headers eval
"X-API-Key: crmk_" . ('a7' x 20)
--- error_code: 200
--- response_body_like: ^\{"data":\[

=== TEST 27: a subscription to a kind needs read on it
--- request
POST /api/v1/webhooks
{"url":"http://127.0.0.1:9/x","events":["deal.*"]}
--- more_headers eval
"X-API-Key: crmk_" . ('b8' x 20) . "\nContent-Type: application/json"
--- error_code: 403
--- response_body_like: "message":"events carry their records: subscribing

=== TEST 28: and one to every kind, read on every kind
--- request
POST /api/v1/webhooks
{"url":"http://127.0.0.1:9/x","events":["contact.created","*"]}
--- more_headers eval
"X-API-Key: crmk_" . ('b8' x 20) . "\nContent-Type: application/json"
--- error_code: 403
--- response_body_like: "code":"FORBIDDEN"

=== TEST 29: the kinds it reads it may subscribe to
--- request
POST /api/v1/webhooks
{"url":"http://127.0.0.1:9/x","events":["contact.*"]}
--- more_headers eval
"X-API-Key: crmk_" . ('b8' x 20) . "\nContent-Type: application/json"
--- error_code: 201
--- response_body_like: "events":\["contact.\*"\]


=== TEST 30: a response that shows a key is stored by no cache
--- request
POST /api/v1/api-keys
{"name":"nostore","scopes":["contacts:read"]}
--- more_headers eval
"X-API-Key: $CRM::Test::KEYS{owner_a}\nContent-Type: application/json"
--- error_code: 201
--- response_headers
Cache-Control: no-store

=== TEST 31: a key needs at least one scope
--- request
POST /api/v1/api-keys
{"name":"none","scopes":[]}
--- more_headers eval
"X-API-Key: $CRM::Test::KEYS{owner_a}\nContent-Type: application/json"
--- error_code: 422
--- response_body_like: "fields":\[\{"field":"scopes","code":"invalid_value","message":"a key needs at least one scope"\}\]

=== TEST 32: a scope listed twice, and an expiry already past, are both reported
--- request
POST /api/v1/api-keys
{"name":"twice","scopes":["contacts:read","contacts:read"],"expiresAt":"2020-01-01T00:00:00Z"}
--- more_headers eval
"X-API-Key: $CRM::Test::KEYS{owner_a}\nContent-Type: application/json"
--- error_code: 422
--- response_body_like: "fields":\[\{"field":"scopes","code":"invalid_value","message":"a scope is listed twice"\},\{"field":"expiresAt","code":"invalid_value","message":"expiresAt is in the past"\}\]

=== TEST 33: an expiry to come is taken
--- request
POST /api/v1/api-keys
{"name":"later","scopes":["contacts:read"],"expiresAt":"2100-01-01T00:00:00+01:00"}
--- more_headers eval
"X-API-Key: $CRM::Test::KEYS{owner_a}\nContent-Type: application/json"
--- error_code: 201
--- response_body_like: "expiresAt":"2099-12-31T23:00:00\.000Z"

=== TEST 34: a key that may not read every kind may not take over a subscription to them
--- request
GET /api/v1/contacts
--- more_headers eval
"X-API-Key: crmk_" . ('b8' x 20)
--- error_code: 200

=== TEST 35: the feed's webhook events need read on the subscriptions too
--- request
GET /api/v1/events?type=webhook.disabled
--- more_headers eval
"X-API-Key: crmk_" . ('c9' x 20)
--- error_code: 403
--- response_body_like: "message":"events carry their records

=== TEST 36: a pattern of a kind that publishes no events is refused
--- request
POST /api/v1/webhooks
{"url":"http://127.0.0.1:9/x","events":["contact.*","user.created"]}
--- more_headers eval
"X-API-Key: $CRM::Test::KEYS{owner_a}\nContent-Type: application/json"
--- error_code: 422
--- response_body_like: "fields":\[\{"field":"events","code":"invalid_value"

=== TEST 37: the subscriptions' own events may be subscribed to
--- request
POST /api/v1/webhooks
{"url":"http://127.0.0.1:9/x","events":["webhook.disabled","email.*","campaign.*"]}
--- more_headers eval
"X-API-Key: $CRM::Test::KEYS{owner_a}\nContent-Type: application/json"
--- error_code: 201

=== TEST 38: write on analytics, which has nothing to write, is refused with the scope to give
--- request
POST /api/v1/api-keys
{"name":"x","scopes":["contacts:read","analytics:write"]}
--- more_headers eval
"X-API-Key: $CRM::Test::KEYS{owner_a}\nContent-Type: application/json"
--- error_code: 422
--- response_body_like: "fields":\[\{"field":"scopes","code":"invalid_value","message":"analytics is read-only: \\"analytics:read\\" is its scope"\}\]

=== TEST 39: ... as is write on the event feed
--- request
POST /api/v1/api-keys
{"name":"x","scopes":["events:write"]}
--- more_headers eval
"X-API-Key: $CRM::Test::KEYS{owner_a}\nContent-Type: application/json"
--- error_code: 422
--- response_body_like: "message":"events is read-only: \\"events:read\\" is its scope"

=== TEST 40: "<resource>:*" is every access there is, and "*:*" every access anywhere
--- request
POST /api/v1/api-keys
{"name":"x","scopes":["analytics:*","events:*","*:*"]}
--- more_headers eval
"X-API-Key: $CRM::Test::KEYS{owner_a}\nContent-Type: application/json"
--- error_code: 201
--- response_body_like: "scopes":\["analytics:\*","events:\*","\*:\*"\]

=== TEST 41: a subscription changed while a guarded write was checked is 409
--- request
GET /api/v1/contacts
--- more_headers eval
"X-API-Key: crmk_" . ('b8' x 20)
--- error_code: 200

=== TEST 42: write on what is read only under its parent is refused too
--- request
POST /api/v1/api-keys
{"name":"x","scopes":["campaign-recipients:write"]}
--- more_headers eval
"X-API-Key: $CRM::Test::KEYS{owner_a}\nContent-Type: application/json"
--- error_code: 422
--- response_body_like: "message":"campaign-recipients is read-only: \\"campaign-recipients:read\\" is its scope"

=== TEST 43: a key revoked while its lookup was in flight is not cached
--- request
GET /api/v1/contacts
--- more_headers eval
"X-API-Key: $CRM::Test::KEYS{read_a}"
--- error_code: 200

=== TEST 44: a pattern listed twice is refused, as a scope listed twice is
--- request
POST /api/v1/webhooks
{"url":"http://127.0.0.1:9/x","events":["email.opened","contact.*","email.opened"]}
--- more_headers eval
"X-API-Key: $CRM::Test::KEYS{owner_a}\nContent-Type: application/json"
--- error_code: 422
--- response_body_like: "fields":\[\{"field":"events","code":"invalid_value","message":"a pattern is listed twice"\}\]
