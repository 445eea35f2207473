-- A workspace keeps at least one owner: demoting or deleting its last
-- live owner is refused (SQLSTATE CR409: 409 INVALID_STATE).  The rows
-- of the workspace's owners are locked while checking, so that two
-- owners demoting each other at once cannot both succeed.

CREATE FUNCTION crm_last_owner() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.role <> 'owner' OR OLD.deleted_at IS NOT NULL
       OR (NEW.role = 'owner' AND NEW.deleted_at IS NULL)
    THEN
        RETURN NEW;
    END IF;

    PERFORM 1 FROM users
      WHERE workspace_id = OLD.workspace_id AND role = 'owner'
        AND deleted_at IS NULL
      FOR UPDATE;

    IF NOT EXISTS (SELECT 1 FROM users
                    WHERE workspace_id = OLD.workspace_id
                      AND role = 'owner' AND deleted_at IS NULL
                      AND id <> OLD.id)
    THEN
        RAISE EXCEPTION 'the workspace needs an owner: make another user '
                        'owner first'
            USING ERRCODE = 'CR409';
    END IF;

    RETURN NEW;
END
$$;

CREATE TRIGGER users_last_owner BEFORE UPDATE OF role, deleted_at ON users
    FOR EACH ROW EXECUTE FUNCTION crm_last_owner();
