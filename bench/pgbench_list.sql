-- bench/perf.sh: pgbench running the page query of GET
-- /contacts?limit=50&created_before=<t> (crm_sql_list()), plain columns,
-- at a random depth (-M prepared)
\set n random(1, :rows - 50)
SELECT id, first_name, last_name, email, phone, title, company_id, owner_id,
       status, source, tags, custom_fields, created_at, updated_at,
       created_at::text, id::text
  FROM contacts
 WHERE workspace_id = 'bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb'::uuid
   AND deleted_at IS NULL
   AND created_at < timestamptz '2026-01-01 00:00:00+00'
                    - :n * interval '1 second'
 ORDER BY contacts.created_at DESC NULLS FIRST, contacts.id DESC NULLS FIRST
 LIMIT 51;
