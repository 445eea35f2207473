-- A lead's status "converted" is what POST /leads/:id/convert leaves,
-- and stays (found by probing the running API: a converted lead PATCHed
-- back to "new" could be converted again, making a second contact and
-- overwriting its links; a lead created as "converted" could never be
-- converted and had no links).
--
-- A write that makes a lead "converted" without converting it (no
-- converted_at) is 422 on status; a write that takes a converted lead
-- (converted_at set) out of "converted" is 409 INVALID_STATE.  Leads
-- stored "converted" without a conversion before this keep their status
-- and may still be edited.

CREATE FUNCTION db_lead_status_guard() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.status = 'converted' AND NEW.converted_at IS NULL
       AND (TG_OP = 'INSERT' OR OLD.status IS DISTINCT FROM 'converted')
    THEN
        RAISE EXCEPTION 'a lead becomes converted through '
                        'POST /leads/:id/convert'
            USING ERRCODE = 'CR422', COLUMN = 'status',
                  CONSTRAINT = 'invalid_value';
    END IF;

    IF TG_OP = 'UPDATE' AND OLD.converted_at IS NOT NULL
       AND NEW.status IS DISTINCT FROM 'converted'
    THEN
        RAISE EXCEPTION 'a converted lead stays converted'
            USING ERRCODE = 'CR409';
    END IF;

    RETURN NEW;
END
$$;

CREATE TRIGGER leads_status_guard BEFORE INSERT OR UPDATE OF status
    ON leads FOR EACH ROW EXECUTE FUNCTION db_lead_status_guard();
