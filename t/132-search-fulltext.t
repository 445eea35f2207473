# Search's full-text arm (to_tsvector(doc) @@ plainto_tsquery(q)), the
# one that a change of the search indexes would break first (bench/README,
# "The insert path": one search index instead of two): records that only
# it finds (words far apart in the record, in another order; the typo
# tolerance at 0.9, so that word similarity finds none of them) are found,
# on a list and by /search; words that are not ASCII, words with LIKE's
# special characters (literal), and a q without any word.

use strict;
use warnings;

use Test::Nginx::Socket 'no_plan';
use Test::More;
use CRM::Test qw(sql);

my $A = $CRM::Test::WS_A;
my $B = $CRM::Test::WS_B;

CRM::Test::reset();
sql(<<"_SQL_");
INSERT INTO contacts (workspace_id, first_name, last_name, email, phone) VALUES
 ('$A', 'Ann', 'Smith', 'as\@corp.test', '+1 555 0100'),
 ('$A', 'Zed', 'Ørn', 'zed\@corp.test', '+1 555 0200 ext Ünal'),
 ('$A', 'Pat', 'Lee', 'p_50%lee\@corp.test', '+1 555 0300'),
 ('$A', 'Bob', 'Jones', 'bob\@corp.test', '+1 555 0400'),
 ('$B', 'Ann', 'Smith', 'as\@corp-b.test', '+1 555 0100');
_SQL_

add_block_preprocessor(sub {
    my $block = shift;
    $block->set_value('more_headers', "X-API-Key: $CRM::Test::KEY_A\n");
    $block->set_value('http_config', $CRM::Test::HttpConfig
                      . "    crm_search_similarity 0.9;\n");
});

no_shuffle();
run_tests();

__DATA__

=== TEST 1: words far apart, in another order: only the full text finds them
--- request
GET /api/v1/contacts?q=0100%20ann
--- error_code: 200
--- json_names: Ann

=== TEST 2: ... by /search too
--- request
GET /api/v1/search?q=0100%20ann&types=contacts
--- error_code: 200
--- response_body_like: ^\{"data":\[\{"type":"contacts","score":[0-9.]+,"record":\{"id":"[^"]+","firstName":"Ann","lastName":"Smith",[^\]]*\],

=== TEST 3: words that are not ASCII
--- request
GET /api/v1/contacts?q=%C3%9CNAL%20%C3%B8rn
--- error_code: 200
--- json_names: Zed

=== TEST 4: a word with LIKE's special characters
--- request
GET /api/v1/contacts?q=0300%20p_50%25lee@corp.test
--- error_code: 200
--- json_names: Pat

=== TEST 5: ... which are not patterns
--- request
GET /api/v1/contacts?q=0300%20pz50zlee@corp.test
--- error_code: 200
--- response_body_like: ^\{"data":\[\],

=== TEST 6: no word at all: the full text matches nothing, and no error
--- request
GET /api/v1/contacts?q=!!!
--- error_code: 200
--- response_body_like: ^\{"data":\[\],
