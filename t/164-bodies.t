# Request bodies larger than client_body_buffer_size: nginx keeps the
# rest in its temporary file, and the module parses and fingerprints the
# body from there.

use strict;
use warnings;

use Test::Nginx::Socket 'no_plan';
use Test::More;
use CRM::Test qw(http_request);

CRM::Test::reset();

my @H = ("X-API-Key: $CRM::Test::KEY_A", 'Content-Type: application/json');

# a bulk body of "n" creates, about 110 bytes each
sub bulk {
    my ($n, $tag) = @_;
    return '{"operations":[' . join(',', map {
        '{"method":"create","data":{"email":"body-' . $tag . "-$_"
        . '@example.com","firstName":"Body","lastName":"Buffered"}}'
    } 1 .. $n) . '],"atomic":true}';
}

Test::Nginx::Socket::add_response_body_check(sub {
    my ($block, $body, $req_idx, $repeated, $dry_run) = @_;
    my $name = $block->name;

    return if $dry_run || $name !~ /temporary file/;

    my $b1 = bulk(40, 'a');
    ok(length($b1) > 4096, "$name - the body is past the 1k buffer");

    my ($s, $r) = http_request('POST', '/api/v1/contacts/bulk', \@H, $b1);
    is($s, 200, "$name - parsed from memory and file");
    is(scalar(() = $r =~ /"status":201/g), 40, "$name - 40 made");

    my @K = (@H, 'Idempotency-Key: body-1');
    my $b2 = bulk(40, 'b');
    ($s, $r) = http_request('POST', '/api/v1/contacts/bulk', \@K, $b2);
    is($s, 200, "$name - with an Idempotency-Key");

    my ($s2, $r2, $head) = http_request('POST', '/api/v1/contacts/bulk',
                                        \@K, $b2);
    is($s2, 200, "$name - the same again");
    like($head, qr/\r\nIdempotent-Replayed: true/i, "$name - is a replay");

    # the same length, a difference only near the end (in the file)
    (my $b3 = $b2) =~ s/body-b-40/body-c-40/;
    is(length($b3), length($b2), "$name - a body as long");
    ($s, $r) = http_request('POST', '/api/v1/contacts/bulk', \@K, $b3);
    is($s, 422, "$name - that differs past the buffer: not the same request");
    like($r, qr/"code":"IDEMPOTENCY_KEY_REUSED"/, "$name - key reused");
});

no_shuffle();
run_tests();

__DATA__

=== TEST 1: a body past client_body_buffer_size is read from nginx's temporary file
--- config
    location /api/v1/ {
        client_body_buffer_size 1k;
        crm_api;
    }
--- request
GET /api/v1/health
--- error_code: 200
--- no_error_log
[alert]
[crit]

=== TEST 2: a small body is still read from memory
--- request
POST /api/v1/contacts
{"email":"small@example.com"}
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json
--- error_code: 201
--- response_body_like: "email":"small@example.com"
