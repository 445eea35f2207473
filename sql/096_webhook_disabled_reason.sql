-- A subscription disabled after crm_webhook_disable_after without a
-- success said so in hours ("every delivery failed for 120:00:00"):
-- now in days and hours, as the directive is written ("... for 5 days";
-- found by a probe).  db_webhook_result() of sql/018, restated whole.

CREATE OR REPLACE FUNCTION db_webhook_result(p_ws uuid, p_id uuid,
    p_owner text, p_status integer, p_error text, p_body text,
    p_truncated boolean, p_ms integer, p_retry_after integer,
    p_schedule interval[], p_disable_after interval)
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
            'every delivery failed for '
                || justify_interval(p_disable_after)::text);
    END IF;

    RETURN true;
END
$$;
