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
-- planner renders its type (a time by db_json_time(), sql/087).


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


-- sql/020's db_campaign_move(), restated whole: a cancel drops what was
-- not sent before it changes the status, so that campaign.cancelled's
-- counters are those GET then shows (cancelled, not pending)

CREATE OR REPLACE FUNCTION db_campaign_move(p_ws uuid, p_id uuid, p_from text[],
    p_to text, p_verb text) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    c  record;
BEGIN
    SELECT status, scheduled_at, body_html, body_text INTO c
      FROM campaigns
     WHERE workspace_id = p_ws AND id = p_id AND deleted_at IS NULL
       FOR UPDATE;

    IF NOT FOUND THEN
        RETURN NULL;
    END IF;

    IF NOT (c.status = ANY (p_from)) THEN
        RAISE EXCEPTION 'a % campaign cannot be %', c.status, p_verb
            USING ERRCODE = 'CR409';
    END IF;

    IF p_to IN ('running', 'scheduled')
       AND coalesce(c.body_html, '') = '' AND coalesce(c.body_text, '') = ''
    THEN
        RAISE EXCEPTION 'a campaign needs a text or an html body to start'
            USING ERRCODE = 'CR422', COLUMN = 'text',
                  CONSTRAINT = 'required';
    END IF;

    PERFORM set_config('crm.campaign_transition', 'on', true);

    IF p_to = 'cancelled' THEN
        -- what was not sent is dropped: recipients not yet handed to the
        -- outbox, and the campaign's emails still waiting there
        UPDATE campaign_recipients
           SET status = 'cancelled', updated_at = now(), lease_until = NULL,
               lease_owner = NULL
         WHERE workspace_id = p_ws AND campaign_id = p_id
           AND status IN ('pending', 'rendering');

        WITH gone AS (
            UPDATE emails
               SET status = 'cancelled', updated_at = now()
             WHERE workspace_id = p_ws AND campaign_id = p_id
               AND status IN ('queued', 'deferred')
            RETURNING workspace_id, id
        )
        INSERT INTO email_events (workspace_id, email_id, type, details)
        SELECT workspace_id, id, 'cancelled',
               '{"reason": "the campaign was cancelled"}'
          FROM gone;
    END IF;

    -- the status last: its event (sql/088) counts the recipients as
    -- they are now

    UPDATE campaigns
       SET status = p_to,
           started_at = CASE WHEN p_to = 'running' AND started_at IS NULL
                             THEN now() ELSE started_at END,
           cancelled_at = CASE WHEN p_to = 'cancelled' THEN now()
                               ELSE cancelled_at END,
           version = version + 1,
           updated_at = now()
     WHERE workspace_id = p_ws AND id = p_id;

    PERFORM set_config('crm.campaign_transition', 'off', true);

    -- the runner (and, on resume, the outbox) look at once
    IF p_to = 'running' THEN
        PERFORM pg_notify('crm_jobs', 'campaign');
        PERFORM pg_notify('crm_jobs', 'email');
    END IF;

    RETURN jsonb_build_object('id', p_id, 'status', p_to);
END
$$;
