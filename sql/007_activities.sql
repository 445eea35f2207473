-- Activities (calls, meetings, tasks, notes), and the many-to-many links
-- between contacts and deals or activities.
--
-- A many-to-many link is a uuid[] column of the record that owns it
-- (deals.contact_ids, activities.contact_ids): it is rendered as is
-- (contactIds), a GIN index answers the reverse question ("the deals of
-- this contact"), and a trigger keeps it to live contacts of the same
-- workspace, without duplicates, in the order given.

-- contact_ids: every id a live contact of the row's workspace (23503 on
-- "<table>_contact_ids_fk" otherwise), each once
CREATE FUNCTION crm_contact_ids() RETURNS trigger
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

ALTER TABLE deals ADD COLUMN contact_ids uuid[] NOT NULL DEFAULT '{}';

CREATE INDEX deals_contact_ids ON deals USING gin (contact_ids)
    WHERE deleted_at IS NULL;

CREATE TRIGGER deals_contact_ids BEFORE INSERT OR UPDATE ON deals
    FOR EACH ROW EXECUTE FUNCTION crm_contact_ids();

CREATE TABLE activities (
    workspace_id      uuid        NOT NULL REFERENCES workspaces (id),
    id                uuid        NOT NULL DEFAULT gen_random_uuid(),
    type              text        NOT NULL,
    subject           text,
    body              text,
    status            text        NOT NULL DEFAULT 'open',
    priority          text        NOT NULL DEFAULT 'normal',
    due_at            timestamptz,
    start_at          timestamptz,
    end_at            timestamptz,
    duration_sec      bigint
        CONSTRAINT activities_duration_sec_check CHECK (duration_sec >= 0),
    direction         text,
    related_type      text,
    related_id        uuid,
    contact_ids       uuid[]      NOT NULL DEFAULT '{}',
    assigned_user_id  uuid,
    custom_fields     jsonb       NOT NULL DEFAULT '{}',
    version           integer     NOT NULL DEFAULT 1,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    deleted_at        timestamptz,
    PRIMARY KEY (workspace_id, id),
    CONSTRAINT activities_end_at_check CHECK (end_at >= start_at),
    CONSTRAINT activities_related_id_check
        CHECK ((related_type IS NULL) = (related_id IS NULL))
);

CREATE INDEX activities_created ON activities (workspace_id, created_at, id)
    WHERE deleted_at IS NULL;
CREATE INDEX activities_related ON activities
    (workspace_id, related_id, related_type) WHERE deleted_at IS NULL;
CREATE INDEX activities_contact_ids ON activities USING gin (contact_ids)
    WHERE deleted_at IS NULL;
-- open tasks by due date
CREATE INDEX activities_due ON activities (workspace_id, type, status, due_at)
    WHERE deleted_at IS NULL;

CREATE TRIGGER activities_contact_ids BEFORE INSERT OR UPDATE ON activities
    FOR EACH ROW EXECUTE FUNCTION crm_contact_ids();

-- relatedType + relatedId: a live record of that type in the workspace
-- (23503 on "activities_related_id_fk" otherwise)
CREATE FUNCTION crm_activity_related() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    v_found boolean;
BEGIN
    IF NEW.related_id IS NULL
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

CREATE TRIGGER activities_related BEFORE INSERT OR UPDATE ON activities
    FOR EACH ROW EXECUTE FUNCTION crm_activity_related();

-- a deleted contact leaves the links it was in (the records it was
-- linked to change version)
CREATE FUNCTION crm_contact_unlink() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.deleted_at IS NULL OR OLD.deleted_at IS NOT NULL THEN
        RETURN NEW;
    END IF;

    UPDATE deals
       SET contact_ids = array_remove(contact_ids, OLD.id),
           version = version + 1, updated_at = now()
     WHERE workspace_id = OLD.workspace_id
       AND contact_ids @> ARRAY[OLD.id] AND deleted_at IS NULL;

    UPDATE activities
       SET contact_ids = array_remove(contact_ids, OLD.id),
           version = version + 1, updated_at = now()
     WHERE workspace_id = OLD.workspace_id
       AND contact_ids @> ARRAY[OLD.id] AND deleted_at IS NULL;

    RETURN NEW;
END
$$;

CREATE TRIGGER contacts_unlink AFTER UPDATE OF deleted_at ON contacts
    FOR EACH ROW EXECUTE FUNCTION crm_contact_unlink();
