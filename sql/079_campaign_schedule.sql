-- A scheduled campaign keeps its time (found by probing the running API:
-- PATCH {"scheduledAt": null} of a scheduled campaign answered 200, and
-- the campaign stayed scheduled with no time, never to start).  Clearing
-- it is 422 on scheduledAt; setting another time, or cancelling, is how
-- a schedule changes.

CREATE FUNCTION db_campaign_schedule_kept() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.status = 'scheduled' AND NEW.scheduled_at IS NULL THEN
        RAISE EXCEPTION 'a scheduled campaign keeps a time: set another, '
                        'or cancel it'
            USING ERRCODE = 'CR422', COLUMN = 'scheduledAt',
                  CONSTRAINT = 'required';
    END IF;

    RETURN NEW;
END
$$;

CREATE TRIGGER campaigns_schedule_kept BEFORE UPDATE OF scheduled_at
    ON campaigns FOR EACH ROW EXECUTE FUNCTION db_campaign_schedule_kept();
