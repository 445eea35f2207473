# Search finds what was just written: a contact created through the API
# is found by GET /search and by q= on the list within one second of the
# 201 (issue 15: whatever keeps the insert path lean must keep this).
# Each check polls every 50 ms and fails when one second passes first.

use strict;
use warnings;

use Test::Nginx::Socket 'no_plan';
use Test::More;
use JSON::PP;
use Time::HiRes ();
use CRM::Test qw(api wait_for);

CRM::Test::reset();

# ids of the records of one page of a list or of /search
sub ids_of {
    my ($doc) = @_;
    return map { $_->{record} ? $_->{record}{id} : $_->{id} }
           @{ $doc->{data} || [] };
}

# polls "path" until its answer holds the record "id"; seconds it took,
# or undef when it did not within one second of "t0"
sub found_within {
    my ($path, $id, $t0) = @_;
    my $ok = wait_for(sub {
        my ($s, $d) = api('GET', $path, $CRM::Test::KEY_A);
        return 0 if Time::HiRes::time() - $t0 > 1;
        return $s == 200 && grep { $_ eq $id } ids_of($d);
    }, 1.2);
    return $ok ? Time::HiRes::time() - $t0 : undef;
}

Test::Nginx::Socket::add_response_body_check(sub {
    my ($block, $body, $req_idx, $repeated, $dry_run) = @_;
    return if $dry_run;
    my $t0 = Time::HiRes::time();
    my $id = eval { decode_json($body)->{data}{id} } // '';
    ok($id ne '', 'the create answered with the new id');
    my @searches = split /\n/, $block->fresh_searches // '';

    for my $path (@searches) {
        my $took = found_within($path, $id, $t0);
        ok(defined $took, "$path finds the new contact within 1 s"
                          . (defined $took ? sprintf(' (%.3f s)', $took)
                                           : ''));
    }
});

no_shuffle();
run_tests();

__DATA__

=== TEST 1: a new contact: found by a substring, a typo, its words, within 1 s
--- request
POST /api/v1/contacts
{"firstName":"Zephyrine","lastName":"Quxleyford","email":"zq@fresh.test"}
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json
--- error_code: 201
--- fresh_searches
/api/v1/contacts?q=quxleyf
/api/v1/contacts?q=Quxleyfrd
/api/v1/search?q=quxleyford%20zephyrine&types=contacts
/api/v1/search?q=zq%40fresh.test

=== TEST 2: another new contact: found on the list and by /search within 1 s
--- request
POST /api/v1/contacts
{"firstName":"Wilhelmina","lastName":"Brackenbury","email":"wb@fresh.test"}
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
Content-Type: application/json
--- error_code: 201
--- fresh_searches
/api/v1/contacts?q=brackenbury
/api/v1/search?q=brackenbury%20wilhelmina&types=contacts
