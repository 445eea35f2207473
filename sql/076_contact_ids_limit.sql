-- A deal's or an activity's contacts are at most 100 however they are
-- written (found by probing the running API: POST /deals/:id/contacts
-- added a 101st, and the record could not then be sent back as it was,
-- its contactIds being too long for a PATCH).
--
-- The API's validation counts contactIds in a body; the link routes
-- (POST /<parent>/:id/contacts) add one id at a time in SQL.  sql/007's
-- trigger function (db_contact_ids() since sql/015), restated whole with
-- the count added: a write that leaves more than 100 contacts, and more
-- than the row had, is 422 on contactIds (too_long).  Rows that have more
-- from before may still be written, and shrink.

CREATE OR REPLACE FUNCTION db_contact_ids() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    v_missing uuid;
BEGIN
    IF TG_OP = 'UPDATE' AND NEW.contact_ids IS NOT DISTINCT FROM OLD.contact_ids
    THEN
        RETURN NEW;
    END IF;

    NEW.contact_ids := ARRAY(
        SELECT c FROM unnest(NEW.contact_ids) WITH ORDINALITY AS u (c, o)
         GROUP BY c ORDER BY min(o));

    IF cardinality(NEW.contact_ids) > 100
       AND (TG_OP = 'INSERT'
            OR cardinality(NEW.contact_ids) > cardinality(OLD.contact_ids))
    THEN
        RAISE EXCEPTION 'at most 100 contacts'
            USING ERRCODE = 'CR422', COLUMN = 'contactIds',
                  CONSTRAINT = 'too_long';
    END IF;

    SELECT c INTO v_missing
      FROM unnest(NEW.contact_ids) AS c
     WHERE c IS NULL
        OR NOT EXISTS (SELECT 1 FROM contacts
                        WHERE workspace_id = NEW.workspace_id AND id = c
                          AND deleted_at IS NULL)
     LIMIT 1;

    IF FOUND THEN
        RAISE EXCEPTION 'contact % does not exist', v_missing
            USING ERRCODE = 'foreign_key_violation',
                  CONSTRAINT = TG_TABLE_NAME || '_contact_ids_fk',
                  COLUMN = 'contact_ids';
    END IF;

    RETURN NEW;
END
$$;
