-- bench/perf.sh: pgbench's single-row contact lookup (-M prepared), the
-- columns a GET by id fetches (crm_sql_get()), the workspace a parameter
-- as the module binds it; the id is computed from a random number (the
-- module binds it as text: pgbench has no string variables)
\set n random(1, :rows)
SELECT id, first_name, last_name, email, phone, title, company_id, owner_id,
       status, source, tags, custom_fields, created_at, updated_at,
       version::text
  FROM contacts
 WHERE workspace_id = :ws::uuid
   AND id = ('bbbbbbbb-0000-4000-8000-' || lpad(to_hex(:n::int), 12, '0'))::uuid
   AND deleted_at IS NULL;
