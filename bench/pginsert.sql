-- bench/pginsert.sql: pgbench's plain insert of a contact, the baseline
-- of bench/run.sh's create (BENCH_ONLY="create pginsert"): the columns
-- and values bench/create.lua sends through the API (names, a new email,
-- title, two tags, two custom fields), into the same table with its
-- indexes and triggers, but no RETURNING, no JSON and no event.  The
-- workspace comes from pgbench -D ws=...; ":" of a time format would be a
-- variable to pgbench, there is none here.
\set n random(1, 4000000000000000000)
INSERT INTO contacts (workspace_id, first_name, last_name, email, title,
                      tags, custom_fields)
VALUES (:ws::uuid, 'Bench', concat('Create ', :n::bigint),
        concat('p', :n::bigint, '@pginsert.bench.example'), 'Load test',
        ARRAY['bench', 'create'],
        jsonb_build_object('thread', :client_id::integer, 'n', :n::bigint));
