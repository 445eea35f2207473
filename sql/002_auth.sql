-- Authentication: users, API keys, sessions, and the functions the module
-- (and the bootstrap) call.  docs/SECURITY.md explains the model.
--
-- Tokens are "crmk_" (API key) or "crms_" (session) + 40 hex digits (160
-- random bits from gen_random_bytes).  Only two things of a token are
-- stored: its prefix (left(token, 16): the kind marker and 11 hex digits,
-- public, used to find the row and shown in lists) and the SHA-256 of the
-- whole token.  The module looks the row up by prefix and compares the
-- hashes in constant time.  A plain SHA-256 suffices for tokens (160
-- random bits cannot be guessed offline); passwords, which are chosen by
-- people, are hashed with bcrypt (crypt() with gen_salt('bf', 10)).
--
-- Every function is SECURITY INVOKER and takes its input as parameters
-- only (no dynamic SQL).

-- crypt(), gen_salt(), digest(), gen_random_bytes().  pgcrypto is a
-- trusted extension: the database owner may create it (Debian:
-- postgresql-contrib, a dependency of postgresql-15).
CREATE EXTENSION IF NOT EXISTS pgcrypto;


-- ---------------------------------------------------------------- tables

CREATE TABLE users (
    workspace_id    uuid        NOT NULL REFERENCES workspaces (id),
    id              uuid        NOT NULL DEFAULT gen_random_uuid(),
    email           text        NOT NULL,
    name            text,
    role            text        NOT NULL DEFAULT 'member',
    -- crypt() with gen_salt('bf', 10); NULL: invited, cannot log in
    password_hash   text,
    failed_logins   integer     NOT NULL DEFAULT 0,
    locked_until    timestamptz,
    last_login_at   timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    deleted_at      timestamptz,
    PRIMARY KEY (workspace_id, id),
    CONSTRAINT users_role_check CHECK (role IN ('owner', 'admin', 'member')),
    -- a bcrypt hash, never anything else (a clear-text password stored
    -- here by mistake is refused)
    CONSTRAINT users_password_hash_check
        CHECK (password_hash ~ '^\$2[abxy]\$[0-9]{2}\$[./A-Za-z0-9]{53}$'),
    CONSTRAINT users_failed_logins_check CHECK (failed_logins >= 0)
);

-- global, not per workspace: a login names only an email
CREATE UNIQUE INDEX users_email_live ON users (lower(email))
    WHERE deleted_at IS NULL;
CREATE INDEX users_created ON users (workspace_id, created_at, id)
    WHERE deleted_at IS NULL;


CREATE TABLE api_keys (
    workspace_id    uuid        NOT NULL REFERENCES workspaces (id),
    id              uuid        NOT NULL DEFAULT gen_random_uuid(),
    name            text        NOT NULL,
    prefix          text        NOT NULL,
    secret_hash     bytea       NOT NULL,
    scopes          text[]      NOT NULL DEFAULT '{*}',
    expires_at      timestamptz,
    last_used_at    timestamptz,
    created_by      uuid,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    deleted_at      timestamptz,                    -- revoked
    PRIMARY KEY (workspace_id, id),
    CONSTRAINT api_keys_created_by_fk FOREIGN KEY (workspace_id, created_by)
        REFERENCES users (workspace_id, id),
    CONSTRAINT api_keys_prefix_check CHECK (prefix ~ '^crmk_[0-9a-f]{11}$'),
    CONSTRAINT api_keys_secret_hash_check
        CHECK (octet_length(secret_hash) = 32)
);

CREATE UNIQUE INDEX api_keys_prefix_key ON api_keys (prefix);
CREATE INDEX api_keys_created ON api_keys (workspace_id, created_at, id)
    WHERE deleted_at IS NULL;
-- crm_api_keys_touch() names keys by id alone
CREATE INDEX api_keys_id ON api_keys (id);


CREATE TABLE sessions (
    workspace_id    uuid        NOT NULL,
    id              uuid        NOT NULL DEFAULT gen_random_uuid(),
    user_id         uuid        NOT NULL,
    prefix          text        NOT NULL,
    secret_hash     bytea       NOT NULL,
    expires_at      timestamptz NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    deleted_at      timestamptz,                    -- revoked
    PRIMARY KEY (workspace_id, id),
    CONSTRAINT sessions_user_id_fk FOREIGN KEY (workspace_id, user_id)
        REFERENCES users (workspace_id, id),
    CONSTRAINT sessions_prefix_check CHECK (prefix ~ '^crms_[0-9a-f]{11}$'),
    CONSTRAINT sessions_secret_hash_check
        CHECK (octet_length(secret_hash) = 32)
);

CREATE UNIQUE INDEX sessions_prefix_key ON sessions (prefix);
CREATE INDEX sessions_user ON sessions (workspace_id, user_id)
    WHERE deleted_at IS NULL;


-- ------------------------------------------------------------- passwords

-- crm_password_hash(password): the bcrypt hash to store in
-- users.password_hash; NULL for NULL (an invited user).  8 characters at
-- least; at most 72 bytes, bcrypt's limit (longer ones are refused rather
-- than silently cut).
CREATE FUNCTION crm_password_hash(p_password text)
RETURNS text
LANGUAGE plpgsql VOLATILE SECURITY INVOKER
AS $$
BEGIN
    IF p_password IS NULL THEN
        RETURN NULL;
    END IF;

    IF char_length(p_password) < 8 THEN
        RAISE EXCEPTION 'a password has at least 8 characters'
            USING ERRCODE = 'invalid_parameter_value', COLUMN = 'password';
    END IF;

    IF octet_length(p_password) > 72 THEN
        RAISE EXCEPTION 'a password has at most 72 bytes'
            USING ERRCODE = 'invalid_parameter_value', COLUMN = 'password';
    END IF;

    RETURN crypt(p_password, gen_salt('bf', 10));
END
$$;


-- ------------------------------------------------------------- API keys

-- crm_api_key_create(workspace, name, scopes, expires_at, created_by):
-- makes a key, stores its prefix and hash, and returns its id and the key
-- itself: the only time the key exists in clear.  POST /api-keys and
-- crm_bootstrap() both make keys here.  Constraint violations (unknown
-- workspace or creator, NULL name or scopes) are raised as they are, so
-- that the module maps them to the field.
CREATE FUNCTION crm_api_key_create(p_workspace uuid, p_name text,
                                   p_scopes text[], p_expires_at timestamptz,
                                   p_created_by uuid)
RETURNS TABLE (id uuid, key text)
LANGUAGE plpgsql VOLATILE SECURITY INVOKER
AS $$
#variable_conflict use_column
DECLARE
    v_key        text;
    v_id         uuid;
    v_constraint text;
BEGIN
    -- 11 hex digits of prefix: a collision is rare, but possible; a new
    -- key is drawn then
    FOR attempt IN 1 .. 3 LOOP
        v_key := 'crmk_' || encode(gen_random_bytes(20), 'hex');
        BEGIN
            INSERT INTO api_keys AS k
                   (workspace_id, name, prefix, secret_hash, scopes,
                    expires_at, created_by)
            VALUES (p_workspace, p_name, left(v_key, 16),
                    digest(v_key, 'sha256'), p_scopes, p_expires_at,
                    p_created_by)
            RETURNING k.id INTO v_id;

            id := v_id;
            key := v_key;
            RETURN NEXT;
            RETURN;
        EXCEPTION WHEN unique_violation THEN
            GET STACKED DIAGNOSTICS v_constraint = CONSTRAINT_NAME;
            IF v_constraint IS DISTINCT FROM 'api_keys_prefix_key'
               OR attempt = 3
            THEN
                RAISE;
            END IF;
        END;
    END LOOP;
END
$$;


-- crm_api_keys_touch(ids): records the last use of keys.  The module
-- collects the keys it has seen and calls this once a minute per worker,
-- never per request.
CREATE FUNCTION crm_api_keys_touch(p_ids uuid[])
RETURNS void
LANGUAGE sql VOLATILE SECURITY INVOKER
AS $$
    UPDATE api_keys SET last_used_at = now() WHERE id = ANY (p_ids);
$$;


-- --------------------------------------------------------------- sessions

-- crm_session_issue(workspace, user, ttl): a new session of the user,
-- valid for ttl; returns the token (only here in clear).  Used by
-- crm_login() and crm_session_refresh(); checks nothing about the user.
CREATE FUNCTION crm_session_issue(p_workspace uuid, p_user uuid,
                                  p_ttl interval)
RETURNS TABLE (token text, session_id uuid, expires_at timestamptz)
LANGUAGE plpgsql VOLATILE SECURITY INVOKER
AS $$
#variable_conflict use_column
DECLARE
    v_token      text;
    v_id         uuid;
    v_expires    timestamptz;
    v_constraint text;
BEGIN
    IF p_ttl IS NULL OR p_ttl <= interval '0' THEN
        RAISE EXCEPTION 'a session lifetime must be positive'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;

    FOR attempt IN 1 .. 3 LOOP
        v_token := 'crms_' || encode(gen_random_bytes(20), 'hex');
        BEGIN
            INSERT INTO sessions AS s
                   (workspace_id, user_id, prefix, secret_hash, expires_at)
            VALUES (p_workspace, p_user, left(v_token, 16),
                    digest(v_token, 'sha256'), now() + p_ttl)
            RETURNING s.id, s.expires_at INTO v_id, v_expires;

            token := v_token;
            session_id := v_id;
            expires_at := v_expires;
            RETURN NEXT;
            RETURN;
        EXCEPTION WHEN unique_violation THEN
            GET STACKED DIAGNOSTICS v_constraint = CONSTRAINT_NAME;
            IF v_constraint IS DISTINCT FROM 'sessions_prefix_key'
               OR attempt = 3
            THEN
                RAISE;
            END IF;
        END;
    END LOOP;
END
$$;


-- crm_session_refresh(workspace, session, ttl): revokes the session and
-- issues a new one for the same user.  Zero rows unless the session is
-- live: not revoked, not expired, its user and workspace not deleted.
-- Two concurrent refreshes of one session: one of them gets a new one.
CREATE FUNCTION crm_session_refresh(p_workspace uuid, p_session uuid,
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
          FROM crm_session_issue(p_workspace, v_user, p_ttl) i;
END
$$;


-- crm_session_revoke(workspace, session): true when a session that was
-- not revoked yet is revoked now.
CREATE FUNCTION crm_session_revoke(p_workspace uuid, p_session uuid)
RETURNS boolean
LANGUAGE plpgsql VOLATILE SECURITY INVOKER
AS $$
BEGIN
    UPDATE sessions
       SET deleted_at = now()
     WHERE workspace_id = p_workspace
       AND id = p_session
       AND deleted_at IS NULL;

    RETURN FOUND;
END
$$;


-- ------------------------------------------------------- authentication

-- crm_auth_lookup(prefix): the live key or session with that prefix, for
-- the module to compare the hash; zero rows otherwise.  Live: not revoked,
-- in a workspace that is not deleted; a session also only while its user
-- is not deleted.  Expired ones are returned: the module checks the
-- expiry and says so.  A key belongs to its workspace: it outlives its
-- creator (created_by is informational).
CREATE FUNCTION crm_auth_lookup(p_prefix text)
RETURNS TABLE (kind text, workspace_id uuid, id uuid, user_id uuid,
               secret_hash bytea, scopes text[], role text,
               expires_at timestamptz)
LANGUAGE sql STABLE SECURITY INVOKER
AS $$
    SELECT 'key'::text, k.workspace_id, k.id, k.created_by, k.secret_hash,
           k.scopes, NULL::text, k.expires_at
      FROM api_keys k
      JOIN workspaces w ON w.id = k.workspace_id AND w.deleted_at IS NULL
     WHERE k.prefix = p_prefix
       AND k.deleted_at IS NULL
    UNION ALL
    SELECT 'session'::text, s.workspace_id, s.id, s.user_id, s.secret_hash,
           '{*}'::text[], u.role, s.expires_at
      FROM sessions s
      JOIN users u ON u.workspace_id = s.workspace_id AND u.id = s.user_id
                  AND u.deleted_at IS NULL
      JOIN workspaces w ON w.id = s.workspace_id AND w.deleted_at IS NULL
     WHERE s.prefix = p_prefix
       AND s.deleted_at IS NULL;
$$;


-- crm_login(email, password, ttl): a session for the user with that
-- email (case-insensitive) and password.
--
--   ok       token, session_id, expires_at, workspace_id, user_id
--   invalid  unknown email, user without a password, or wrong password:
--            never says which
--   locked   5 failures in a row lock the user for 15 minutes;
--            retry_after = seconds left.  The attempt that reaches 5
--            already answers locked.  While locked the password is not
--            checked and the lock is not extended.
--
-- Every attempt that is not refused as locked runs exactly one bcrypt
-- (against a fixed dummy hash of the same cost when there is no user or
-- no password), so the time taken does not tell an unknown email from a
-- wrong password.  The counters are changed by single UPDATEs that
-- re-check the lock, with no row lock held during bcrypt: concurrent
-- attempts cannot get past 5 failures, and a right password that arrives
-- after the lock was set is answered locked like a wrong one.
CREATE FUNCTION crm_login(p_email text, p_password text, p_ttl interval)
RETURNS TABLE (status text, token text, session_id uuid,
               expires_at timestamptz, workspace_id uuid, user_id uuid,
               retry_after integer)
LANGUAGE plpgsql VOLATILE SECURITY INVOKER
AS $$
#variable_conflict use_column
DECLARE
    -- bcrypt (cost 10) of 64 random hex digits that were thrown away
    c_dummy     constant text :=
        '$2a$10$NKT126ezxm6d.f0FHLFUauLF6ad9OJAV0waYLBTJNe66h9D.v1Qlu';
    c_max       constant integer := 5;
    c_lock      constant interval := interval '15 minutes';
    v_ws        uuid;
    v_user      uuid;
    v_hash      text;
    v_locked    timestamptz;
    v_ok        boolean;
BEGIN
    IF p_ttl IS NULL OR p_ttl <= interval '0' THEN
        RAISE EXCEPTION 'a session lifetime must be positive'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;

    SELECT u.workspace_id, u.id, u.password_hash, u.locked_until
      INTO v_ws, v_user, v_hash, v_locked
      FROM users u
      JOIN workspaces w ON w.id = u.workspace_id AND w.deleted_at IS NULL
     WHERE lower(u.email) = lower(p_email)
       AND u.deleted_at IS NULL;

    IF NOT FOUND THEN
        PERFORM crypt(coalesce(p_password, ''), c_dummy);
        status := 'invalid';
        RETURN NEXT;
        RETURN;
    END IF;

    IF v_locked > now() THEN
        status := 'locked';
        retry_after := greatest(1, ceil(extract(epoch FROM v_locked - now())));
        RETURN NEXT;
        RETURN;
    END IF;

    IF v_hash IS NULL THEN
        PERFORM crypt(coalesce(p_password, ''), c_dummy);
        v_ok := false;
    ELSE
        v_ok := crypt(coalesce(p_password, ''), v_hash) = v_hash;
    END IF;

    IF v_ok THEN
        -- still unlocked, and the password not changed meanwhile
        UPDATE users u
           SET failed_logins = 0, locked_until = NULL, last_login_at = now()
         WHERE u.workspace_id = v_ws
           AND u.id = v_user
           AND u.deleted_at IS NULL
           AND u.password_hash = v_hash
           AND (u.locked_until IS NULL OR u.locked_until <= now());

        IF FOUND THEN
            RETURN QUERY
                SELECT 'ok'::text, i.token, i.session_id, i.expires_at,
                       v_ws, v_user, NULL::integer
                  FROM crm_session_issue(v_ws, v_user, p_ttl) i;
            RETURN;
        END IF;
    ELSE
        UPDATE users u
           SET failed_logins = CASE WHEN u.failed_logins + 1 >= c_max
                                    THEN 0 ELSE u.failed_logins + 1 END,
               locked_until = CASE WHEN u.failed_logins + 1 >= c_max
                                   THEN now() + c_lock
                                   ELSE u.locked_until END
         WHERE u.workspace_id = v_ws
           AND u.id = v_user
           AND u.deleted_at IS NULL
           AND (u.locked_until IS NULL OR u.locked_until <= now());
    END IF;

    -- a failure, or a success that lost to a concurrent lock or change
    SELECT u.locked_until INTO v_locked
      FROM users u
     WHERE u.workspace_id = v_ws AND u.id = v_user;

    IF v_locked > now() THEN
        status := 'locked';
        retry_after := greatest(1, ceil(extract(epoch FROM v_locked - now())));
    ELSE
        status := 'invalid';
    END IF;

    RETURN NEXT;
END
$$;


-- -------------------------------------------------------------- bootstrap

-- crm_bootstrap(workspace name, owner email, owner password): a new
-- workspace, its owner (password NULL: cannot log in until one is set)
-- and an owner API key with every scope, named "bootstrap", made by
-- crm_api_key_create().  All or nothing.  The key is shown only here:
--
--   psql "$DSN" -c "SELECT * FROM crm_bootstrap('Acme', 'owner@acme.test', 'a long password')"
CREATE FUNCTION crm_bootstrap(p_workspace_name text, p_owner_email text,
                              p_owner_password text)
RETURNS TABLE (workspace_id uuid, user_id uuid, key text)
LANGUAGE plpgsql VOLATILE SECURITY INVOKER
AS $$
#variable_conflict use_column
DECLARE
    v_ws   uuid;
    v_user uuid;
BEGIN
    IF p_workspace_name IS NULL OR btrim(p_workspace_name) = '' THEN
        RAISE EXCEPTION 'a workspace name is required'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;

    IF p_owner_email IS NULL OR p_owner_email !~ '^[^@\s]+@[^@\s]+$' THEN
        RAISE EXCEPTION 'the owner''s email is not valid'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;

    INSERT INTO workspaces AS w (name)
    VALUES (p_workspace_name)
    RETURNING w.id INTO v_ws;

    INSERT INTO users AS u (workspace_id, email, role, password_hash)
    VALUES (v_ws, p_owner_email, 'owner', crm_password_hash(p_owner_password))
    RETURNING u.id INTO v_user;

    RETURN QUERY
        SELECT v_ws, v_user, k.key
          FROM crm_api_key_create(v_ws, 'bootstrap', '{*}', NULL, v_user) k;
END
$$;
