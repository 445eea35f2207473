-- The outcome a delivery job recorded, for the metrics (README,
-- "Metrics": crm_email_deliveries_total, crm_webhook_deliveries_total).
--
-- db_email_result() and db_webhook_result() say only whether the lease
-- was still the caller's; whether a temporary failure was deferred or
-- was the last attempt (failed) is decided there, in SQL.  These wrap
-- them and return the status the row was left in, or NULL when the
-- lease had run out (nothing was recorded): emails 'sent', 'bounced',
-- 'deferred' or 'failed'; webhook deliveries 'succeeded', 'pending'
-- (another attempt is scheduled) or 'failed'.


CREATE FUNCTION db_email_outcome(p_ws uuid, p_id uuid, p_owner text,
    p_outcome text, p_code integer, p_detail text, p_base interval,
    p_max_age interval)
RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
    IF NOT db_email_result(p_ws, p_id, p_owner, p_outcome, p_code,
                           p_detail, p_base, p_max_age)
    THEN
        RETURN NULL;
    END IF;

    RETURN (SELECT status FROM emails
             WHERE workspace_id = p_ws AND id = p_id);
END
$$;


CREATE FUNCTION db_webhook_outcome(p_ws uuid, p_id uuid, p_owner text,
    p_status integer, p_error text, p_body text, p_truncated boolean,
    p_ms integer, p_retry_after integer, p_schedule interval[],
    p_disable_after interval)
RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
    IF NOT db_webhook_result(p_ws, p_id, p_owner, p_status, p_error, p_body,
                             p_truncated, p_ms, p_retry_after, p_schedule,
                             p_disable_after)
    THEN
        RETURN NULL;
    END IF;

    RETURN (SELECT status FROM webhook_deliveries
             WHERE workspace_id = p_ws AND id = p_id);
END
$$;
