-- The event of a write, cheaper to insert (issue 15, direction 2; bench/README,
-- "The insert path"): every create, update and delete inserts one events
-- row, so what that row costs is paid by every write.
--
-- events_age     dropped.  Only the retention purge used it (events older
--                than crm_events_retention, across workspaces); the purge
--                now takes them workspace by workspace through
--                events_created (workspace_id, created_at, id), which the
--                feed needs anyway: one index fewer on every insert.
-- the fan-out    a workspace without a matching active subscription
--                costs one probe of webhooks_active: the INSERT into
--                webhook_deliveries (its seven indexes and two foreign
--                keys set up for every event, even when it inserts
--                nothing) runs only when a subscription matches, and
--                webhook.test is left out by the trigger's WHEN instead
--                of a call of the function.  The deliveries are made as
--                before: in the event's transaction, one per matching
--                subscription, in commit order per record.
--
-- The third part, the event's data built as jsonb from the row's columns
-- instead of the row's JSON text parsed again, is the planner's
-- statement (src/model/crm_sql.c, crm_sql_event()).


DROP INDEX events_age;


-- retention: up to p_batch events older than p_age, with their deliveries

CREATE OR REPLACE FUNCTION db_events_purge(p_age interval, p_batch integer)
RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    n  integer;
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
    RETURN n;
END
$$;


/*
 * A new event: one delivery per active subscription whose patterns
 * match, and a wake-up of the delivery job at commit.  Test pings
 * (webhook.test) go only where db_webhook_test() sends them: the
 * trigger's WHEN leaves them out.
 */

CREATE OR REPLACE FUNCTION db_event_fanout() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (SELECT 1
                     FROM webhooks w
                    WHERE w.workspace_id = NEW.workspace_id AND w.active
                      AND w.deleted_at IS NULL
                      AND db_webhook_matches(w.events, NEW.type))
    THEN
        RETURN NULL;
    END IF;

    INSERT INTO webhook_deliveries (workspace_id, webhook_id, event_id,
                                    event_type, record_key)
    SELECT NEW.workspace_id, w.id, NEW.id, NEW.type,
           coalesce(NEW.record_id::text, NEW.id)
      FROM webhooks w
     WHERE w.workspace_id = NEW.workspace_id AND w.active
       AND w.deleted_at IS NULL
       AND db_webhook_matches(w.events, NEW.type);

    IF FOUND THEN
        PERFORM pg_notify('crm_jobs', 'webhook');
    END IF;

    RETURN NULL;
END
$$;

DROP TRIGGER events_fanout ON events;

CREATE TRIGGER events_fanout AFTER INSERT ON events
    FOR EACH ROW WHEN (NEW.type <> 'webhook.test')
    EXECUTE FUNCTION db_event_fanout();
