# The OpenAPI document: GET /openapi.json serves docs/openapi.json as
# committed (make openapi), without a credential; with one it adds the
# workspace's custom fields (and a workspace without any gets the
# committed bytes); the worker keeps the document made for a set of
# definitions, and a definition added or removed is in the next answer;
# every path of it is a route of the module, with exactly the methods it
# lists.

use strict;
use warnings;

use Test::Nginx::Socket 'no_plan';
use CRM::Test qw(http_request);
use JSON::PP ();
use Cwd ();
use File::Basename ();

CRM::Test::reset();
CRM::Test::sql("INSERT INTO custom_fields (workspace_id, object, name, type,"
               . " options, required) VALUES ('$CRM::Test::WS_A',"
               . " 'contacts', 'tier', 'select', '[\"gold\", \"silver\"]',"
               . " false)");

my $root = Cwd::abs_path(File::Basename::dirname(__FILE__) . '/..');

sub committed {
    open my $fh, '<', "$root/docs/openapi.json"
        or die "docs/openapi.json: $!\n";
    local $/;
    return <$fh>;
}

sub custom_of {
    my ($doc, $schema) = @_;
    my $cf = $doc->{components}{schemas}{$schema}{properties}{customFields};
    return join ',', sort keys %{ $cf->{properties} || {} };
}

# a value for each path parameter: the router only needs their form
sub instantiate {
    my ($path) = @_;
    $path =~ s/\{name\}/contacts/g;
    $path =~ s/\{object\}/contacts/g;
    $path =~ s/\{[A-Za-z]+\}/00000000-0000-4000-8000-000000000000/g;
    return $path;
}

Test::Nginx::Socket::add_response_body_check(sub {
    my ($block, $body, $req_idx, $repeated, $dry_run) = @_;
    my $name = $block->name;

    return if $dry_run;

    if ($name =~ /byte for byte/) {
        Test::More::ok($body eq committed(),
                       "$name - the body is docs/openapi.json");
        return;
    }

    my $doc = eval { JSON::PP::decode_json($body) } || {};

    if ($name =~ /its custom fields/) {
        Test::More::is(custom_of($doc, 'Contact'), 'tier',
                       "$name - Contact.customFields");
        Test::More::is(custom_of($doc, 'ContactCreate'), 'tier',
                       "$name - ContactCreate.customFields");
        my $S = $doc->{components}{schemas};
        Test::More::is_deeply($S->{ContactCreate}{properties}{customFields}
                              {properties}{tier}{enum}, ['gold', 'silver'],
                              "$name - a select's options, for a write");
        Test::More::ok(!$S->{ContactCreate}{properties}{customFields}
                       {additionalProperties},
                       "$name - a write takes no other field");
        # a record may hold what the definitions no longer allow
        Test::More::is_deeply($S->{Contact}{properties}{customFields}
                              {properties}{tier}{'x-options'},
                              ['gold', 'silver'],
                              "$name - a record's select lists its options");
        Test::More::ok(!exists $S->{Contact}{properties}{customFields}
                       {properties}{tier}{enum}
                       && $S->{Contact}{properties}{customFields}
                          {additionalProperties},
                       "$name - without requiring them, nor only the "
                       . "fields defined now");
        Test::More::is(custom_of($doc, 'Company'), '',
                       "$name - companies have none");
        Test::More::is(custom_of(JSON::PP::decode_json(committed()),
                                 'Contact'),
                       '', "$name - the static document is unchanged");
        return;
    }

    if ($name =~ /another workspace/) {
        Test::More::is(custom_of($doc, 'Contact'), '',
                       "$name - no custom field of workspace A");
        Test::More::ok($body eq committed(),
                       "$name - without any of its own: the committed "
                       . "bytes");
        return;
    }

    if ($name =~ /always current/) {
        my @A = ("X-API-Key: $CRM::Test::KEY_A");
        my @B = ("X-API-Key: $CRM::Test::KEY_B");
        my $get = sub {
            my ($h) = @_;
            my ($s, $b) = http_request('GET', '/api/v1/openapi.json', $h);
            return $s == 200 ? $b : "status $s";
        };
        my $first = $get->(\@A);
        Test::More::ok($first eq $body, "$name - the same bytes again");
        CRM::Test::sql("INSERT INTO custom_fields (workspace_id, object,"
                       . " name, type) VALUES ('$CRM::Test::WS_A',"
                       . " 'companies', 'size', 'number')");
        my $added = JSON::PP::decode_json($get->(\@A));
        Test::More::is(custom_of($added, 'Company'), 'size',
                       "$name - a field added is in the next answer");
        Test::More::is(custom_of($added, 'Contact'), 'tier',
                       "$name - with the others");
        Test::More::ok($get->(\@B) eq committed(),
                       "$name - not in another workspace's");
        CRM::Test::sql("INSERT INTO custom_fields (workspace_id, object,"
                       . " name, type, options, required) VALUES"
                       . " ('$CRM::Test::WS_B', 'contacts', 'tier',"
                       . " 'select', '[\"gold\", \"silver\"]', false)");
        Test::More::ok($get->(\@B) eq $body,
                       "$name - the same definitions in another workspace:"
                       . " the same document");
        # more sets of definitions than the worker keeps documents for
        for my $i (1 .. 6) {
            CRM::Test::sql("INSERT INTO custom_fields (workspace_id,"
                           . " object, name, type) VALUES"
                           . " ('$CRM::Test::WS_A', 'deals', 'f$i',"
                           . " 'text')");
            my $d = eval { JSON::PP::decode_json($get->(\@A)) } || {};
            Test::More::is(custom_of($d, 'Deal'),
                           join(',', map { "f$_" } 1 .. $i),
                           "$name - definitions set $i, its own document");
        }
        CRM::Test::sql("DELETE FROM custom_fields WHERE name = 'size'"
                       . " OR name LIKE 'f_'"
                       . " OR workspace_id = '$CRM::Test::WS_B'");
        Test::More::ok($get->(\@A) eq $body,
                       "$name - a field removed is gone from the next");
        Test::More::ok($get->(\@B) eq committed(),
                       "$name - and the other workspace has none again");
        return;
    }

    if ($name =~ /every path/) {
        my $n = 0;

        for my $path (sort keys %{ $doc->{paths} }) {
            my %ops = map { uc($_) => 1 } keys %{ $doc->{paths}{$path} };
            my @allow = grep { $ops{$_} }
                        qw(GET HEAD POST PUT PATCH DELETE);
            push @allow, 'HEAD' if $ops{GET};
            my $expect = join ', ', sort @allow;

            # a method the path does not have: 405 and Allow name the
            # route's methods, which must be the document's
            my ($method) = grep { !$ops{$_} } qw(DELETE PUT POST GET);
            next unless defined $method;

            my ($status, $rbody, $head) = http_request(
                $method, '/api/v1' . instantiate($path),
                ["X-API-Key: $CRM::Test::KEY_A"]);
            my ($allow) = $head =~ /^Allow: ([^\r\n]*)/mi;

            Test::More::is($status, 405, "$name - $method $path is 405");
            Test::More::is(join(', ', sort split /, /, $allow // ''),
                           $expect, "$name - Allow of $path");
            $n++;
        }

        Test::More::ok($n > 40, "$name - $n paths checked");

        my $codes = $doc->{components}{schemas}{Error}{properties}{error}
                    {properties}{code}{enum};
        Test::More::ok((grep { $_ eq 'IDEMPOTENCY_KEY_REUSED' } @$codes)
                       && (grep { $_ eq 'HTTP_ERROR' } @$codes),
                       "$name - the error codes of the catalog");
        return;
    }
});

no_shuffle();
run_tests();

__DATA__

=== TEST 1: the document is served without a credential, byte for byte as committed
--- request
GET /api/v1/openapi.json
--- error_code: 200
--- response_headers_like
Content-Type: application/json
X-Request-Id: req_[0-9a-f]{24}
--- response_body_like: ^\{\n  "openapi": "3\.1\.0",

=== TEST 2: under another mount point it is the same, byte for byte
--- request
GET /v1/openapi.json
--- error_code: 200
--- response_body_like: "servers"

=== TEST 3: with a credential the document has the workspace's custom fields in its schemas
--- request
GET /api/v1/openapi.json
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
--- error_code: 200
--- response_body_like: "tier"

=== TEST 4: another workspace does not see them
--- request
GET /api/v1/openapi.json
--- more_headers
X-API-Key: test-key-b-0123456789abcdef
--- error_code: 200
--- response_body_unlike: "tier"

=== TEST 5: the document with custom fields is always current
--- request
GET /api/v1/openapi.json
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
--- error_code: 200
--- response_body_like: "tier"

=== TEST 6: a credential that is not valid is refused, not ignored
--- request
GET /api/v1/openapi.json
--- more_headers
Authorization: Bearer crmk_0000000000000000000000000000000000000000
--- error_code: 401
--- response_body_like: "code":"UNAUTHENTICATED"

=== TEST 7: HEAD answers as GET does, without the body
--- request
HEAD /api/v1/openapi.json
--- error_code: 200
--- response_body:

=== TEST 8: every path of the document is a route, with the document's methods
--- request
GET /api/v1/openapi.json
--- error_code: 200
--- response_body_like: "paths"

=== TEST 9: the document is not writable
--- request
POST /api/v1/openapi.json
--- error_code: 405
--- response_headers
Allow: GET, HEAD
--- response_body_like: "code":"METHOD_NOT_ALLOWED"

=== TEST 10: the document takes no query parameter
--- request
GET /api/v1/openapi.json?v=2
--- error_code: 400
--- response_body_like: "details":\{"parameter":"v","code":"unknown_parameter"\}
