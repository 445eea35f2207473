-- POST /campaigns/:id/start on a scheduled campaign starts it now, as
-- docs/CAMPAIGNS.md's state machine says (scheduled --start--> running).
-- sql/020's db_campaign_start() looked at the time alone: a campaign
-- scheduled for later was moved from draft to scheduled, so a second
-- start said "a scheduled campaign cannot be scheduled" (found by a
-- probe).  A draft with a time to come is still scheduled; anything
-- else that may start runs now.

CREATE OR REPLACE FUNCTION db_campaign_start(p_ws uuid, p_id uuid,
                                             p_body jsonb)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    v_at      timestamptz;
    v_status  text;
BEGIN
    SELECT scheduled_at, status INTO v_at, v_status FROM campaigns
     WHERE workspace_id = p_ws AND id = p_id AND deleted_at IS NULL;

    IF v_status = 'draft' AND v_at IS NOT NULL AND v_at > now() THEN
        RETURN db_campaign_move(p_ws, p_id, '{draft}', 'scheduled',
                                'scheduled');
    END IF;

    RETURN db_campaign_move(p_ws, p_id, '{draft,scheduled}', 'running',
                            'started');
END
$$;
