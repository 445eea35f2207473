-- An activity's relatedId without a relatedType was refused as a record
-- that does not exist (not_found on relatedId, from this trigger, which
-- runs before the table's CHECK), though the record existed: the rule
-- broken is that the two are set together (found by a probe).  The
-- trigger now leaves a half pair to activities_related_id_check, which
-- says so ("relatedType and relatedId are set together, or neither").
-- db_activity_related() of sql/007 (renamed by sql/015), restated whole.

CREATE OR REPLACE FUNCTION db_activity_related() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    v_found boolean;
BEGIN
    IF NEW.related_id IS NULL OR NEW.related_type IS NULL
       OR (TG_OP = 'UPDATE'
           AND NEW.related_id IS NOT DISTINCT FROM OLD.related_id
           AND NEW.related_type IS NOT DISTINCT FROM OLD.related_type)
    THEN
        RETURN NEW;
    END IF;

    CASE NEW.related_type
    WHEN 'contact' THEN
        v_found := EXISTS (SELECT 1 FROM contacts
                            WHERE workspace_id = NEW.workspace_id
                              AND id = NEW.related_id AND deleted_at IS NULL);
    WHEN 'company' THEN
        v_found := EXISTS (SELECT 1 FROM companies
                            WHERE workspace_id = NEW.workspace_id
                              AND id = NEW.related_id AND deleted_at IS NULL);
    WHEN 'deal' THEN
        v_found := EXISTS (SELECT 1 FROM deals
                            WHERE workspace_id = NEW.workspace_id
                              AND id = NEW.related_id AND deleted_at IS NULL);
    WHEN 'lead' THEN
        v_found := EXISTS (SELECT 1 FROM leads
                            WHERE workspace_id = NEW.workspace_id
                              AND id = NEW.related_id AND deleted_at IS NULL);
    ELSE
        v_found := false;
    END CASE;

    IF NOT v_found THEN
        RAISE EXCEPTION '% % does not exist', NEW.related_type, NEW.related_id
            USING ERRCODE = 'foreign_key_violation',
                  CONSTRAINT = 'activities_related_id_fk',
                  COLUMN = 'related_id';
    END IF;

    RETURN NEW;
END
$$;
