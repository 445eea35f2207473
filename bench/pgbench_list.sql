-- bench/perf.sh: pgbench running the page query of GET
-- /contacts?limit=50&created_before=<t> (crm_sql_list()), -M prepared, at
-- a random depth: the statement the module prepares, the workspace a
-- parameter ($1::uuid), the same columns (the sort keys read from
-- created_at and id), the same order (the id ascending breaks ties),
-- LIMIT 51 written as a number, the bound compared to the millisecond
-- as the module compares a time filter (crm_sql_ops_time[]).  One
-- difference: the module binds the created_before= time as a parameter
-- ($2::timestamptz); pgbench has no string variables, so the bound is
-- computed from a random number of seconds.
\set n random(1, :rows - 50)
SELECT id, first_name, last_name, email, phone, title, company_id, owner_id,
       status, source, tags, custom_fields, created_at, updated_at
  FROM contacts
 WHERE workspace_id = :ws::uuid
   AND deleted_at IS NULL
   AND created_at < date_trunc('milliseconds',
                               timestamptz '2026-01-01 00:00:00+00'
                               - :n::integer * interval '1 second'
                               + interval '999 microseconds')
 ORDER BY contacts.created_at DESC NULLS FIRST, contacts.id ASC NULLS LAST
 LIMIT 51;
