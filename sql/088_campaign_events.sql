-- A campaign's status events (campaign.started, .paused, .resumed,
-- .completed, .cancelled) carry the campaign as the API renders it, as
-- every event's record is (docs/WEBHOOKS.md).
--
-- sql/020's trigger built it from to_jsonb(NEW): found by a probe, it
-- carried the internal "version", the columns' own names "bodyHtml" and
-- "bodyText" next to "html" and "text" ("a || b - 'bodyHtml'" removed
-- them from b, the arithmetic "-" binding before "||"), timestamps with
-- microseconds and an offset where the API writes milliseconds and "Z",
-- and no "counters" or "recipientsAt".  Now each member is the field of
-- the campaigns descriptor (src/model/crm_schema.c), rendered as the
-- planner renders its type.


CREATE FUNCTION db_json_time(p_t timestamptz) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT to_char(p_t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"');
$$;


CREATE OR REPLACE FUNCTION db_campaign_publish() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    v_type  text;
BEGIN
    v_type := CASE
        WHEN NEW.status = 'running' AND OLD.status = 'paused' THEN 'resumed'
        WHEN NEW.status = 'running' THEN 'started'
        ELSE NEW.status END;

    INSERT INTO events (workspace_id, type, record_id, data)
    VALUES (NEW.workspace_id, 'campaign.' || v_type, NEW.id,
            jsonb_build_object('object', jsonb_build_object(
                'id', NEW.id,
                'name', NEW.name,
                'subject', NEW.subject,
                'fromName', NEW.from_name,
                'fromEmail', NEW.from_email,
                'replyTo', NEW.reply_to,
                'html', NEW.body_html,
                'text', NEW.body_text,
                'audience', NEW.audience,
                'scheduledAt', db_json_time(NEW.scheduled_at),
                'sendRate', NEW.send_rate,
                'status', NEW.status,
                'counters', db_campaign_counters(NEW.workspace_id, NEW.id),
                'startedAt', db_json_time(NEW.started_at),
                'completedAt', db_json_time(NEW.completed_at),
                'cancelledAt', db_json_time(NEW.cancelled_at),
                'recipientsAt', db_json_time(NEW.materialized_at),
                'createdAt', db_json_time(NEW.created_at),
                'updatedAt', db_json_time(NEW.updated_at)),
                'previousStatus', OLD.status));

    RETURN NULL;
END
$$;
