-- A password change ends every session of the user (found by probing
-- the running API): the user's other sessions, a thief's included, went
-- on working until they expired.  The session that made the change ends
-- too: a trigger cannot tell which one it was, and logging in again is
-- what a password change asks of every other device anyway.  API keys
-- are the workspace's, not the user's, and stay.

CREATE FUNCTION db_user_password_sessions() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE sessions
       SET deleted_at = now()
     WHERE workspace_id = NEW.workspace_id
       AND user_id = NEW.id
       AND deleted_at IS NULL;

    RETURN NULL;
END
$$;

CREATE TRIGGER users_password_sessions AFTER UPDATE OF password_hash
    ON users FOR EACH ROW
    WHEN (NEW.password_hash IS DISTINCT FROM OLD.password_hash)
    EXECUTE FUNCTION db_user_password_sessions();
