-- Events and webhooks: docs/WEBHOOKS.md.
--
-- events          one row per change, written by the statement that
--                 makes the change (the planner's INSERT/UPDATE/DELETE
--                 carries it in a CTE, src/model/crm_sql.c), by
--                 db_lead_convert_rows() and by a trigger of
--                 email_events: it exists if and only if the change
--                 committed.  "data" is {"object": <the record as the
--                 API renders it>[, "changes": [<fields the write set>]]}.
-- webhooks        subscriptions: url, event patterns, a signing secret
--                 (whsec_ + base64), the previous one for 24 h after a
--                 rotation.
-- webhook_deliveries
--                 one row per (event, subscription), made by the event's
--                 trigger; claimed by the "webhook" job with a lease,
--                 oldest first per (subscription, record).


-- ---------------------------------------------------------------- events

CREATE TABLE events (
    workspace_id    uuid        NOT NULL REFERENCES workspaces (id),
    id              text        NOT NULL
                    DEFAULT 'evt_' || encode(gen_random_bytes(16), 'hex'),
    seq             bigint      GENERATED ALWAYS AS IDENTITY,
    type            text        NOT NULL,
    record_id       uuid,
    data            jsonb       NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    deleted_at      timestamptz,
    PRIMARY KEY (workspace_id, id)
);

CREATE INDEX events_created ON events (workspace_id, created_at, id);
CREATE INDEX events_seq ON events (workspace_id, seq);
CREATE INDEX events_type ON events (workspace_id, type, created_at);
CREATE INDEX events_age ON events (created_at);


-- ---------------------------------------------------------------- webhooks

/*
 * An event pattern: "*", "<name>.*" or "<name>.<name>" (names are lower
 * case letters, digits and "_")
 */

CREATE FUNCTION db_webhook_pattern_valid(p text) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
    SELECT p = '*' OR p ~ '^[a-z][a-z0-9_]*\.([a-z][a-z0-9_]*|\*)$'
$$;


CREATE FUNCTION db_webhook_matches(p_patterns text[], p_type text)
RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
    SELECT EXISTS (SELECT 1 FROM unnest(p_patterns) p
                    WHERE p = '*' OR p = p_type
                       OR (right(p, 2) = '.*'
                           AND left(p_type, length(p) - 1)
                               = left(p, length(p) - 1)))
$$;


CREATE TABLE webhooks (
    workspace_id          uuid        NOT NULL REFERENCES workspaces (id),
    id                    uuid        NOT NULL DEFAULT gen_random_uuid(),
    url                   text        NOT NULL,
    events                text[]      NOT NULL DEFAULT '{*}',
    active                boolean     NOT NULL DEFAULT true,
    description           text,
    secret                text        NOT NULL,
    previous_secret       text,
    previous_secret_until timestamptz,
    disabled_reason       text,
    disabled_at           timestamptz,
    failing_since         timestamptz,
    version               integer     NOT NULL DEFAULT 1,
    created_at            timestamptz NOT NULL DEFAULT now(),
    updated_at            timestamptz NOT NULL DEFAULT now(),
    deleted_at            timestamptz,
    PRIMARY KEY (workspace_id, id),
    CONSTRAINT webhooks_secret_check
        CHECK (secret ~ '^whsec_[A-Za-z0-9+/]{32,88}={0,2}$')
);

CREATE INDEX webhooks_created ON webhooks (workspace_id, created_at, id)
    WHERE deleted_at IS NULL;
CREATE INDEX webhooks_active ON webhooks (workspace_id)
    WHERE deleted_at IS NULL AND active;


/*
 * The URL and the patterns, with errors the API reports per field
 * (SQLSTATE CR422: COLUMN the field, CONSTRAINT the code).  Workers
 * resolve no names: a URL's host is an IP literal (docs/WEBHOOKS.md).
 * A rotated secret keeps signing for 24 hours; re-activating a
 * subscription clears why it was disabled.
 */

CREATE FUNCTION db_webhook_before_write() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    p  text;
BEGIN
    IF NEW.url !~ '^https?://' THEN
        RAISE EXCEPTION 'the URL must be http:// or https://'
            USING ERRCODE = 'CR422', COLUMN = 'url',
                  CONSTRAINT = 'invalid_format';
    END IF;

    IF NEW.url !~ '^https?://([0-9]{1,3}(\.[0-9]{1,3}){3}|\[[0-9A-Fa-f:.]+\])(:[0-9]{1,5})?([/?#][^[:space:]]*)?$'
    THEN
        RAISE EXCEPTION 'the URL''s host must be an IP address: host names '
                        'are not resolved (docs/WEBHOOKS.md)'
            USING ERRCODE = 'CR422', COLUMN = 'url',
                  CONSTRAINT = 'host_name';
    END IF;

    IF cardinality(NEW.events) = 0 THEN
        RAISE EXCEPTION 'at least one event pattern'
            USING ERRCODE = 'CR422', COLUMN = 'events',
                  CONSTRAINT = 'required';
    END IF;

    FOREACH p IN ARRAY NEW.events LOOP
        IF p IS NULL OR NOT db_webhook_pattern_valid(p) THEN
            RAISE EXCEPTION 'an event pattern is "*", "contact.*" or '
                            '"contact.created"'
                USING ERRCODE = 'CR422', COLUMN = 'events',
                      CONSTRAINT = 'invalid_value';
        END IF;
    END LOOP;

    IF TG_OP = 'UPDATE' THEN
        IF NEW.secret IS DISTINCT FROM OLD.secret THEN
            NEW.previous_secret := OLD.secret;
            NEW.previous_secret_until := now() + interval '24 hours';
        END IF;

        IF NEW.active AND NOT OLD.active THEN
            NEW.disabled_reason := NULL;
            NEW.disabled_at := NULL;
            NEW.failing_since := NULL;
        END IF;
    END IF;

    RETURN NEW;
END
$$;

CREATE TRIGGER webhooks_before_write BEFORE INSERT OR UPDATE ON webhooks
    FOR EACH ROW EXECUTE FUNCTION db_webhook_before_write();


-- ---------------------------------------------------------------- deliveries

CREATE TABLE webhook_deliveries (
    workspace_id      uuid        NOT NULL,
    id                uuid        NOT NULL DEFAULT gen_random_uuid(),
    seq               bigint      GENERATED ALWAYS AS IDENTITY,
    webhook_id        uuid        NOT NULL,
    event_id          text        NOT NULL,
    event_type        text        NOT NULL,
    -- deliveries of one record to one subscription go in this order
    record_key        text        NOT NULL,
    status            text        NOT NULL DEFAULT 'pending',
    attempts          integer     NOT NULL DEFAULT 0,
    next_attempt_at   timestamptz NOT NULL DEFAULT now(),
    lease_until       timestamptz,
    lease_owner       text,
    response_status   integer,
    response_body     text,
    response_truncated boolean    NOT NULL DEFAULT false,
    duration_ms       integer,
    last_error        text,
    last_attempt_at   timestamptz,
    delivered_at      timestamptz,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    deleted_at        timestamptz,
    PRIMARY KEY (workspace_id, id),
    CONSTRAINT webhook_deliveries_webhook_id_fk
        FOREIGN KEY (workspace_id, webhook_id)
        REFERENCES webhooks (workspace_id, id),
    -- retention removes an event with its deliveries
    CONSTRAINT webhook_deliveries_event_id_fk
        FOREIGN KEY (workspace_id, event_id)
        REFERENCES events (workspace_id, id) ON DELETE CASCADE,
    CONSTRAINT webhook_deliveries_status_check CHECK (status IN
        ('pending', 'sending', 'succeeded', 'failed'))
);

CREATE INDEX webhook_deliveries_created
    ON webhook_deliveries (workspace_id, created_at, id);
CREATE INDEX webhook_deliveries_webhook
    ON webhook_deliveries (workspace_id, webhook_id, created_at, id);
CREATE INDEX webhook_deliveries_event
    ON webhook_deliveries (workspace_id, event_id);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at)
    WHERE status = 'pending';
CREATE INDEX webhook_deliveries_leased ON webhook_deliveries (lease_until)
    WHERE status = 'sending';
CREATE INDEX webhook_deliveries_open
    ON webhook_deliveries (workspace_id, webhook_id, record_key, seq)
    WHERE status IN ('pending', 'sending');


/*
 * A new event: one delivery per active subscription whose patterns
 * match, and a wake-up of the delivery job at commit.  Test pings
 * (webhook.test) go only where db_webhook_test() sends them.
 */

CREATE FUNCTION db_event_fanout() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.type = 'webhook.test' THEN
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

CREATE TRIGGER events_fanout AFTER INSERT ON events
    FOR EACH ROW EXECUTE FUNCTION db_event_fanout();


-- email.<type>: every email event, in the same transaction

CREATE FUNCTION db_email_event_publish() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO events (workspace_id, type, record_id, data)
    VALUES (NEW.workspace_id, 'email.' || NEW.type, NEW.email_id,
            jsonb_build_object('object', jsonb_build_object(
                'emailId', NEW.email_id,
                'type', NEW.type,
                'occurredAt', to_char(NEW.occurred_at AT TIME ZONE 'UTC',
                                      'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
                'details', NEW.details)));
    RETURN NULL;
END
$$;

CREATE TRIGGER email_events_publish AFTER INSERT ON email_events
    FOR EACH ROW EXECUTE FUNCTION db_email_event_publish();


/*
 * Lead conversion with the rows it made, for the planner to render as
 * events (lead.converted, contact.created, company.created,
 * deal.created) in the same statement
 */

CREATE FUNCTION db_lead_convert_rows(p_workspace uuid, p_lead uuid,
    p_options jsonb)
RETURNS TABLE (result jsonb, lead leads, contact contacts,
               company companies, deal deals)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    r  jsonb;
BEGIN
    r := db_lead_convert(p_workspace, p_lead, p_options);

    RETURN QUERY
    SELECT r,
           (SELECT l FROM leads l WHERE l.workspace_id = p_workspace
               AND l.id = (r ->> 'leadId')::uuid),
           (SELECT c FROM contacts c WHERE c.workspace_id = p_workspace
               AND c.id = (r ->> 'contactId')::uuid),
           (SELECT c FROM companies c WHERE c.workspace_id = p_workspace
               AND c.id = (r ->> 'companyId')::uuid),
           (SELECT d FROM deals d WHERE d.workspace_id = p_workspace
               AND d.id = (r ->> 'dealId')::uuid);
END
$$;


/*
 * Bulk runs planner statements that may now be WITH queries with data
 * changing parts, which cannot be nested in another WITH: each is
 * executed as it is, its first row read as a record.
 */

CREATE OR REPLACE FUNCTION db_bulk(p_workspace uuid, p_ops jsonb,
    p_atomic boolean)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE SECURITY INVOKER
AS $$
DECLARE
    v_op         jsonb;
    v_params     text[];
    v_cols       text[];
    v_row        record;
    v_n          bigint;
    v_results    jsonb := '[]';
    v_failed     boolean := false;
    v_rolled     boolean := false;
    v_state      text;
    v_message    text;
    v_constraint text;
    v_column     text;
BEGIN
    BEGIN
        FOR v_op IN SELECT value FROM jsonb_array_elements(p_ops)
                    WITH ORDINALITY AS o (value, n) ORDER BY n
        LOOP
            v_params := ARRAY(SELECT e
                                FROM jsonb_array_elements_text(v_op -> 'params')
                                     WITH ORDINALITY AS x (e, n)
                               ORDER BY n);

            IF v_params[1] IS DISTINCT FROM p_workspace::text THEN
                RAISE EXCEPTION 'crm_bulk: a statement for another workspace';
            END IF;

            BEGIN
                EXECUTE (v_op ->> 'sql') INTO v_row USING v_params;
                GET DIAGNOSTICS v_n = ROW_COUNT;

                IF v_n > 0 THEN
                    v_cols := ARRAY(SELECT value FROM
                                    json_each_text(row_to_json(v_row)));
                ELSE
                    v_cols := NULL;
                    v_failed := true;
                END IF;

                v_results := v_results
                             || jsonb_build_object('cols', to_jsonb(v_cols));

            EXCEPTION WHEN OTHERS THEN
                GET STACKED DIAGNOSTICS
                    v_state = RETURNED_SQLSTATE,
                    v_message = MESSAGE_TEXT,
                    v_constraint = CONSTRAINT_NAME,
                    v_column = COLUMN_NAME;

                v_failed := true;
                v_results := v_results || jsonb_build_object('error',
                    jsonb_build_object('state', v_state,
                                       'message', v_message,
                                       'constraint', nullif(v_constraint, ''),
                                       'column', nullif(v_column, '')));
            END;

            IF p_atomic AND v_failed THEN
                RAISE EXCEPTION USING ERRCODE = 'CR000';
            END IF;
        END LOOP;

    EXCEPTION WHEN SQLSTATE 'CR000' THEN
        v_rolled := true;
    END;

    RETURN jsonb_build_object('rolledBack', v_rolled, 'results', v_results);
END
$$;


-- ---------------------------------------------------------------- delivery

/*
 * Claims up to p_batch due deliveries for p_owner for p_lease: pending
 * ones whose time has come and that are the oldest open delivery of
 * their record to their subscription (commit order per record), and
 * "sending" ones whose lease ran out (their worker died).  Committed
 * before any HTTP traffic.  Returns what the request needs: the URL, the
 * secrets (the previous one while it is valid), the event id and body.
 */

CREATE FUNCTION db_webhook_claim(p_batch integer, p_lease interval,
    p_owner text)
RETURNS TABLE (workspace_id uuid, id uuid, url text, secret text,
               previous_secret text, event_id text, body text,
               attempts integer)
LANGUAGE plpgsql AS $$
BEGIN
    RETURN QUERY
    WITH due AS (
        SELECT d.workspace_id, d.id
          FROM webhook_deliveries d
          JOIN webhooks w ON w.workspace_id = d.workspace_id
                         AND w.id = d.webhook_id
         WHERE ((d.status = 'pending' AND d.next_attempt_at <= now())
                OR (d.status = 'sending' AND d.lease_until < now()))
           AND w.active AND w.deleted_at IS NULL
           AND NOT EXISTS (
               SELECT 1 FROM webhook_deliveries p
                WHERE p.workspace_id = d.workspace_id
                  AND p.webhook_id = d.webhook_id
                  AND p.record_key = d.record_key
                  AND p.status IN ('pending', 'sending')
                  AND p.seq < d.seq)
         ORDER BY d.seq
         LIMIT p_batch
           FOR UPDATE OF d SKIP LOCKED
    ), claimed AS (
        UPDATE webhook_deliveries d
           SET status = 'sending', lease_until = now() + p_lease,
               lease_owner = p_owner, attempts = d.attempts + 1,
               updated_at = now()
          FROM due
         WHERE d.workspace_id = due.workspace_id AND d.id = due.id
        RETURNING d.*
    )
    SELECT c.workspace_id, c.id, w.url, w.secret,
           CASE WHEN w.previous_secret_until > now()
                THEN w.previous_secret END,
           c.event_id,
           json_build_object(
               'id', e.id, 'type', e.type,
               'createdAt', to_char(e.created_at AT TIME ZONE 'UTC',
                                    'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
               'workspaceId', e.workspace_id,
               'data', e.data)::text,
           c.attempts
      FROM claimed c
      JOIN webhooks w ON w.workspace_id = c.workspace_id
                     AND w.id = c.webhook_id
      JOIN events e ON e.workspace_id = c.workspace_id AND e.id = c.event_id
     ORDER BY c.seq;
END
$$;


-- the subscription is disabled, and an event says so

CREATE FUNCTION db_webhook_disable(p_ws uuid, p_webhook uuid,
    p_reason text)
RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    w  webhooks%ROWTYPE;
BEGIN
    UPDATE webhooks SET active = false, disabled_reason = p_reason,
                        disabled_at = now(), version = version + 1,
                        updated_at = now()
     WHERE workspace_id = p_ws AND id = p_webhook AND active
    RETURNING * INTO w;

    IF NOT FOUND THEN
        RETURN;
    END IF;

    INSERT INTO events (workspace_id, type, record_id, data)
    VALUES (p_ws, 'webhook.disabled', p_webhook,
            jsonb_build_object('object', jsonb_build_object(
                'id', w.id, 'url', w.url, 'active', false,
                'disabledReason', p_reason,
                'disabledAt', to_char(w.disabled_at AT TIME ZONE 'UTC',
                                      'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'))));
END
$$;


/*
 * The outcome of one attempt, by the lease's owner (false otherwise: the
 * lease ran out, another worker has it).  2xx: succeeded.  410: failed,
 * and the subscription is disabled.  Anything else: pending again after
 * p_schedule[attempts] (+-10% jitter), or after Retry-After when that is
 * longer (at most a day); failed when the schedule is used up.  A
 * subscription failing for p_disable_after without a success is
 * disabled.
 */

CREATE FUNCTION db_webhook_result(p_ws uuid, p_id uuid, p_owner text,
    p_status integer, p_error text, p_body text, p_truncated boolean,
    p_ms integer, p_retry_after integer, p_schedule interval[],
    p_disable_after interval)
RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    d       webhook_deliveries%ROWTYPE;
    w       webhooks%ROWTYPE;
    v_ok    boolean := p_status BETWEEN 200 AND 299;
    v_step  interval;
BEGIN
    SELECT * INTO d FROM webhook_deliveries
     WHERE workspace_id = p_ws AND id = p_id
       AND status = 'sending' AND lease_owner = p_owner
       FOR UPDATE;

    IF NOT FOUND THEN
        RETURN false;
    END IF;

    UPDATE webhook_deliveries
       SET response_status = p_status, response_body = p_body,
           response_truncated = coalesce(p_truncated, false),
           duration_ms = p_ms, last_error = p_error,
           last_attempt_at = now(), lease_until = NULL, lease_owner = NULL,
           updated_at = now()
     WHERE workspace_id = p_ws AND id = p_id;

    IF v_ok THEN
        UPDATE webhook_deliveries SET status = 'succeeded',
                                      delivered_at = now()
         WHERE workspace_id = p_ws AND id = p_id;
        UPDATE webhooks SET failing_since = NULL
         WHERE workspace_id = p_ws AND id = d.webhook_id
           AND failing_since IS NOT NULL;
        RETURN true;
    END IF;

    IF p_status = 410 THEN
        UPDATE webhook_deliveries SET status = 'failed'
         WHERE workspace_id = p_ws AND id = p_id;
        PERFORM db_webhook_disable(p_ws, d.webhook_id,
                                   'the receiver answered 410 Gone');
        RETURN true;
    END IF;

    v_step := p_schedule[d.attempts];

    IF v_step IS NULL THEN
        UPDATE webhook_deliveries SET status = 'failed'
         WHERE workspace_id = p_ws AND id = p_id;
    ELSE
        v_step := v_step * (0.9 + random() * 0.2);

        IF p_retry_after IS NOT NULL THEN
            v_step := greatest(v_step, least(make_interval(
                                   secs => p_retry_after),
                               interval '1 day'));
        END IF;

        UPDATE webhook_deliveries SET status = 'pending',
                                      next_attempt_at = now() + v_step
         WHERE workspace_id = p_ws AND id = p_id;
    END IF;

    UPDATE webhooks SET failing_since = coalesce(failing_since, now())
     WHERE workspace_id = p_ws AND id = d.webhook_id
    RETURNING * INTO w;

    IF w.active AND w.failing_since < now() - p_disable_after THEN
        PERFORM db_webhook_disable(p_ws, d.webhook_id,
            'every delivery failed for ' || p_disable_after::text);
    END IF;

    RETURN true;
END
$$;


-- claimed and not started: back, without the attempt

CREATE FUNCTION db_webhook_release(p_owner text, p_ws uuid[], p_ids uuid[])
RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    n  integer;
BEGIN
    UPDATE webhook_deliveries d
       SET status = 'pending', attempts = d.attempts - 1,
           lease_until = NULL, lease_owner = NULL
      FROM unnest(p_ws, p_ids) AS r (workspace_id, id)
     WHERE d.workspace_id = r.workspace_id AND d.id = r.id
       AND d.status = 'sending' AND d.lease_owner = p_owner;

    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END
$$;


-- POST /webhooks/:id/deliveries/:deliveryId/retry: due now, once more

CREATE FUNCTION db_webhook_retry(p_ws uuid, p_webhook uuid, p_id uuid)
RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE webhook_deliveries
       SET status = CASE WHEN status = 'sending' THEN status
                         ELSE 'pending' END,
           next_attempt_at = now(), updated_at = now()
     WHERE workspace_id = p_ws AND webhook_id = p_webhook AND id = p_id
       AND deleted_at IS NULL
       AND EXISTS (SELECT 1 FROM webhooks w
                    WHERE w.workspace_id = p_ws AND w.id = p_webhook
                      AND w.deleted_at IS NULL);

    IF NOT FOUND THEN
        RETURN false;
    END IF;

    PERFORM pg_notify('crm_jobs', 'webhook');
    RETURN true;
END
$$;


-- POST /webhooks/:id/test: a webhook.test event for this subscription only

CREATE FUNCTION db_webhook_test(p_ws uuid, p_webhook uuid) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    v_event  text;
    v_id     uuid;
BEGIN
    PERFORM 1 FROM webhooks
     WHERE workspace_id = p_ws AND id = p_webhook AND deleted_at IS NULL;

    IF NOT FOUND THEN
        RETURN NULL;
    END IF;

    INSERT INTO events (workspace_id, type, record_id, data)
    VALUES (p_ws, 'webhook.test', p_webhook,
            jsonb_build_object('object', jsonb_build_object(
                'webhookId', p_webhook, 'message', 'a test event')))
    RETURNING id INTO v_event;

    INSERT INTO webhook_deliveries (workspace_id, webhook_id, event_id,
                                    event_type, record_key)
    VALUES (p_ws, p_webhook, v_event, 'webhook.test', v_event)
    RETURNING id INTO v_id;

    PERFORM pg_notify('crm_jobs', 'webhook');

    RETURN json_build_object('id', v_id, 'eventId', v_event,
                             'webhookId', p_webhook,
                             'status', 'pending')::text;
END
$$;


-- retention: up to p_batch events older than p_age, with their deliveries

CREATE FUNCTION db_events_purge(p_age interval, p_batch integer)
RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    n  integer;
BEGIN
    DELETE FROM events e
     USING (SELECT workspace_id, id FROM events
             WHERE created_at < now() - p_age
             LIMIT p_batch
               FOR UPDATE SKIP LOCKED) old
     WHERE e.workspace_id = old.workspace_id AND e.id = old.id;

    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END
$$;
