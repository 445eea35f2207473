-- A test or a retry of a webhook that is not active is 409 INVALID_STATE
-- (found by probing the running API: both answered 202 with a delivery
-- that the deliverer, which claims for active webhooks only, never made).
-- sql/018's two functions, restated whole with the check added.

CREATE OR REPLACE FUNCTION db_webhook_retry(p_ws uuid, p_webhook uuid,
    p_id uuid)
RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM webhooks w
                WHERE w.workspace_id = p_ws AND w.id = p_webhook
                  AND w.deleted_at IS NULL AND NOT w.active)
    THEN
        RAISE EXCEPTION 'the webhook is not active: activate it first '
                        '(PATCH {"active": true})'
            USING ERRCODE = 'CR409';
    END IF;

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


CREATE OR REPLACE FUNCTION db_webhook_test(p_ws uuid, p_webhook uuid)
RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    v_event   text;
    v_id      uuid;
    v_active  boolean;
BEGIN
    SELECT active INTO v_active FROM webhooks
     WHERE workspace_id = p_ws AND id = p_webhook AND deleted_at IS NULL;

    IF NOT FOUND THEN
        RETURN NULL;
    END IF;

    IF NOT v_active THEN
        RAISE EXCEPTION 'the webhook is not active: activate it first '
                        '(PATCH {"active": true})'
            USING ERRCODE = 'CR409';
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
