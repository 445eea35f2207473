-- A campaign whose audience filter was no longer valid when its
-- recipients were made (a custom field it names deleted since it was
-- written), or that selects no contact in particular, is sent to nobody.
-- The runner said why in the error log alone: the campaign completed with
-- empty counters, and an integrator could not tell it from an audience
-- that matched nobody.  The reason is now kept with the campaign,
-- audience_problem (audienceProblem in the API, read-only, null when
-- there was none), written by the call that made the (empty)
-- recipients, and carried by the campaign's events.
--
-- Making the recipients now raises the campaign's version and updatedAt,
-- as every other change of its fields does: recipientsAt (and now
-- audienceProblem) changed under an unchanged ETag, so that a
-- conditional GET was 304 with the old values and a sync by updatedAt
-- never saw them (found by a probe).


ALTER TABLE campaigns ADD COLUMN audience_problem text;


-- db_campaign_materialize() of sql/091, restated whole with the reason
-- and the version

CREATE OR REPLACE FUNCTION db_campaign_materialize(p_ws uuid, p_id uuid,
    p_ids uuid[], p_problem text)
RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    c  record;
    n  integer;
BEGIN
    SELECT audience, materialized_at, status INTO c FROM campaigns
     WHERE workspace_id = p_ws AND id = p_id AND deleted_at IS NULL
       FOR UPDATE;

    IF NOT FOUND OR c.materialized_at IS NOT NULL
       OR c.status NOT IN ('running', 'paused')
    THEN
        RETURN NULL;
    END IF;

    INSERT INTO campaign_recipients (workspace_id, campaign_id, contact_id,
                                     email, status)
    SELECT p_ws, p_id, t.id, t.email,
           CASE WHEN t.email IS NULL OR NOT db_email_address_valid(t.email)
                THEN 'no_address'
                WHEN s.reason = 'unsubscribe' THEN 'unsubscribed'
                WHEN s.reason IS NOT NULL THEN 'suppressed'
                ELSE 'pending' END
      FROM contacts t
      LEFT JOIN suppressions s
             ON s.workspace_id = p_ws AND lower(s.email) = lower(t.email)
            AND s.deleted_at IS NULL
     WHERE t.workspace_id = p_ws AND t.deleted_at IS NULL
       AND CASE WHEN p_ids IS NOT NULL THEN t.id = ANY (p_ids)
                WHEN c.audience ? 'tags'
                THEN t.tags && ARRAY(SELECT jsonb_array_elements_text(
                                                c.audience -> 'tags'))
                WHEN c.audience ? 'contactIds'
                THEN t.id = ANY (ARRAY(SELECT jsonb_array_elements_text(
                                        c.audience -> 'contactIds'))::uuid[])
                ELSE false END
    ON CONFLICT DO NOTHING;

    GET DIAGNOSTICS n = ROW_COUNT;

    PERFORM set_config('crm.campaign_transition', 'on', true);
    UPDATE campaigns SET materialized_at = now(),
                         audience_problem = p_problem,
                         version = version + 1,
                         updated_at = now()
     WHERE workspace_id = p_ws AND id = p_id;
    PERFORM set_config('crm.campaign_transition', 'off', true);

    RETURN n;
END
$$;


-- the three-argument form, for a worker of the module before this one
-- while a deployment is upgraded: no reason

CREATE OR REPLACE FUNCTION db_campaign_materialize(p_ws uuid, p_id uuid,
    p_ids uuid[])
RETURNS integer
LANGUAGE sql AS $$
    SELECT db_campaign_materialize(p_ws, p_id, p_ids, NULL::text);
$$;


-- db_campaign_publish() of sql/088, restated whole: the record carries
-- audienceProblem, as GET renders the campaign

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
                'audienceProblem', NEW.audience_problem,
                'createdAt', db_json_time(NEW.created_at),
                'updatedAt', db_json_time(NEW.updated_at)),
                'previousStatus', OLD.status));

    RETURN NULL;
END
$$;
