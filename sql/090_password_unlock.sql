-- A password set on a locked account unlocks it (found by a probe: an
-- owner who reset the password of a user locked out by wrong logins
-- left the user locked for the rest of the 15 minutes, with no other way
-- to unlock).  Setting the password is the unlock: whoever may set it
-- (the user in a session, an owner or admin) could also wait the lock
-- out, and the failures counted against the old password say nothing of
-- the new one.

CREATE FUNCTION db_user_password_unlock() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.failed_logins := 0;
    NEW.locked_until := NULL;

    RETURN NEW;
END
$$;

CREATE TRIGGER users_password_unlock BEFORE UPDATE OF password_hash
    ON users FOR EACH ROW
    WHEN (NEW.password_hash IS DISTINCT FROM OLD.password_hash)
    EXECUTE FUNCTION db_user_password_unlock();
