-- analytics_contact_firsts pruned with the events' retention (issue 15,
-- carried over: "analytics_contact_firsts is never pruned").
--
-- Its rows say that a contact's first human open or click of an hour,
-- a day or an ISO week has been counted (sql/035): they are needed while
-- events of that bucket may still arrive, and for nothing after.  Events
-- are dated when they happen (a tracked open or click, a delivery
-- outcome), so a bucket's events have all arrived long before its end
-- is older than crm_events_retention (30 days by default).  The events
-- job's db_events_purge(), which runs every minute, now also deletes up
-- to a batch of those rows: buckets that began more than the retention
-- plus a week ago (a week is the longest bucket) have ended before the
-- horizon.  The figures already counted stay in the hourly rows; only an
-- event dated before the horizon would now count as a first again.
--
-- A btree on bucket finds them without a scan of the table.  (Not BRIN:
-- once purged pages are reused by new rows, a BRIN range keeps its old
-- minimum and matches the horizon for good, and each purge would read
-- most of the table.)  The function is planned with its values each time
-- (plan_cache_mode): a generic plan cannot tell how many rows are older
-- than a horizon it does not know, and may scan the table when nothing
-- is due.  db_events_purge() returns the rows deleted from both tables,
-- so the job runs again at once while either is behind.

CREATE INDEX analytics_contact_firsts_bucket ON analytics_contact_firsts
    (bucket);


CREATE OR REPLACE FUNCTION db_events_purge(p_age interval, p_batch integer)
RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    n  integer;
    m  integer;
BEGIN
    DELETE FROM events e
     USING (SELECT o.workspace_id, o.id
              FROM workspaces w
             CROSS JOIN LATERAL (
                   SELECT x.workspace_id, x.id
                     FROM events x
                    WHERE x.workspace_id = w.id
                      AND x.created_at < now() - p_age
                    ORDER BY x.created_at
                    LIMIT p_batch
                      FOR UPDATE OF x SKIP LOCKED) o
             LIMIT p_batch) old
     WHERE e.workspace_id = old.workspace_id AND e.id = old.id;

    GET DIAGNOSTICS n = ROW_COUNT;

    DELETE FROM analytics_contact_firsts f
     WHERE f.ctid = ANY (ARRAY(
           SELECT x.ctid
             FROM analytics_contact_firsts x
            WHERE x.bucket < now() - p_age - interval '7 days'
            LIMIT p_batch));

    GET DIAGNOSTICS m = ROW_COUNT;

    RETURN n + m;
END
$$;

ALTER FUNCTION db_events_purge(interval, integer)
    SET plan_cache_mode = force_custom_plan;
