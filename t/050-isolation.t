# Tenant isolation, route by route: workspace A never sees, changes or
# points at workspace B's records.
#
# Every resource is a row of @RESOURCES: adding a resource to the API
# means adding its row here (a fixture in B, a body for PATCH), and the
# whole set of checks runs for it.

use strict;
use warnings;

use Test::Nginx::Socket 'no_plan';
use Test::More;
use JSON::PP;
use CRM::Test qw(http_request api sql);

my %K = %CRM::Test::KEYS;
my ($A, $B) = ($CRM::Test::WS_A, $CRM::Test::WS_B);

CRM::Test::reset();
sql("DELETE FROM sessions; DELETE FROM users");
CRM::Test::stored_key($K{owner_a}, $A, '{*}');
my $b_key_id = CRM::Test::stored_key($K{owner_b}, $B, '{*}');

my $b_company = sql("INSERT INTO companies (workspace_id, name) VALUES"
                    . " ('$B', 'B Corp') RETURNING id");
my $b_user = sql("INSERT INTO users (workspace_id, email) VALUES"
                 . " ('$B', 'b-user\@b.test') RETURNING id");
my $b_pipeline = sql("INSERT INTO pipelines (workspace_id, name, stages)"
                     . " VALUES ('$B', 'B pipe',"
                     . " '[{\"name\":\"S\",\"probability\":1}]')"
                     . " RETURNING id");
my $b_deal = sql("INSERT INTO deals (workspace_id, name, pipeline_id, stage,"
                 . " company_id) VALUES ('$B', 'B deal', '$b_pipeline', 'S',"
                 . " '$b_company') RETURNING id");
my $b_lead = sql("INSERT INTO leads (workspace_id, email) VALUES"
                 . " ('$B', 'lead\@b.test') RETURNING id");
my $b_contact = sql("INSERT INTO contacts (workspace_id, email, company_id)"
                    . " VALUES ('$B', 'b\@example.com', '$b_company')"
                    . " RETURNING id");
my $b_activity = sql("INSERT INTO activities (workspace_id, type, related_type,"
                     . " related_id, contact_ids) VALUES ('$B', 'call',"
                     . " 'contact', '$b_contact', '{$b_contact}')"
                     . " RETURNING id");
sql("UPDATE deals SET contact_ids = '{$b_contact}' WHERE id = '$b_deal'");
my $b_field = sql("INSERT INTO custom_fields (workspace_id, object, name, type)"
                  . " VALUES ('$B', 'contacts', 'bOnly', 'text') RETURNING id");
sql("INSERT INTO companies (workspace_id, name) VALUES ('$A', 'A Corp')");
my $a_contact = sql("INSERT INTO contacts (workspace_id, email) VALUES"
                    . " ('$A', 'a\@example.com') RETURNING id");
my $a_deal = sql("INSERT INTO deals (workspace_id, name) VALUES"
                 . " ('$A', 'A deal') RETURNING id");

my @RESOURCES = (
    { name => 'contacts',  b_id => $b_contact, patch => '{"title":"x"}',
      create => '{"email":"new@example.com"}' },
    { name => 'companies', b_id => $b_company, patch => '{"name":"x"}',
      create => '{"name":"New"}' },
    { name => 'api-keys',  b_id => $b_key_id,  patch => undef,
      create => '{"name":"n","scopes":["contacts:read"]}' },
    { name => 'users',     b_id => $b_user,    patch => '{"name":"x"}',
      create => '{"email":"iso-new@a.test"}' },
    { name => 'pipelines', b_id => $b_pipeline, patch => '{"name":"x"}',
      create => '{"name":"A pipe"}' },
    { name => 'deals',     b_id => $b_deal,    patch => '{"name":"x"}',
      create => '{"name":"A deal"}' },
    { name => 'leads',     b_id => $b_lead,    patch => '{"source":"x"}',
      create => '{"email":"lead@a.test"}' },
    { name => 'activities', b_id => $b_activity, patch => '{"subject":"x"}',
      create => '{"type":"note"}' },
    { name => 'custom-fields', b_id => $b_field, patch => '{"label":"x"}',
      create => '{"object":"contacts","name":"aOnly","type":"text"}' },
);

# item actions: B's record is not found
my @ACTIONS = (
    [ 'leads', $b_lead, 'convert' ],
);

# sub-collections: parent resource, B's parent id, link
my @LINKS = (
    [ 'companies', $b_company, 'contacts' ],
    [ 'companies', $b_company, 'deals' ],
    [ 'pipelines', $b_pipeline, 'deals' ],
    [ 'companies', $b_company, 'activities' ],
    [ 'contacts', $b_contact, 'activities' ],
    [ 'contacts', $b_contact, 'deals' ],
    [ 'deals', $b_deal, 'contacts' ],
    [ 'deals', $b_deal, 'activities' ],
    [ 'leads', $b_lead, 'activities' ],
    [ 'activities', $b_activity, 'contacts' ],
);

# many-to-many writes: [method, path, body, status]
my @LINK_WRITES = (
    [ 'POST', "deals/$b_deal/contacts", qq({"id":"$a_contact"}), 404 ],
    [ 'POST', "deals/$a_deal/contacts", qq({"id":"$b_contact"}), 422 ],
    [ 'DELETE', "deals/$b_deal/contacts/$b_contact", undef, 404 ],
    [ 'POST', "activities/$b_activity/contacts", qq({"id":"$a_contact"}),
      404 ],
    [ 'DELETE', "activities/$b_activity/contacts/$b_contact", undef, 404 ],
);

# references: a write in A naming B's id must not succeed
my @REFERENCES = (
    [ 'contacts', '{"email":"ref@example.com","companyId":"%s"}', $b_company ],
    [ 'contacts', '{"email":"cf@example.com","customFields":{"%s":"x"}}',
      'bOnly' ],
    [ 'deals', '{"name":"ref","companyId":"%s"}', $b_company ],
    [ 'deals', '{"name":"ref","pipelineId":"%s"}', $b_pipeline ],
    [ 'deals', '{"name":"ref","contactIds":["%s"]}', $b_contact ],
    [ 'activities', '{"type":"call","contactIds":["%s"]}', $b_contact ],
    [ 'activities', '{"type":"call","relatedType":"contact","relatedId":"%s"}',
      $b_contact ],
    [ 'activities', '{"type":"call","relatedType":"company","relatedId":"%s"}',
      $b_company ],
    [ 'activities', '{"type":"call","relatedType":"deal","relatedId":"%s"}',
      $b_deal ],
    [ 'activities', '{"type":"call","relatedType":"lead","relatedId":"%s"}',
      $b_lead ],
    [ 'contacts', '{"email":"own@example.com","ownerId":"%s"}', $b_user ],
    [ 'companies', '{"name":"own","ownerId":"%s"}', $b_user ],
    [ 'deals', '{"name":"own","ownerId":"%s"}', $b_user ],
    [ 'activities', '{"type":"call","assignedUserId":"%s"}', $b_user ],
);

Test::Nginx::Socket::add_response_body_check(sub {
    my ($block, $body, $req_idx, $repeated, $dry_run) = @_;
    my $name = $block->name;

    return unless $name =~ /every route/;

    for my $r (@RESOURCES) {
        my $n = $r->{name};
        my $id = $r->{b_id};
        my ($s, $d);

        ($s, $d) = api('GET', "/api/v1/$n/$id", $K{owner_a});
        is($s, 404, "$n: another workspace's record is not found");
        is($d->{error}{code}, 'RESOURCE_NOT_FOUND', "$n: never forbidden");

        if (defined $r->{patch}) {
            ($s) = api('PATCH', "/api/v1/$n/$id", $K{owner_a}, $r->{patch});
            is($s, 404, "$n: PATCH of B's record is not found");
            ($s) = api('PUT', "/api/v1/$n/$id", $K{owner_a}, $r->{patch});
            is($s, 404, "$n: PUT of B's record is not found");
        }

        ($s) = api('DELETE', "/api/v1/$n/$id", $K{owner_a});
        is($s, 404, "$n: DELETE of B's record is not found");

        ($s, $d) = api('GET', "/api/v1/$n/$id", $K{owner_b});
        is($s, 200, "$n: B's record is still there for B");

        ($s, $d) = api('GET', "/api/v1/$n?id=$id&count=exact", $K{owner_a});
        is($s, 200, "$n: filter on B's id");
        is($d->{meta}{total}, 0, "$n: finds nothing");

        ($s, $d) = api('GET', "/api/v1/$n?limit=200&count=exact",
                       $K{owner_a});
        ok(!(grep { $_->{id} eq $id } @{ $d->{data} || [] }),
           "$n: B's record is not in A's list");
        my ($sb, $db) = api('GET', "/api/v1/$n?limit=200&count=exact",
                            $K{owner_b});
        my %bids = map { $_->{id} => 1 } @{ $db->{data} || [] };
        ok(!(grep { $bids{ $_->{id} } } @{ $d->{data} || [] }),
           "$n: A's and B's lists share nothing");
        is($d->{meta}{total}, scalar @{ $d->{data} },
           "$n: A's count is A's rows");

        ($s, $d) = api('POST', "/api/v1/$n", $K{owner_a}, $r->{create});
        is($s, 201, "$n: A creates");
        my $new = $d->{data}{id};
        ($s) = api('GET', "/api/v1/$n/$new", $K{owner_b});
        is($s, 404, "$n: B cannot see what A created");
    }

    for my $l (@LINKS) {
        my ($parent, $id, $link) = @$l;
        my ($s) = api('GET', "/api/v1/$parent/$id/$link", $K{owner_a});
        is($s, 404, "$parent/:id/$link: B's parent is not found");
        ($s) = api('GET', "/api/v1/$parent/$id/$link", $K{owner_b});
        is($s, 200, "$parent/:id/$link: B lists its own");
    }

    for my $w (@LINK_WRITES) {
        my ($m, $path, $body, $want) = @$w;
        my ($s) = api($m, "/api/v1/$path", $K{owner_a}, $body);
        is($s, $want, "$m $path: A cannot link across workspaces");
    }

    my ($ds, $dd) = api('GET', "/api/v1/deals/$b_deal", $K{owner_b});
    is_deeply($dd->{data}{contactIds}, [$b_contact],
              "B's deal kept its contact");

    for my $act (@ACTIONS) {
        my ($n, $id, $a) = @$act;
        my ($s) = api('POST', "/api/v1/$n/$id/$a", $K{owner_a}, '{}');
        is($s, 404, "$n/:id/$a: B's record is not found");
    }

    for my $ref (@REFERENCES) {
        my ($n, $tmpl, $id) = @$ref;
        my ($s, $d) = api('POST', "/api/v1/$n", $K{owner_a},
                          sprintf($tmpl, $id));
        is($s, 422, "$n: a reference to B's record is refused");
    }

    # the workspace itself: only "current", which is A's
    my ($ws, $wd) = api('GET', '/api/v1/workspaces/current', $K{owner_a});
    is($wd->{data}{id}, $A, "workspaces/current is A's own");
    ($ws) = api('GET', "/api/v1/workspaces/$B", $K{owner_a});
    is($ws, 404, "workspaces/<B> is not found");

    # B's key still works: A's DELETE did not revoke it
    my ($s) = api('GET', '/api/v1/contacts', $K{owner_b});
    is($s, 200, "B's key survived A's attempts");
});

no_shuffle();
run_tests();

__DATA__

=== TEST 1: every route keeps workspaces apart
--- request
GET /api/v1/contacts
--- more_headers eval
"X-API-Key: $CRM::Test::KEYS{owner_a}"
--- error_code: 200
--- response_body_like: "email":"a@example.com"
--- no_error_log
[alert]
[emerg]
