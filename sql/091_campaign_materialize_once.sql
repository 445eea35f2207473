-- db_campaign_materialize() of sql/020, restated whole, says whether
-- this call made the recipients: NULL when it did nothing (another
-- caller had made them, or the campaign is not running), their number
-- otherwise, 0 for an audience of nobody.  The runner logs an audience
-- no longer valid only when its call made the (empty) recipients: two
-- workers that both found the campaign logged it twice (found by a
-- probe).


CREATE OR REPLACE FUNCTION db_campaign_materialize(p_ws uuid, p_id uuid,
    p_ids uuid[])
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
        RETURN NULL;
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
