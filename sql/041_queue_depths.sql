-- crm_metrics: the depths of the outboxes (emails, webhook deliveries)
-- across workspaces, for crm_queue_depth.  Each is counted up to p_limit
-- rows through the partial indexes the delivery jobs claim with (an
-- index-only count: a long queue costs at most p_limit index entries).

CREATE FUNCTION db_queue_depths(p_limit integer)
RETURNS TABLE (email_waiting bigint, email_sending bigint,
               webhook_waiting bigint, webhook_sending bigint)
LANGUAGE sql STABLE AS $$
    SELECT (SELECT count(*) FROM (SELECT 1 FROM emails
                                   WHERE status IN ('queued', 'deferred')
                                   LIMIT p_limit) q),
           (SELECT count(*) FROM (SELECT 1 FROM emails
                                   WHERE status = 'sending'
                                   LIMIT p_limit) q),
           (SELECT count(*) FROM (SELECT 1 FROM webhook_deliveries
                                   WHERE status = 'pending'
                                   LIMIT p_limit) q),
           (SELECT count(*) FROM (SELECT 1 FROM webhook_deliveries
                                   WHERE status = 'sending'
                                   LIMIT p_limit) q)
$$;
