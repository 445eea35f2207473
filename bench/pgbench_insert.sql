-- bench/perf.sh: pgbench's plain insert of a contact (-M prepared): the
-- values bench/create.lua's POST /contacts stores, without RETURNING,
-- event or JSON
\set n random(1, 1000000)
INSERT INTO contacts (workspace_id, first_name, last_name, email, title,
                      tags, custom_fields)
VALUES ('bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb'::uuid, 'Bench',
        'Create ' || :n::text, 'pgb-' || gen_random_uuid() || '@bench.example',
        'Load test', ARRAY['bench', 'create'],
        jsonb_build_object('thread', :client_id::int, 'n', :n::int));
