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
-- The runner (src/jobs/crm_campaign_job.c) materialises the recipients
-- once when the campaign runs (db_campaign_materialize(): one row per
-- contact, the key is (campaign, contact)), hands them to the email
-- outbox in small leased batches (db_campaign_claim(), then
-- db_campaign_queue() with the rendered messages), and completes the
-- campaign when every recipient has a final state (db_campaigns_complete()).

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
    materialized_at timestamptz,            -- its recipients are known
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
    lease_until     timestamptz,            -- while "rendering"
    lease_owner     text,
    queued_at       timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    deleted_at      timestamptz,            -- never set (the list's)
    PRIMARY KEY (workspace_id, campaign_id, contact_id),
    CONSTRAINT campaign_recipients_campaign_id_fk
        FOREIGN KEY (workspace_id, campaign_id)
        REFERENCES campaigns (workspace_id, id),
    CONSTRAINT campaign_recipients_status_check CHECK (status IN
        ('pending', 'rendering', 'queued', 'sent', 'bounced', 'failed',
         'suppressed', 'unsubscribed', 'no_address', 'cancelled'))
);

CREATE INDEX campaign_recipients_status
    ON campaign_recipients (workspace_id, campaign_id, status);
-- GET /campaigns/:id/recipients, newest first by default
CREATE INDEX campaign_recipients_created
    ON campaign_recipients (workspace_id, campaign_id, created_at,
                            contact_id);

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

    PERFORM set_config('crm.campaign_transition', 'off', true);

    -- the runner (and, on resume, the outbox) look at once
    IF p_to = 'running' THEN
        PERFORM pg_notify('crm_jobs', 'campaign');
        PERFORM pg_notify('crm_jobs', 'email');
    END IF;

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


-- a paused or cancelled campaign holds back its emails in the outbox
-- (db_email_claim(), sql/016): a pause stops sending within one poll

CREATE OR REPLACE FUNCTION db_email_campaign_sendable(p_ws uuid,
    p_campaign uuid)
RETURNS boolean LANGUAGE sql STABLE AS $$
    SELECT EXISTS (SELECT 1 FROM campaigns
                    WHERE workspace_id = p_ws AND id = p_campaign
                      AND status = 'running')
$$;


-- a row's JSON keys in camelCase, as the API names fields (first_name ->
-- firstName), for merge fields

CREATE FUNCTION db_json_camel(p jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
    SELECT coalesce(jsonb_object_agg(
               lower(left(key, 1))
               || substr(replace(initcap(key), '_', ''), 2), value), '{}')
      FROM jsonb_each(p)
$$;


/*
 * The recipients of a running campaign, once: the contacts of its
 * audience (p_ids: the ids the planner found for a filter; NULL for tags
 * and contactIds, read here), one row per contact.  Contacts without an
 * address, suppressed or unsubscribed are kept as such (counted, never
 * sent to).  A second call, on this host or another, does nothing.
 */

CREATE FUNCTION db_campaign_materialize(p_ws uuid, p_id uuid, p_ids uuid[])
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
        RETURN 0;
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
    UPDATE campaigns SET materialized_at = now()
     WHERE workspace_id = p_ws AND id = p_id;
    PERFORM set_config('crm.campaign_transition', 'off', true);

    RETURN n;
END
$$;


/*
 * Claims up to p_batch recipients of running campaigns for p_owner for
 * p_lease ("rendering"), within each campaign's sendRate (emails a
 * minute), with what the worker needs to render their messages: the
 * contact and its company as JSON with the API's names, the campaign's
 * templates.  A recipient whose address was suppressed since the start
 * is marked so instead.  Committed before anything is queued: a worker
 * that dies leaves leased rows that come back when the lease ends.
 */

CREATE FUNCTION db_campaign_claim(p_batch integer, p_lease interval,
    p_owner text)
RETURNS TABLE (workspace_id uuid, campaign_id uuid, contact_id uuid,
               email text, contact jsonb, company jsonb, subject text,
               body_text text, body_html text)
LANGUAGE plpgsql AS $$
DECLARE
    c       record;
    v_left  integer := p_batch;
    v_n     integer;
BEGIN
    FOR c IN SELECT k.workspace_id, k.id, k.send_rate
               FROM campaigns k
              WHERE k.status = 'running' AND k.materialized_at IS NOT NULL
                AND k.deleted_at IS NULL
              ORDER BY k.started_at
    LOOP
        EXIT WHEN v_left <= 0;

        v_n := v_left;

        IF c.send_rate IS NOT NULL THEN
            v_n := least(v_n, greatest(c.send_rate - (
                       SELECT count(*) FROM campaign_recipients r
                        WHERE r.workspace_id = c.workspace_id
                          AND r.campaign_id = c.id
                          AND r.queued_at > now() - interval '1 minute'), 0));
        END IF;

        CONTINUE WHEN v_n <= 0;

        RETURN QUERY
        WITH due AS (
            SELECT r.workspace_id, r.campaign_id, r.contact_id
              FROM campaign_recipients r
             WHERE r.workspace_id = c.workspace_id AND r.campaign_id = c.id
               AND (r.status = 'pending'
                    OR (r.status = 'rendering' AND r.lease_until < now()))
             LIMIT v_n
               FOR UPDATE SKIP LOCKED
        ), claimed AS (
            -- an address suppressed since the start: marked, not sent
            UPDATE campaign_recipients r
               SET status = CASE WHEN db_email_suppressed(r.workspace_id,
                                                          r.email)
                                 THEN 'suppressed' ELSE 'rendering' END,
                   lease_until = now() + p_lease,
                   lease_owner = p_owner, queued_at = now(),
                   updated_at = now()
              FROM due
             WHERE r.workspace_id = due.workspace_id
               AND r.campaign_id = due.campaign_id
               AND r.contact_id = due.contact_id
            RETURNING r.workspace_id, r.campaign_id, r.contact_id, r.email,
                      r.status
        )
        SELECT cl.workspace_id, cl.campaign_id, cl.contact_id, cl.email,
               db_json_camel(to_jsonb(t) - 'workspace_id' - 'deleted_at'
                             - 'search' - 'version'),
               (SELECT db_json_camel(to_jsonb(co) - 'workspace_id'
                                     - 'deleted_at' - 'search' - 'version')
                  FROM companies co
                 WHERE co.workspace_id = t.workspace_id
                   AND co.id = t.company_id AND co.deleted_at IS NULL),
               k.subject, k.body_text, k.body_html
          FROM claimed cl
          JOIN contacts t ON t.workspace_id = cl.workspace_id
                         AND t.id = cl.contact_id
                         AND cl.status = 'rendering'
          JOIN campaigns k ON k.workspace_id = cl.workspace_id
                          AND k.id = cl.campaign_id;

        GET DIAGNOSTICS v_n = ROW_COUNT;
        v_left := v_left - v_n;
    END LOOP;
END
$$;


/*
 * The rendered messages of claimed recipients (p_rows: [{"ws", "campaign",
 * "contact", "subject", "text", "html"}]) become emails of the outbox,
 * for the recipients p_owner still holds (a lease that ran out gives
 * them to another worker: nothing is queued twice).  One transaction:
 * the emails and the recipients' "queued" commit together.
 */

CREATE FUNCTION db_campaign_queue(p_owner text, p_rows jsonb)
RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    n  integer;
BEGIN
    WITH r AS (
        SELECT x.ws, x.campaign, x.contact, x.subject, x.text, x.html
          FROM jsonb_to_recordset(p_rows)
               AS x (ws uuid, campaign uuid, contact uuid, subject text,
                     text text, html text)
    ), held AS (
        SELECT cr.workspace_id, cr.campaign_id, cr.contact_id, cr.email,
               r.subject, r.text, r.html
          FROM campaign_recipients cr
          JOIN r ON cr.workspace_id = r.ws AND cr.campaign_id = r.campaign
                AND cr.contact_id = r.contact
         WHERE cr.status = 'rendering' AND cr.lease_owner = p_owner
           FOR UPDATE OF cr
    ), made AS (
        INSERT INTO emails (workspace_id, campaign_id, contact_id, to_email,
                            from_name, from_email, reply_to, subject,
                            body_text, body_html)
        SELECT h.workspace_id, h.campaign_id, h.contact_id, h.email,
               k.from_name, k.from_email, k.reply_to, h.subject,
               nullif(h.text, ''), nullif(h.html, '')
          FROM held h
          JOIN campaigns k ON k.workspace_id = h.workspace_id
                          AND k.id = h.campaign_id
        RETURNING workspace_id, campaign_id, contact_id, id
    ), done AS (
        UPDATE campaign_recipients cr
           SET status = 'queued', email_id = m.id, lease_until = NULL,
               lease_owner = NULL, updated_at = now()
          FROM made m
         WHERE cr.workspace_id = m.workspace_id
           AND cr.campaign_id = m.campaign_id
           AND cr.contact_id = m.contact_id
        RETURNING 1
    )
    SELECT count(*) INTO n FROM done;

    RETURN n;
END
$$;


-- a campaign email's state is its recipient's

CREATE FUNCTION db_campaign_email_status() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE campaign_recipients
       SET status = CASE NEW.status
                        WHEN 'sent' THEN 'sent'
                        WHEN 'bounced' THEN 'bounced'
                        WHEN 'failed' THEN 'failed'
                        WHEN 'suppressed' THEN 'suppressed'
                        WHEN 'cancelled' THEN 'cancelled'
                        ELSE 'queued' END,
           updated_at = now()
     WHERE workspace_id = NEW.workspace_id
       AND campaign_id = NEW.campaign_id AND contact_id = NEW.contact_id
       AND email_id = NEW.id;

    RETURN NULL;
END
$$;

CREATE TRIGGER emails_campaign_status AFTER UPDATE OF status ON emails
    FOR EACH ROW WHEN (NEW.campaign_id IS NOT NULL
                       AND NEW.status IS DISTINCT FROM OLD.status)
    EXECUTE FUNCTION db_campaign_email_status();


/*
 * Running campaigns whose recipients all have a final state complete.
 * Not before their recipients are known (materialized_at): a campaign
 * whose first batches were all excluded, or one whose workers restarted,
 * is not finished because nothing is in flight at that moment.
 */

CREATE FUNCTION db_campaigns_complete() RETURNS SETOF uuid
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM set_config('crm.campaign_transition', 'on', true);

    RETURN QUERY
    UPDATE campaigns k
       SET status = 'completed', completed_at = now(),
           version = version + 1, updated_at = now()
     WHERE k.status = 'running' AND k.materialized_at IS NOT NULL
       AND k.deleted_at IS NULL
       AND NOT EXISTS (SELECT 1 FROM campaign_recipients r
                        WHERE r.workspace_id = k.workspace_id
                          AND r.campaign_id = k.id
                          AND r.status IN ('pending', 'rendering', 'queued'))
    RETURNING k.id;

    PERFORM set_config('crm.campaign_transition', 'off', true);
END
$$;


/*
 * A campaign's transitions are events of the feed (sql/018), in the
 * transaction of the transition: campaign.scheduled, .started, .paused,
 * .resumed, .completed, .cancelled.  The record is the campaign's row
 * with the API's names (the planner renders it for the API itself).
 */

CREATE FUNCTION db_campaign_publish() RETURNS trigger
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
            jsonb_build_object('object',
                db_json_camel(to_jsonb(NEW) - 'workspace_id' - 'deleted_at'
                              - 'materialized_at')
                || jsonb_build_object('html', NEW.body_html,
                                      'text', NEW.body_text)
                - 'bodyHtml' - 'bodyText',
                'previousStatus', OLD.status));

    RETURN NULL;
END
$$;

CREATE TRIGGER campaigns_publish AFTER UPDATE OF status ON campaigns
    FOR EACH ROW WHEN (NEW.status IS DISTINCT FROM OLD.status)
    EXECUTE FUNCTION db_campaign_publish();
