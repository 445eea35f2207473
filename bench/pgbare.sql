-- bench/pgbare.sql: bench/pginsert.sql into bench_bare_contacts, a
-- table made by bench/run.sh like contacts (columns and defaults) with
-- its primary key and b-tree indexes only: no search indexes, no
-- custom-field trigger, no foreign keys.  What inserting a contact row
-- costs PostgreSQL with none of the schema's extras.
\set n random(1, 4000000000000000000)
INSERT INTO bench_bare_contacts (workspace_id, first_name, last_name,
                                 email, title, tags, custom_fields)
VALUES (:ws::uuid, 'Bench', concat('Create ', :n::bigint),
        concat('p', :n::bigint, '@pgbare.bench.example'), 'Load test',
        ARRAY['bench', 'create'],
        jsonb_build_object('thread', :client_id::integer, 'n', :n::bigint));
