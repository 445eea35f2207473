-- Campaigns: an ordinary resource with a state machine (docs/CAMPAIGNS.md).
--
--   draft -> scheduled (start with a future scheduledAt) | running (start)
--   scheduled -> running (start, or the scheduler when scheduledAt comes)
--   running -> paused (pause) -> running (resume)
--   running -> completed (every recipient has a final state)
--   draft | scheduled | running | paused -> cancelled (cancel)
--
-- Each transition is one UPDATE guarded by the state it leaves, so that
-- two callers (two API requests, two schedulers on two hosts) cannot
-- both make it: the second finds the row in another state and gets 409
-- INVALID_STATE (SQLSTATE CR409, src/http/crm_exec.c).  Only a draft
-- takes changes of its content or audience; a campaign that is not
-- final takes changes of its name, scheduledAt and sendRate; a final
-- one (completed, cancelled) takes none; a campaign that may be sending
-- (scheduled, running, paused) cannot be deleted.
--
-- The recipients table is filled once when the campaign starts (one row
-- per contact: the key is (campaign, contact)); the runner that does it
-- and sends through the email outbox is the next slice of this issue.

CREATE TABLE campaigns (
    workspace_id    uuid        NOT NULL REFERENCES workspaces (id),
    id              uuid        NOT NULL DEFAULT gen_random_uuid(),
    name            text        NOT NULL,
    subject         text        NOT NULL,
    from_name       text,
    from_email      text,
    reply_to        text,
    body_html       text,
    body_text       text,
    audience        jsonb       NOT NULL,
    scheduled_at    timestamptz,
    send_rate       integer,                -- emails a minute; NULL: no cap
    status          text        NOT NULL DEFAULT 'draft',
    started_at      timestamptz,
    completed_at    timestamptz,
    cancelled_at    timestamptz,
    version         integer     NOT NULL DEFAULT 1,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    deleted_at      timestamptz,
    PRIMARY KEY (workspace_id, id),
    CONSTRAINT campaigns_status_check CHECK (status IN
        ('draft', 'scheduled', 'running', 'paused', 'completed',
         'cancelled')),
    CONSTRAINT campaigns_send_rate_check CHECK (send_rate > 0),
    CONSTRAINT campaigns_from_email_check
        CHECK (from_email IS NULL OR db_email_address_valid(from_email)),
    CONSTRAINT campaigns_reply_to_check
        CHECK (reply_to IS NULL OR db_email_address_valid(reply_to))
);

CREATE INDEX campaigns_created ON campaigns (workspace_id, created_at, id)
    WHERE deleted_at IS NULL;
-- what the scheduler looks for, across workspaces
CREATE INDEX campaigns_due ON campaigns (scheduled_at)
    WHERE status = 'scheduled' AND deleted_at IS NULL;

CREATE TABLE campaign_recipients (
    workspace_id    uuid        NOT NULL,
    campaign_id     uuid        NOT NULL,
    contact_id      uuid        NOT NULL,
    email           text,
    status          text        NOT NULL DEFAULT 'pending',
    email_id        uuid,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (workspace_id, campaign_id, contact_id),
    CONSTRAINT campaign_recipients_campaign_id_fk
        FOREIGN KEY (workspace_id, campaign_id)
        REFERENCES campaigns (workspace_id, id),
    CONSTRAINT campaign_recipients_status_check CHECK (status IN
        ('pending', 'queued', 'sent', 'bounced', 'failed', 'suppressed',
         'unsubscribed', 'no_address', 'cancelled'))
);

CREATE INDEX campaign_recipients_status
    ON campaign_recipients (workspace_id, campaign_id, status);

ALTER TABLE emails
    ADD CONSTRAINT emails_campaign_id_fk FOREIGN KEY (workspace_id, campaign_id)
        REFERENCES campaigns (workspace_id, id);


-- the campaign's recipients by state, for its "counters" field

CREATE FUNCTION db_campaign_counters(p_ws uuid, p_id uuid) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT coalesce(jsonb_object_agg(status, n), '{}')
      FROM (SELECT status, count(*) AS n
              FROM campaign_recipients
             WHERE workspace_id = p_ws AND campaign_id = p_id
             GROUP BY status) s
$$;


CREATE FUNCTION db_campaign_before_write() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        IF NEW.status <> 'draft' THEN
            RAISE EXCEPTION 'a campaign is created as a draft'
                USING ERRCODE = 'CR422', COLUMN = 'status',
                      CONSTRAINT = 'read_only';
        END IF;

        RETURN NEW;
    END IF;

    -- the state machine's own changes (db_campaign_*) set this
    IF current_setting('crm.campaign_transition', true) = 'on' THEN
        RETURN NEW;
    END IF;

    IF NEW.deleted_at IS NOT NULL AND OLD.deleted_at IS NULL THEN
        IF OLD.status IN ('scheduled', 'running', 'paused') THEN
            RAISE EXCEPTION 'a % campaign cannot be deleted: cancel it first',
                            OLD.status
                USING ERRCODE = 'CR409';
        END IF;

        RETURN NEW;
    END IF;

    IF OLD.status IN ('completed', 'cancelled') THEN
        RAISE EXCEPTION 'a % campaign cannot be changed', OLD.status
            USING ERRCODE = 'CR409';
    END IF;

    IF OLD.status <> 'draft'
       AND (NEW.subject IS DISTINCT FROM OLD.subject
            OR NEW.from_name IS DISTINCT FROM OLD.from_name
            OR NEW.from_email IS DISTINCT FROM OLD.from_email
            OR NEW.reply_to IS DISTINCT FROM OLD.reply_to
            OR NEW.body_html IS DISTINCT FROM OLD.body_html
            OR NEW.body_text IS DISTINCT FROM OLD.body_text
            OR NEW.audience IS DISTINCT FROM OLD.audience)
    THEN
        RAISE EXCEPTION 'the content and audience of a % campaign cannot '
                        'change (only a draft can be edited freely)',
                        OLD.status
            USING ERRCODE = 'CR409';
    END IF;

    IF NEW.status IS DISTINCT FROM OLD.status THEN
        RAISE EXCEPTION 'the status changes by start, pause, resume and '
                        'cancel only'
            USING ERRCODE = 'CR409';
    END IF;

    RETURN NEW;
END
$$;

CREATE TRIGGER campaigns_before_write BEFORE INSERT OR UPDATE ON campaigns
    FOR EACH ROW EXECUTE FUNCTION db_campaign_before_write();


/*
 * One transition: from one of p_from to p_to, or 409 naming the state
 * the campaign is in.  NULL when there is no such campaign (404).
 */

CREATE FUNCTION db_campaign_move(p_ws uuid, p_id uuid, p_from text[],
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

    UPDATE campaigns
       SET status = p_to,
           started_at = CASE WHEN p_to = 'running' AND started_at IS NULL
                             THEN now() ELSE started_at END,
           cancelled_at = CASE WHEN p_to = 'cancelled' THEN now()
                               ELSE cancelled_at END,
           version = version + 1,
           updated_at = now()
     WHERE workspace_id = p_ws AND id = p_id;

    IF p_to = 'cancelled' THEN
        -- what was not handed to the outbox is dropped
        UPDATE campaign_recipients
           SET status = 'cancelled', updated_at = now()
         WHERE workspace_id = p_ws AND campaign_id = p_id
           AND status = 'pending';
    END IF;

    PERFORM set_config('crm.campaign_transition', 'off', true);

    RETURN jsonb_build_object('id', p_id, 'status', p_to);
END
$$;


-- start: now, or at scheduledAt when that is in the future

CREATE FUNCTION db_campaign_start(p_ws uuid, p_id uuid, p_body jsonb)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    v_at  timestamptz;
BEGIN
    SELECT scheduled_at INTO v_at FROM campaigns
     WHERE workspace_id = p_ws AND id = p_id AND deleted_at IS NULL;

    IF v_at IS NOT NULL AND v_at > now() THEN
        RETURN db_campaign_move(p_ws, p_id, '{draft}', 'scheduled',
                                'scheduled');
    END IF;

    RETURN db_campaign_move(p_ws, p_id, '{draft,scheduled}', 'running',
                            'started');
END
$$;


CREATE FUNCTION db_campaign_pause(p_ws uuid, p_id uuid, p_body jsonb)
RETURNS jsonb LANGUAGE sql AS $$
    SELECT db_campaign_move(p_ws, p_id, '{running}', 'paused', 'paused')
$$;


CREATE FUNCTION db_campaign_resume(p_ws uuid, p_id uuid, p_body jsonb)
RETURNS jsonb LANGUAGE sql AS $$
    SELECT db_campaign_move(p_ws, p_id, '{paused}', 'running', 'resumed')
$$;


CREATE FUNCTION db_campaign_cancel(p_ws uuid, p_id uuid, p_body jsonb)
RETURNS jsonb LANGUAGE sql AS $$
    SELECT db_campaign_move(p_ws, p_id, '{draft,scheduled,running,paused}',
                            'cancelled', 'cancelled')
$$;


/*
 * The scheduler's claim: every scheduled campaign whose time has come
 * becomes running, exactly once however many schedulers run (the UPDATE
 * re-checks the status of a row another transaction changed first)
 */

CREATE FUNCTION db_campaigns_due() RETURNS SETOF uuid
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM set_config('crm.campaign_transition', 'on', true);

    RETURN QUERY
    UPDATE campaigns
       SET status = 'running', started_at = now(), version = version + 1,
           updated_at = now()
     WHERE status = 'scheduled' AND scheduled_at <= now()
       AND deleted_at IS NULL
    RETURNING id;

    PERFORM set_config('crm.campaign_transition', 'off', true);
END
$$;
