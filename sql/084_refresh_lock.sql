-- A refresh running while the user's password changes could keep a live
-- session (found by a review of sql/083): the refresh revoked the old
-- session and inserted a new one, and the password change's trigger,
-- whose statement had begun before that insert, revoked every session
-- it saw but not the new one.  A refresh now locks the user's row (FOR
-- SHARE) before it touches the sessions, as a password change locks it
-- (FOR UPDATE, by its UPDATE) before its trigger does: one waits for the
-- other.  After a change, the refresh finds its session revoked (no new
-- one); before it, the change's trigger sees the new session and
-- revokes it.  Both take the user's row first, so neither deadlocks.
-- The body is db_session_refresh()'s (sql/002, renamed by sql/015) with
-- the lock added.

CREATE OR REPLACE FUNCTION db_session_refresh(p_workspace uuid,
                                              p_session uuid,
                                              p_ttl interval)
RETURNS TABLE (token text, session_id uuid, expires_at timestamptz)
LANGUAGE plpgsql VOLATILE SECURITY INVOKER
AS $$
#variable_conflict use_column
DECLARE
    v_user uuid;
BEGIN
    IF p_ttl IS NULL OR p_ttl <= interval '0' THEN
        RAISE EXCEPTION 'a session lifetime must be positive'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;

    PERFORM 1
       FROM sessions s
       JOIN users u ON u.workspace_id = s.workspace_id AND u.id = s.user_id
      WHERE s.workspace_id = p_workspace
        AND s.id = p_session
        FOR SHARE OF u;

    UPDATE sessions AS s
       SET deleted_at = now()
      FROM users u, workspaces w
     WHERE s.workspace_id = p_workspace
       AND s.id = p_session
       AND s.deleted_at IS NULL
       AND s.expires_at > now()
       AND u.workspace_id = s.workspace_id
       AND u.id = s.user_id
       AND u.deleted_at IS NULL
       AND w.id = s.workspace_id
       AND w.deleted_at IS NULL
    RETURNING s.user_id INTO v_user;

    IF NOT FOUND THEN
        RETURN;
    END IF;

    RETURN QUERY
        SELECT i.token, i.session_id, i.expires_at
          FROM db_session_issue(p_workspace, v_user, p_ttl) i;
END
$$;
