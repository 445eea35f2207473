-- A running campaign's claim takes its recipients' contacts as they are
-- when each is sent, not as they were when the recipients were made
-- (found by a probe: a paused campaign, resumed, mailed a contact deleted
-- in between, and mailed another at the address it had before a PATCH,
-- with its new address in the merged body).  db_campaign_claim() of
-- sql/074, restated whole: a recipient whose contact is deleted is
-- cancelled and not sent; one whose address changed is sent to the new
-- one, which must be valid (no_address) and not suppressed (unsubscribed
-- or suppressed), as db_campaign_materialize() checks an address at the
-- start.  Only a recipient that is sent counts against the sendRate.
--
-- The merge fields' values are the contact and its company as the API
-- names and renders them: createdAt and updatedAt as the API writes a
-- time (db_json_time(), below), not PostgreSQL's jsonb form (found by a
-- probe: {{createdAt}} came out with microseconds and an offset).


-- a time as the API renders one (the planner's to_char(), crm_sql.c)

CREATE FUNCTION db_json_time(p_t timestamptz) RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT to_char(p_t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"');
$$;


CREATE OR REPLACE FUNCTION db_campaign_claim(p_batch integer, p_lease interval,
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
              ORDER BY k.started_at, k.id
    LOOP
        EXIT WHEN v_left <= 0;

        v_n := v_left;

        IF c.send_rate IS NOT NULL THEN
            /*
             * one claimer at a time counts this campaign's minute: the
             * others wait here until its claim commits, then see it
             */
            PERFORM pg_advisory_xact_lock(hashtext('crm campaign rate'),
                                          hashtext(c.id::text));

            v_n := least(v_n, greatest(c.send_rate - (
                       SELECT count(*) FROM campaign_recipients r
                        WHERE r.workspace_id = c.workspace_id
                          AND r.campaign_id = c.id
                          AND r.queued_at > now() - interval '1 minute'), 0));
        END IF;

        CONTINUE WHEN v_n <= 0;

        RETURN QUERY
        WITH due AS (
            -- the contact as it is now: deleted (or gone), or its address
            -- and how that is suppressed; what becomes of the recipient
            SELECT r.workspace_id, r.campaign_id, r.contact_id,
                   t.email AS address,
                   CASE WHEN t.id IS NULL THEN 'cancelled'
                        WHEN t.email IS NULL
                             OR NOT db_email_address_valid(t.email)
                        THEN 'no_address'
                        WHEN s.reason = 'unsubscribe' THEN 'unsubscribed'
                        WHEN s.reason IS NOT NULL THEN 'suppressed'
                        ELSE 'rendering' END AS next
              FROM campaign_recipients r
              LEFT JOIN contacts t
                     ON t.workspace_id = r.workspace_id
                    AND t.id = r.contact_id AND t.deleted_at IS NULL
              LEFT JOIN LATERAL (
                    SELECT x.reason FROM suppressions x
                     WHERE x.workspace_id = r.workspace_id
                       AND lower(x.email) = lower(t.email)
                       AND x.deleted_at IS NULL
                     ORDER BY x.reason = 'unsubscribe' DESC
                     LIMIT 1) s ON true
             WHERE r.workspace_id = c.workspace_id AND r.campaign_id = c.id
               AND (r.status = 'pending'
                    OR (r.status = 'rendering' AND r.lease_until < now()))
             LIMIT v_n
               FOR UPDATE OF r SKIP LOCKED
        ), claimed AS (
            -- a contact deleted since the start: cancelled, not sent; an
            -- address changed: the new one, checked as the start checks
            -- one; an address suppressed since: marked, not sent.  Only
            -- a recipient to send counts against the sendRate (queued_at)
            UPDATE campaign_recipients r
               SET email = coalesce(due.address, r.email),
                   status = due.next,
                   lease_until = now() + p_lease,
                   lease_owner = p_owner,
                   queued_at = CASE WHEN due.next = 'rendering' THEN now()
                                    ELSE r.queued_at END,
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
                             - 'search' - 'version')
               || jsonb_build_object('createdAt', db_json_time(t.created_at),
                                     'updatedAt', db_json_time(t.updated_at)),
               (SELECT db_json_camel(to_jsonb(co) - 'workspace_id'
                                     - 'deleted_at' - 'search' - 'version')
                       || jsonb_build_object(
                              'createdAt', db_json_time(co.created_at),
                              'updatedAt', db_json_time(co.updated_at))
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
