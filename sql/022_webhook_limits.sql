-- Webhook delivery limits (docs/WEBHOOKS.md): a cap of deliveries in
-- flight per subscription across the cluster (crm_webhook_concurrency).
--
-- db_webhook_claim() gains p_concurrency.  A claim first locks the
-- subscriptions that have due work (FOR NO KEY UPDATE SKIP LOCKED: one
-- claimer per subscription at a time; the fan-out's foreign key checks
-- take KEY SHARE and are not blocked), then, in a later statement (a
-- snapshot that sees every claim committed before the lock was taken),
-- counts each one's unexpired leases and claims at most p_concurrency
-- minus that many of its due deliveries, oldest first (a walk of the
-- subscription's open deliveries in commit order that stops there).  The rest of the
-- rules are those of sql/018: the oldest open delivery of a record to a
-- subscription only, expired leases due again, committed before any
-- HTTP traffic.


DROP FUNCTION db_webhook_claim(integer, interval, text);


-- a subscription's open deliveries in commit order: the claim walks
-- them and stops at its cap

CREATE INDEX webhook_deliveries_open_seq
    ON webhook_deliveries (workspace_id, webhook_id, seq)
    WHERE status IN ('pending', 'sending');


CREATE FUNCTION db_webhook_claim(p_batch integer, p_lease interval,
    p_owner text, p_concurrency integer)
RETURNS TABLE (workspace_id uuid, id uuid, url text, secret text,
               previous_secret text, event_id text, body text,
               attempts integer)
LANGUAGE plpgsql AS $$
DECLARE
    v_ws   uuid[];
    v_ids  uuid[];
BEGIN
    SELECT array_agg(l.workspace_id), array_agg(l.id) INTO v_ws, v_ids
      FROM (SELECT w.workspace_id, w.id
              FROM webhooks w
             WHERE w.active AND w.deleted_at IS NULL
               AND EXISTS (
                   SELECT 1 FROM webhook_deliveries d
                    WHERE d.workspace_id = w.workspace_id
                      AND d.webhook_id = w.id
                      AND d.status IN ('pending', 'sending')
                      AND ((d.status = 'pending'
                            AND d.next_attempt_at <= now())
                           OR (d.status = 'sending'
                               AND d.lease_until < now())))
               FOR NO KEY UPDATE OF w SKIP LOCKED) l;

    IF v_ids IS NULL THEN
        RETURN;
    END IF;

    RETURN QUERY
    WITH hooks AS (
        SELECT h.workspace_id, h.id,
               (SELECT count(*) FROM webhook_deliveries s
                 WHERE s.workspace_id = h.workspace_id
                   AND s.webhook_id = h.id
                   AND s.status = 'sending'
                   AND s.lease_until >= now()) AS inflight
          FROM unnest(v_ws, v_ids) AS h (workspace_id, id)
    ), due AS (
        -- per subscription, its oldest due deliveries up to the cap
        SELECT c.workspace_id, c.id, c.seq
          FROM hooks h
          CROSS JOIN LATERAL (
              SELECT d.workspace_id, d.id, d.seq
                FROM webhook_deliveries d
               WHERE d.workspace_id = h.workspace_id
                 AND d.webhook_id = h.id
                 AND d.status IN ('pending', 'sending')
                 AND ((d.status = 'pending' AND d.next_attempt_at <= now())
                      OR (d.status = 'sending' AND d.lease_until < now()))
                 AND NOT EXISTS (
                     SELECT 1 FROM webhook_deliveries p
                      WHERE p.workspace_id = d.workspace_id
                        AND p.webhook_id = d.webhook_id
                        AND p.record_key = d.record_key
                        AND p.status IN ('pending', 'sending')
                        AND p.seq < d.seq)
               ORDER BY d.seq
               LIMIT greatest(p_concurrency - h.inflight, 0)
                 FOR UPDATE OF d SKIP LOCKED) c
         ORDER BY c.seq
         LIMIT p_batch
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
