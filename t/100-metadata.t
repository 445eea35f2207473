# GET /metadata/objects: the resources and their fields, from the
# descriptors.

use strict;
use warnings;

use Test::Nginx::Socket 'no_plan';
use Test::More;
use JSON::PP;
use CRM::Test;

Test::Nginx::Socket::add_response_body_check(sub {
    my ($block, $body, $req_idx, $repeated, $dry_run) = @_;
    my $name = $block->name;

    return unless $name =~ /every resource/;

    my $d = decode_json($body)->{data};
    my %res = map { $_->{name} => $_ } @$d;

    for my $n (qw(contacts companies deals pipelines leads users api-keys
                  workspaces))
    {
        ok($res{$n}, "$name - $n is described");
    }

    my %f = map { $_->{name} => $_ } @{ $res{contacts}{fields} };
    is($f{email}{type}, 'email', "$name - email's type");
    ok($f{email}{required}, "$name - email is required");
    is($f{email}{maxLength}, 254, "$name - email's length");
    ok($f{id}{readOnly}, "$name - id is read-only");
    is(join(',', @{ $f{status}{values} }),
       'lead,prospect,customer,active,inactive,churned',
       "$name - status's values");
    is($f{companyId}{references}, 'companies', "$name - references");

    my %u = map { $_->{name} => $_ } @{ $res{users}{fields} };
    ok($u{password}{writeOnly}, "$name - a password is write-only");
    is_deeply($res{leads}{actions}, ['convert'], "$name - lead actions");
    is_deeply($res{companies}{links}, ['contacts', 'deals', 'activities'],
              "$name - company links");

    my %d = map { $_->{name} => $_ } @{ $res{deals}{fields} };
    is($d{contactIds}{type}, 'uuidArray', "$name - a many-to-many link");
    is($d{contactIds}{references}, 'contacts', "$name - ... to contacts");
    ok($res{activities}, "$name - activities are described");
    is_deeply($res{deals}{writableLinks}, ['contacts'],
              "$name - a deal's contacts can be added and removed");
    is_deeply($res{companies}{writableLinks}, [],
              "$name - a company's links are read-only");
});

no_shuffle();
run_tests();

__DATA__

=== TEST 1: every resource is described
--- request
GET /api/v1/metadata/objects
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
--- error_code: 200
--- response_body_like: ^\{"data":\[\{"name":"contacts","fields":\[

=== TEST 2: one resource
--- request
GET /api/v1/metadata/objects/deals
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
--- error_code: 200
--- response_body_like: ^\{"data":\{"name":"deals","fields":\[\{"name":"id","type":"uuid",.*\{"name":"status","type":"enum",.*"values":\["open","won","lost"\]

=== TEST 3: an unknown resource is 404
--- request
GET /api/v1/metadata/objects/widgets
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
--- error_code: 404

=== TEST 4: the metadata needs credentials
--- request
GET /api/v1/metadata/objects
--- error_code: 401

=== TEST 5: the metadata takes no query parameter
--- request
GET /api/v1/metadata/objects/contacts?lang=fr
--- more_headers
X-API-Key: test-key-a-0123456789abcdef
--- error_code: 400
--- response_body_like: "details":\{"parameter":"lang","code":"unknown_parameter"\}
