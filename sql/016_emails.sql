-- The email outbox: emails, their events, and the addresses a workspace
-- never mails again (docs/EMAIL.md).
--
-- POST /emails/send inserts one row into emails; its BEFORE INSERT
-- trigger resolves the recipient (a contact id or an address), refuses
-- a suppressed address (422), and writes the "queued" event in the same
-- transaction, then wakes the delivery jobs (NOTIFY crm_jobs, 'email').
-- Nothing is sent on the request path.
--
-- The delivery job (src/jobs/crm_email_job.c) claims due rows with
-- db_email_claim(): UPDATE ... WHERE id IN (SELECT ... FOR UPDATE SKIP
-- LOCKED LIMIT n), status 'sending' and a lease, committed before any
-- SMTP traffic.  It reports each outcome with db_email_result().  A row
-- whose lease ran out (its worker was killed, its host lost) is claimed
-- again and resent with the same Message-ID.

CREATE TABLE emails (
    workspace_id    uuid        NOT NULL REFERENCES workspaces (id),
    id              uuid        NOT NULL DEFAULT gen_random_uuid(),
    contact_id      uuid,
    campaign_id     uuid,
    from_name       text,
    from_email      text,                   -- NULL: the relay's sender
    to_email        text        NOT NULL,
    to_name         text,
    cc              text[]      NOT NULL DEFAULT '{}',
    bcc             text[]      NOT NULL DEFAULT '{}',
    reply_to        text,
    subject         text        NOT NULL,
    body_text       text,
    body_html       text,
    status          text        NOT NULL DEFAULT 'queued',
    message_id      text,                   -- set by the first claim
    attempts        integer     NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    lease_until     timestamptz,
    lease_owner     text,
    sent_by         text,                   -- the worker that sent it
    smtp_code       integer,
    last_error      text,
    sent_at         timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    deleted_at      timestamptz,            -- never set: no DELETE
    PRIMARY KEY (workspace_id, id),
    CONSTRAINT emails_contact_id_fk FOREIGN KEY (workspace_id, contact_id)
        REFERENCES contacts (workspace_id, id),
    CONSTRAINT emails_status_check CHECK (status IN
        ('queued', 'sending', 'sent', 'deferred', 'bounced', 'failed',
         'suppressed', 'cancelled'))
);

CREATE INDEX emails_created ON emails (workspace_id, created_at, id);
CREATE INDEX emails_contact ON emails (workspace_id, contact_id, created_at)
    WHERE contact_id IS NOT NULL;
CREATE INDEX emails_campaign ON emails (workspace_id, campaign_id)
    WHERE campaign_id IS NOT NULL;
-- what the delivery job looks for, across workspaces
CREATE INDEX emails_due ON emails (next_attempt_at)
    WHERE status IN ('queued', 'deferred');
CREATE INDEX emails_leased ON emails (lease_until)
    WHERE status = 'sending';

CREATE TABLE email_events (
    workspace_id    uuid        NOT NULL,
    id              bigint      GENERATED ALWAYS AS IDENTITY,
    email_id        uuid        NOT NULL,
    type            text        NOT NULL,
    occurred_at     timestamptz NOT NULL DEFAULT now(),
    details         jsonb       NOT NULL DEFAULT '{}',
    PRIMARY KEY (workspace_id, id),
    -- checked at commit: the "queued" event is written by the trigger
    -- before its email row
    CONSTRAINT email_events_email_id_fk FOREIGN KEY (workspace_id, email_id)
        REFERENCES emails (workspace_id, id) DEFERRABLE INITIALLY DEFERRED,
    CONSTRAINT email_events_type_check CHECK (type IN
        ('queued', 'sent', 'deferred', 'bounced', 'failed', 'suppressed',
         'cancelled', 'opened', 'clicked', 'unsubscribed'))
);

CREATE INDEX email_events_email ON email_events (workspace_id, email_id, id);
CREATE INDEX email_events_time ON email_events (workspace_id, occurred_at);

CREATE TABLE suppressions (
    workspace_id    uuid        NOT NULL REFERENCES workspaces (id),
    id              uuid        NOT NULL DEFAULT gen_random_uuid(),
    email           text        NOT NULL,
    reason          text        NOT NULL DEFAULT 'manual',
    email_id        uuid,                   -- the email that caused it
    details         text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    deleted_at      timestamptz,
    PRIMARY KEY (workspace_id, id),
    CONSTRAINT suppressions_reason_check CHECK (reason IN
        ('hard_bounce', 'unsubscribe', 'complaint', 'manual'))
);

CREATE UNIQUE INDEX suppressions_email_live
    ON suppressions (workspace_id, lower(email)) WHERE deleted_at IS NULL;
CREATE INDEX suppressions_created ON suppressions (workspace_id, created_at, id)
    WHERE deleted_at IS NULL;

-- sends per relay per second, across every host: db_email_claim() takes
-- no more than the relay's rate in one second
CREATE UNLOGGED TABLE email_send_rate (
    relay           text        PRIMARY KEY,
    second          timestamptz NOT NULL,
    sent            integer     NOT NULL
);


-- an address as the API accepts it, and as the MIME renderer
-- (crm_mime_addr_valid()) will: an ASCII dot-atom, "@", a host name of
-- letters, digits and hyphens; no spaces, quotes, angle brackets, CR or LF

CREATE FUNCTION db_email_address_valid(p text) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
    SELECT p IS NOT NULL AND length(p) <= 254
       AND length(split_part(p, '@', 1)) <= 64
       AND p ~ ('^[A-Za-z0-9!#$%&''*+/=?^_`{|}~-]+'
                || '(\.[A-Za-z0-9!#$%&''*+/=?^_`{|}~-]+)*'
                || '@[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?'
                || '(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$')
$$;


-- whether an email of a campaign may go now: the campaigns migration
-- (020) says, a paused or cancelled campaign holds its emails back

CREATE FUNCTION db_email_campaign_sendable(p_ws uuid, p_campaign uuid)
RETURNS boolean LANGUAGE sql STABLE AS $$
    SELECT true
$$;


CREATE FUNCTION db_email_suppressed(p_ws uuid, p_email text)
RETURNS boolean LANGUAGE sql STABLE AS $$
    SELECT EXISTS (SELECT 1 FROM suppressions
                    WHERE workspace_id = p_ws AND lower(email) = lower(p_email)
                      AND deleted_at IS NULL)
$$;


CREATE FUNCTION db_email_event(p_ws uuid, p_email uuid, p_type text,
    p_details jsonb) RETURNS void
LANGUAGE sql AS $$
    INSERT INTO email_events (workspace_id, email_id, type, details)
    VALUES (p_ws, p_email, p_type, coalesce(p_details, '{}'))
$$;


-- the events of an email as the API renders them, oldest first; VOLATILE
-- so that the RETURNING of the insert sees its "queued" event

CREATE FUNCTION db_email_events(p_ws uuid, p_email uuid) RETURNS jsonb
LANGUAGE sql VOLATILE AS $$
    SELECT coalesce(jsonb_agg(jsonb_build_object(
               'type', type,
               'occurredAt', to_char(occurred_at AT TIME ZONE 'UTC',
                                     'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
               'details', details) ORDER BY id), '[]')
      FROM email_events
     WHERE workspace_id = p_ws AND email_id = p_email
$$;


CREATE FUNCTION db_email_before_insert() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    c        record;
    v_addr   text;
BEGIN
    IF NEW.to_email ~ '^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$'
    THEN
        -- "to" names a contact
        SELECT id, email, first_name, last_name INTO c
          FROM contacts
         WHERE workspace_id = NEW.workspace_id
           AND id = NEW.to_email::uuid AND deleted_at IS NULL;

        IF NOT FOUND THEN
            RAISE EXCEPTION 'the contact does not exist'
                USING ERRCODE = 'CR422', COLUMN = 'to',
                      CONSTRAINT = 'not_found';
        END IF;

        IF c.email IS NULL THEN
            RAISE EXCEPTION 'the contact has no email address'
                USING ERRCODE = 'CR422', COLUMN = 'to',
                      CONSTRAINT = 'no_address';
        END IF;

        IF NEW.contact_id IS NOT NULL AND NEW.contact_id <> c.id THEN
            RAISE EXCEPTION 'contactId names another contact than to'
                USING ERRCODE = 'CR422', COLUMN = 'contactId',
                      CONSTRAINT = 'invalid_value';
        END IF;

        NEW.contact_id := c.id;
        NEW.to_email := c.email;
        NEW.to_name := nullif(trim(concat_ws(' ', c.first_name,
                                             c.last_name)), '');

    ELSIF NOT db_email_address_valid(NEW.to_email) THEN
        RAISE EXCEPTION 'an email address or a contact id is expected'
            USING ERRCODE = 'CR422', COLUMN = 'to',
                  CONSTRAINT = 'invalid_format';

    ELSIF NEW.contact_id IS NULL THEN
        -- the contact of that address, if the workspace has one
        SELECT id INTO NEW.contact_id
          FROM contacts
         WHERE workspace_id = NEW.workspace_id
           AND lower(email) = lower(NEW.to_email) AND deleted_at IS NULL;
    END IF;

    FOREACH v_addr IN ARRAY NEW.cc || NEW.bcc LOOP
        IF NOT db_email_address_valid(v_addr) THEN
            RAISE EXCEPTION '"%" is not an email address', v_addr
                USING ERRCODE = 'CR422',
                      COLUMN = CASE WHEN v_addr = ANY (NEW.cc) THEN 'cc'
                                    ELSE 'bcc' END,
                      CONSTRAINT = 'invalid_format';
        END IF;
    END LOOP;

    IF NEW.from_email IS NOT NULL
       AND NOT db_email_address_valid(NEW.from_email)
    THEN
        RAISE EXCEPTION 'not an email address'
            USING ERRCODE = 'CR422', COLUMN = 'from',
                  CONSTRAINT = 'invalid_format';
    END IF;

    IF NEW.reply_to IS NOT NULL AND NOT db_email_address_valid(NEW.reply_to)
    THEN
        RAISE EXCEPTION 'not an email address'
            USING ERRCODE = 'CR422', COLUMN = 'replyTo',
                  CONSTRAINT = 'invalid_format';
    END IF;

    IF coalesce(NEW.body_text, '') = '' AND coalesce(NEW.body_html, '') = ''
    THEN
        RAISE EXCEPTION 'text or html is required'
            USING ERRCODE = 'CR422', COLUMN = 'text',
                  CONSTRAINT = 'required';
    END IF;

    IF db_email_suppressed(NEW.workspace_id, NEW.to_email) THEN
        RAISE EXCEPTION 'the address is suppressed in this workspace '
                        '(a hard bounce, an unsubscribe or by hand): see '
                        'GET /suppressions'
            USING ERRCODE = 'CR422', COLUMN = 'to',
                  CONSTRAINT = 'suppressed';
    END IF;

    NEW.status := 'queued';
    NEW.attempts := 0;
    NEW.next_attempt_at := now();

    PERFORM db_email_event(NEW.workspace_id, NEW.id, 'queued', NULL);

    /*
     * Wake the delivery jobs only when nothing else waits for them: a
     * NOTIFY serializes committing transactions (PostgreSQL takes a
     * global lock to queue it), which halves the inserts a second under
     * load (bench/README).  When other queued emails are due, the jobs
     * were woken for them, and a run that claims a full batch runs again
     * at once; at worst an email waits one crm_jobs_interval.
     */
    IF NOT EXISTS (SELECT 1 FROM emails
                    WHERE status = 'queued' AND next_attempt_at <= now()
                      AND NOT (workspace_id = NEW.workspace_id
                               AND id = NEW.id))
    THEN
        PERFORM pg_notify('crm_jobs', 'email');
    END IF;

    RETURN NEW;
END
$$;

CREATE TRIGGER emails_before_insert BEFORE INSERT ON emails
    FOR EACH ROW EXECUTE FUNCTION db_email_before_insert();


-- A suppression added by hand is normalised and checked like a recipient

CREATE FUNCTION db_suppression_before_write() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NOT db_email_address_valid(NEW.email) THEN
        RAISE EXCEPTION 'not an email address'
            USING ERRCODE = 'CR422', COLUMN = 'email',
                  CONSTRAINT = 'invalid_format';
    END IF;

    NEW.email := lower(NEW.email);
    RETURN NEW;
END
$$;

CREATE TRIGGER suppressions_before_write BEFORE INSERT OR UPDATE
    ON suppressions FOR EACH ROW EXECUTE FUNCTION db_suppression_before_write();


/*
 * Claims up to p_batch due emails for p_owner (a worker: host/pid) for
 * p_lease: queued or deferred rows whose time has come, and rows still
 * "sending" whose lease ran out (their worker died: they are resent with
 * the same Message-ID).  The relay's rate (sends per second, 0: none) is
 * shared by every host through email_send_rate.  A recipient suppressed
 * since the email was queued is not sent: the row ends "suppressed".
 * Runs as one statement in its own transaction: what it returns is
 * committed before the caller talks to any relay.
 */

CREATE FUNCTION db_email_claim(p_batch integer, p_lease interval,
    p_owner text, p_domain text, p_relay text, p_rate integer)
RETURNS TABLE (workspace_id uuid, id uuid, from_name text, from_email text,
               to_email text, to_name text, cc text[], bcc text[],
               reply_to text, subject text, body_text text, body_html text,
               message_id text, attempts integer, sent_at timestamptz)
LANGUAGE plpgsql AS $$
DECLARE
    v_n     integer := p_batch;
    v_now   timestamptz := date_trunc('second', clock_timestamp());
    v_used  integer;
BEGIN
    IF p_rate > 0 THEN
        INSERT INTO email_send_rate AS r (relay, second, sent)
        VALUES (p_relay, v_now, 0)
        ON CONFLICT (relay) DO UPDATE
           SET second = v_now,
               sent = CASE WHEN r.second = v_now THEN r.sent ELSE 0 END
        RETURNING r.sent INTO v_used;

        v_n := least(v_n, greatest(p_rate - v_used, 0));

        IF v_n = 0 THEN
            RETURN;
        END IF;
    END IF;

    RETURN QUERY
    WITH due AS (
        SELECT e.workspace_id, e.id
          FROM emails e
         WHERE ((e.status IN ('queued', 'deferred')
                 AND e.next_attempt_at <= now())
                OR (e.status = 'sending' AND e.lease_until < now()))
           AND (e.campaign_id IS NULL
                OR db_email_campaign_sendable(e.workspace_id, e.campaign_id))
         ORDER BY e.next_attempt_at
         LIMIT v_n
           FOR UPDATE SKIP LOCKED
    ), claimed AS (
        UPDATE emails e
           SET status = CASE WHEN db_email_suppressed(e.workspace_id,
                                                      e.to_email)
                             THEN 'suppressed' ELSE 'sending' END,
               lease_until = now() + p_lease,
               lease_owner = p_owner,
               attempts = e.attempts + 1,
               message_id = coalesce(e.message_id,
                                     '<' || e.id || '@' || p_domain || '>'),
               updated_at = now()
          FROM due
         WHERE e.workspace_id = due.workspace_id AND e.id = due.id
        RETURNING e.*
    ), gone AS (
        INSERT INTO email_events (workspace_id, email_id, type, details)
        SELECT c.workspace_id, c.id, 'suppressed',
               jsonb_build_object('reason', 'the address was suppressed '
                                            'after the email was queued')
          FROM claimed c
         WHERE c.status = 'suppressed'
    )
    SELECT c.workspace_id, c.id, c.from_name, c.from_email, c.to_email,
           c.to_name, c.cc, c.bcc, c.reply_to, c.subject, c.body_text,
           c.body_html, c.message_id, c.attempts, c.sent_at
      FROM claimed c
     WHERE c.status = 'sending';

    IF p_rate > 0 THEN
        GET DIAGNOSTICS v_used = ROW_COUNT;
        UPDATE email_send_rate SET sent = sent + v_used
         WHERE relay = p_relay;
    END IF;
END
$$;


/*
 * The outcome of one attempt, reported by the worker that holds the
 * lease (p_owner; another owner's report changes nothing and returns
 * false: the lease had run out and someone else has the row):
 *   sent      the relay accepted the message (2xx)
 *   temporary a 4xx reply or a network error: deferred with back-off
 *             p_base * 1.3^(attempts - 1), failed once the email is
 *             older than p_max_age
 *   permanent a 5xx reply: bounced (hard); the address is suppressed
 */

CREATE FUNCTION db_email_result(p_ws uuid, p_id uuid, p_owner text,
    p_outcome text, p_code integer, p_detail text, p_base interval,
    p_max_age interval)
RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    e          record;
    v_details  jsonb;
    v_next     timestamptz;
BEGIN
    SELECT * INTO e FROM emails
     WHERE workspace_id = p_ws AND id = p_id
       AND status = 'sending' AND lease_owner = p_owner
       FOR UPDATE;

    IF NOT FOUND THEN
        RETURN false;
    END IF;

    v_details := jsonb_strip_nulls(jsonb_build_object(
                     'attempt', e.attempts, 'smtpCode', p_code,
                     'message', p_detail));

    IF p_outcome = 'sent' THEN
        UPDATE emails SET status = 'sent', sent_at = now(), sent_by = p_owner,
                          smtp_code = p_code, last_error = NULL,
                          lease_until = NULL, lease_owner = NULL,
                          updated_at = now()
         WHERE workspace_id = p_ws AND id = p_id;
        PERFORM db_email_event(p_ws, p_id, 'sent', v_details);

    ELSIF p_outcome = 'permanent' THEN
        UPDATE emails SET status = 'bounced', smtp_code = p_code,
                          last_error = p_detail, lease_until = NULL,
                          lease_owner = NULL, updated_at = now()
         WHERE workspace_id = p_ws AND id = p_id;
        PERFORM db_email_event(p_ws, p_id, 'bounced',
                               v_details || '{"kind": "hard"}');

        INSERT INTO suppressions (workspace_id, email, reason, email_id,
                                  details)
        VALUES (p_ws, e.to_email, 'hard_bounce', p_id,
                concat_ws(' ', p_code, p_detail))
        ON CONFLICT DO NOTHING;

    ELSE
        v_next := now() + p_base * power(1.3, greatest(e.attempts - 1, 0));

        IF v_next > e.created_at + p_max_age THEN
            UPDATE emails SET status = 'failed', smtp_code = p_code,
                              last_error = p_detail, lease_until = NULL,
                              lease_owner = NULL, updated_at = now()
             WHERE workspace_id = p_ws AND id = p_id;
            PERFORM db_email_event(p_ws, p_id, 'failed', v_details);

        ELSE
            UPDATE emails SET status = 'deferred', smtp_code = p_code,
                              last_error = p_detail, next_attempt_at = v_next,
                              lease_until = NULL, lease_owner = NULL,
                              updated_at = now()
             WHERE workspace_id = p_ws AND id = p_id;
            PERFORM db_email_event(p_ws, p_id, 'deferred',
                v_details || jsonb_build_object('nextAttemptAt',
                    to_char(v_next AT TIME ZONE 'UTC',
                            'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')));
        END IF;
    END IF;

    RETURN true;
END
$$;


-- Claimed rows a stopping worker did not start: back to the queue as
-- they were, without the attempt

CREATE FUNCTION db_email_release(p_owner text, p_ws uuid[], p_ids uuid[])
RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    n  integer;
BEGIN
    UPDATE emails e
       SET status = CASE WHEN e.attempts > 1 THEN 'deferred'
                         ELSE 'queued' END,
           attempts = e.attempts - 1, lease_until = NULL, lease_owner = NULL,
           next_attempt_at = now()
      FROM unnest(p_ws, p_ids) AS r (workspace_id, id)
     WHERE e.workspace_id = r.workspace_id AND e.id = r.id
       AND e.status = 'sending' AND e.lease_owner = p_owner;

    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END
$$;
