# A list's page is fetched in PostgreSQL's binary format when every field
# it renders has a type the worker reads in binary (all but numeric and
# date; docs/DESIGN.md, "Row JSON"), while a read by id is fetched as
# text.  Each record of such a page is the same JSON as its read by id,
# byte for byte, for values that are hard to get right: escapes, arrays
# with NULL and quoted elements, jsonb, timestamps BC, after 9999 and
# infinite, microseconds; and a walk by cursor over times with
# microseconds and a tie (a cursor holds its keys as PostgreSQL writes
# them) meets every record once, forwards and backwards.

use strict;
use warnings;

use Test::Nginx::Socket 'no_plan';
use Test::More;
use JSON::PP;
use CRM::Test qw(http_request sql);

my $A = $CRM::Test::WS_A;
my @H = ("X-API-Key: $CRM::Test::KEY_A");
# the walk: times with microseconds and a tie (a cursor's timestamp key
# must be one the API takes: years 1 to 9999, finite)
my $WALK = 'sort=createdAt&createdAt[gt]=1990-01-01T00:00:00Z'
           . '&createdAt[lt]=2030-01-01T00:00:00Z';
my $JA = "\xe6\x97\xa5\xe6\x9c\xac \xe8\xaa\x9e";     # UTF-8 bytes

CRM::Test::reset();
sql(<<"_SQL_");
INSERT INTO custom_fields (workspace_id, object, name, type, options,
                           required) VALUES
 ('$A', 'contacts', 'note', 'text', '[]', false),
 ('$A', 'activities', 'level', 'select', '["low", "high \\"H\\""]', true);
INSERT INTO contacts (workspace_id, id, email, first_name, last_name, tags,
                      custom_fields, created_at) VALUES
 ('$A', 'a1970000-0000-4000-8000-000000000001', 'one\@binary.test',
  E'tab\\there \\u0001', 'Quote "q" back\\slash',
  '{"say \\"hi\\"","a\\\\b","x,y","",NULL,"$JA"}',
  '{"note": "v \\"w\\" \\\\ \xc3\xbc"}',
  '2026-01-02 03:04:05.678901+00'),
 ('$A', 'a1970000-0000-4000-8000-000000000002', 'two\@binary.test',
  NULL, NULL, '{}', '{}', '0044-03-15 12:00:00.5+00 BC'),
 ('$A', 'a1970000-0000-4000-8000-000000000003', 'three\@binary.test',
  NULL, NULL, '{NULL}', '{}', 'infinity'),
 ('$A', 'a1970000-0000-4000-8000-000000000004', 'four\@binary.test',
  NULL, NULL, '{a}', '{}', '12345-06-07 08:09:10.123456+00'),
 ('$A', 'a1970000-0000-4000-8000-000000000005', 'five\@binary.test',
  NULL, NULL, '{b}', '{}', '2026-01-02 03:04:05.678901+00'),
 ('$A', 'a1970000-0000-4000-8000-000000000006', 'six\@binary.test',
  NULL, NULL, '{c}', '{}', '1999-12-31 23:59:59.999999+00');
INSERT INTO activities (workspace_id, id, type, subject, due_at,
                        duration_sec, contact_ids, custom_fields) VALUES
 ('$A', 'b1970000-0000-4000-8000-000000000001', 'task', 'Call "back"',
  '2026-02-03 04:05:06.007+00', 3600,
  '{a1970000-0000-4000-8000-000000000001,a1970000-0000-4000-8000-000000000002}',
  '{"level": "low"}');
INSERT INTO webhooks (workspace_id, id, url, events, active, description,
                      secret) VALUES
 ('$A', 'c1970000-0000-4000-8000-000000000001', 'http://127.0.0.1:9/hook',
  '{contact.created,"deal.*"}', false, 'Off, "for now"',
  'whsec_MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=');
_SQL_

Test::Nginx::Socket::add_block_preprocessor(sub {
    my $block = shift;
    $block->set_value('more_headers', join("\n", @H));
});

sub ids {
    my ($body) = @_;
    return [map { $_->{id} } @{ decode_json($body)->{data} }];
}

Test::Nginx::Socket::add_response_body_check(sub {
    my ($block, $body, $req_idx, $repeated, $dry_run) = @_;
    my $name = $block->name;

    return if $dry_run;

    if ($name =~ /(\S+) as read by id/) {
        my $path = "/api/v1/$1";
        my $data = decode_json($body)->{data};

        ok(@$data > 0, "$name - records");

        for my $rec (@$data) {
            my ($status, $b) = http_request('GET', "$path/$rec->{id}", \@H);
            my ($one) = $b =~ /\A\{"data":(\{.*\}),"meta":\{/s;

            ok($status == 200 && defined $one && index($body, $one) >= 0,
               "$name - $rec->{id} is its read by id");
        }
    }

    if ($name =~ /walk/) {
        my @all = @{ ids($body) };
        my (@seen, @back, $doc, $q);

        # one record a page, forwards to the end, then back to the start

        $q = "limit=1&$WALK";

        for (1 .. 20) {
            my ($status, $b) = http_request('GET', "/api/v1/contacts?$q", \@H);
            $doc = decode_json($b);
            push @seen, map { $_->{id} } @{ $doc->{data} };
            my $next = $doc->{meta}{cursor}{next} // last;
            $q = "limit=1&$WALK&cursor=$next";
        }

        is_deeply(\@seen, \@all, "$name - forwards, every record once");

        for (1 .. 20) {
            my $prev = $doc->{meta}{cursor}{previous} // last;
            my ($status, $b) = http_request('GET',
                "/api/v1/contacts?limit=1&$WALK&cursor=$prev", \@H);
            $doc = decode_json($b);
            unshift @back, map { $_->{id} } @{ $doc->{data} };
        }

        push @back, $seen[-1];
        is_deeply(\@back, \@all, "$name - backwards, every record once");
    }
});

no_shuffle();
run_tests();

__DATA__

=== TEST 1: contacts as read by id, in the order of their times
--- request
GET /api/v1/contacts?limit=10&sort=createdAt
--- error_code: 200
--- response_body_like: \A\{"data":\[\{"id":"a1970000-0000-4000-8000-000000000002",.*"createdAt":"0044-03-15T12:00:00\.500Z",.*"id":"a1970000-0000-4000-8000-000000000006",.*"createdAt":"1999-12-31T23:59:59\.999Z",.*"id":"a1970000-0000-4000-8000-000000000001","firstName":"tab\\there \\u0001","lastName":"Quote \\"q\\" back\\\\slash",.*"tags":\["say \\"hi\\"","a\\\\b","x,y","",null,"\xe6\x97\xa5\xe6\x9c\xac \xe8\xaa\x9e"\],"customFields":\{"note":"v \\"w\\" \\\\ \xc3\xbc"\},"createdAt":"2026-01-02T03:04:05\.678Z",.*"id":"a1970000-0000-4000-8000-000000000005",.*"id":"a1970000-0000-4000-8000-000000000004",.*"createdAt":"12345-06-07T08:09:10\.123Z",.*"id":"a1970000-0000-4000-8000-000000000003",.*"tags":\[null\],.*"createdAt":null,

=== TEST 2: contacts, some fields
--- request
GET /api/v1/contacts?limit=10&fields=tags,createdAt,customFields
--- error_code: 200
--- response_body_like: \{"id":"a1970000-0000-4000-8000-000000000002","tags":\[\],"customFields":\{\},"createdAt":"0044-03-15T12:00:00\.500Z"\}

=== TEST 3: activities as read by id (uuid[], bigint, jsonb)
--- request
GET /api/v1/activities?limit=10
--- error_code: 200
--- response_body_like: "subject":"Call \\"back\\"",.*"dueAt":"2026-02-03T04:05:06\.007Z",.*"durationSec":3600,.*"contactIds":\["a1970000-0000-4000-8000-000000000001","a1970000-0000-4000-8000-000000000002"\],.*"customFields":\{"level":"low"\}

=== TEST 4: webhooks as read by id (boolean, text[])
--- request
GET /api/v1/webhooks?limit=10
--- error_code: 200
--- response_body_like: "events":\["contact\.created","deal\.\*"\],"active":false,"description":"Off, \\"for now\\""

=== TEST 5: custom-fields as read by id (boolean, jsonb list)
--- request
GET /api/v1/custom-fields?limit=10
--- error_code: 200
--- response_body_like: "options":\["low","high \\"H\\""\],"required":true

=== TEST 6: a walk by cursor over times with microseconds and a tie
--- request
GET /api/v1/contacts?limit=10&sort=createdAt&createdAt[gt]=1990-01-01T00:00:00Z&createdAt[lt]=2030-01-01T00:00:00Z
--- error_code: 200
--- response_body_like: \A\{"data":\[\{"id":"a1970000-0000-4000-8000-000000000006",.*\{"id":"a1970000-0000-4000-8000-000000000001",.*\{"id":"a1970000-0000-4000-8000-000000000005",.*"hasMore":false
