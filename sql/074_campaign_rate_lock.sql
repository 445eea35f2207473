-- A campaign's sendRate holds across workers and hosts (found by probing
-- the running API: two workers each claimed a recipient of a campaign of
-- sendRate 1 within a millisecond, in three campaigns out of three).
--
-- db_campaign_claim() counted the recipients queued in the last minute
-- and claimed up to the rest, with nothing to stop another worker doing
-- the same at the same moment: each saw the other's claim only once it
-- had committed.  Now, for a campaign with a sendRate, the count is
-- taken under a transaction-scoped advisory lock of the campaign, so a
-- second claimer waits until the first's claim commits and then counts
-- it.  A campaign without a sendRate takes no lock.  The campaigns are
-- taken in a total order (started_at, id: those started together share
-- their time), so two claimers never wait for each other's locks.
-- sql/020's function, restated whole with the lock and the order added.

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
