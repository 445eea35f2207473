-- t/sql/auth.sql: the tables and functions of sql/002_auth.sql.
--
-- Run by t/sql/run.sh (psql -X -q -At -v ON_ERROR_STOP=1 -f ...), which
-- numbers nothing itself: every check prints one TAP line
-- "ok N - ..." / "not ok N - ...", and the script ends with the plan
-- "1..N" and a "# N passed, M failed" line.
--
-- Everything happens in one transaction that is rolled back at the end,
-- so the script leaves nothing behind, even when it stops half-way, and
-- two runs at once do not see each other's rows (the second waits for
-- the first one's workspace ids).  Inside it now() is constant, which
-- makes expiry times exact; expiry itself is simulated by moving
-- timestamps into the past.

\set ON_ERROR_STOP 1
\pset format unaligned
\pset tuples_only on
\pset null ''

BEGIN;

SET LOCAL client_min_messages = warning;

-- ---------------------------------------------------------------- helpers

CREATE TEMP SEQUENCE tap_n;
CREATE TEMP TABLE tap_result (n integer, ok boolean) ON COMMIT DROP;

-- ok(condition, description): one TAP line; NULL counts as a failure
CREATE FUNCTION pg_temp.ok(p_cond boolean, p_desc text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    v_n integer := nextval('tap_n');
BEGIN
    INSERT INTO tap_result VALUES (v_n, coalesce(p_cond, false));
    RETURN CASE WHEN p_cond THEN 'ok ' ELSE 'not ok ' END
           || v_n || ' - ' || p_desc;
END
$$;

-- is(got, expected, description): like ok(), with a diagnostic on failure
CREATE FUNCTION pg_temp.is(p_got text, p_want text, p_desc text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    v_line text := pg_temp.ok(p_got IS NOT DISTINCT FROM p_want, p_desc);
BEGIN
    IF p_got IS DISTINCT FROM p_want THEN
        v_line := v_line || E'\n#   got:      ' || coalesce(p_got, 'NULL')
                         || E'\n#   expected: ' || coalesce(p_want, 'NULL');
    END IF;
    RETURN v_line;
END
$$;

-- error_of(sql): NULL when the statement succeeds (it is rolled back
-- either way), else "SQLSTATE constraint-or-column"
CREATE FUNCTION pg_temp.error_of(p_sql text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    v_state text;
    v_constraint text;
    v_column text;
BEGIN
    BEGIN
        EXECUTE p_sql;
        RAISE EXCEPTION 'tap: succeeded' USING ERRCODE = 'P0099';
    EXCEPTION WHEN OTHERS THEN
        GET STACKED DIAGNOSTICS v_state = RETURNED_SQLSTATE,
                                v_constraint = CONSTRAINT_NAME,
                                v_column = COLUMN_NAME;
    END;
    IF v_state = 'P0099' THEN
        RETURN NULL;
    END IF;
    RETURN btrim(v_state || ' ' || coalesce(nullif(v_constraint, ''),
                                            nullif(v_column, ''), ''));
END
$$;

-- login_ms(email, password): how long db_login() takes, in ms
CREATE FUNCTION pg_temp.login_ms(p_email text, p_password text)
RETURNS double precision
LANGUAGE plpgsql AS $$
DECLARE
    t timestamptz := clock_timestamp();
BEGIN
    PERFORM * FROM db_login(p_email, p_password, interval '1 hour');
    RETURN extract(epoch FROM clock_timestamp() - t) * 1000;
END
$$;


-- --------------------------------------------------------------- fixtures
--
-- ws1: owner (password), member (password), invited (no password)
-- ws2: other (password)
-- ws3: a workspace that gets deleted

\set ws1 'a0000000-0000-4000-8000-000000000001'
\set ws2 'a0000000-0000-4000-8000-000000000002'
\set ws3 'a0000000-0000-4000-8000-000000000003'
\set owner 'a0000000-0000-4000-8000-0000000000a1'
\set member 'a0000000-0000-4000-8000-0000000000a2'
\set invited 'a0000000-0000-4000-8000-0000000000a3'
\set other 'a0000000-0000-4000-8000-0000000000b1'
\set ws3user 'a0000000-0000-4000-8000-0000000000c1'
\set pw 'correct horse battery'

INSERT INTO workspaces (id, name) VALUES
    (:'ws1', 'Auth test 1'), (:'ws2', 'Auth test 2'), (:'ws3', 'Auth test 3');

INSERT INTO users (workspace_id, id, email, role, password_hash) VALUES
    (:'ws1', :'owner', 'Owner@AuthTest.invalid', 'owner',
     db_password_hash(:'pw')),
    (:'ws1', :'member', 'member@authtest.invalid', 'member',
     db_password_hash(:'pw')),
    (:'ws1', :'invited', 'invited@authtest.invalid', 'member', NULL),
    (:'ws2', :'other', 'other@authtest.invalid', 'admin',
     db_password_hash(:'pw')),
    (:'ws3', :'ws3user', 'ws3@authtest.invalid', 'owner',
     db_password_hash(:'pw'));


-- ----------------------------------------------------------------- schema

SELECT pg_temp.ok(EXISTS (SELECT 1 FROM pg_extension
                          WHERE extname = 'pgcrypto'),
                  'pgcrypto is installed');

-- the functions of sql/002_auth.sql (db_auth_lookup as 003 left it),
-- with their result types
CREATE TEMP TABLE auth_fn (sig text, result text) ON COMMIT DROP;
INSERT INTO auth_fn VALUES
  ('db_password_hash(text)', 'text'),
  ('db_api_key_create(uuid,text,text[],timestamptz,uuid)',
   'TABLE(id uuid, key text)'),
  ('db_api_keys_touch(uuid[])', 'void'),
  ('db_auth_lookup(text)',
   'TABLE(kind text, workspace_id uuid, id uuid, user_id uuid, '
   || 'secret_hash bytea, scopes text[], role text, '
   || 'expires_at timestamp with time zone, rate_per_minute integer, '
   || 'rate_per_hour integer)'),
  ('db_login(text,text,interval)',
   'TABLE(status text, token text, session_id uuid, '
   || 'expires_at timestamp with time zone, workspace_id uuid, '
   || 'user_id uuid, retry_after integer)'),
  ('db_session_issue(uuid,uuid,interval)',
   'TABLE(token text, session_id uuid, expires_at timestamp with time zone)'),
  ('db_session_refresh(uuid,uuid,interval)',
   'TABLE(token text, session_id uuid, expires_at timestamp with time zone)'),
  ('db_session_revoke(uuid,uuid)', 'boolean'),
  ('db_bootstrap(text,text,text)',
   'TABLE(workspace_id uuid, user_id uuid, key text)');

SELECT pg_temp.is(f.sig || ' ' || pg_get_function_result(to_regprocedure(f.sig)),
                  f.sig || ' ' || f.result, 'function ' || f.sig)
  FROM auth_fn f ORDER BY f.sig;

SELECT pg_temp.ok(NOT bool_or(p.prosecdef),
                  'every one of them is SECURITY INVOKER')
  FROM auth_fn f JOIN pg_proc p ON p.oid = to_regprocedure(f.sig);

SELECT pg_temp.ok(NOT bool_or(p.prosrc ~* '\mexecute\M'),
                  'none of them runs dynamic SQL')
  FROM auth_fn f JOIN pg_proc p ON p.oid = to_regprocedure(f.sig);

SELECT pg_temp.is(
    pg_temp.error_of($$INSERT INTO users (workspace_id, email)
                       VALUES ('a0000000-0000-4000-8000-000000000002',
                               'OWNER@authtest.INVALID')$$),
    '23505 users_email_live',
    'an email is unique among live users of all workspaces, any case');

UPDATE users SET deleted_at = now() WHERE workspace_id = :'ws1'
   AND id = :'member';
SELECT pg_temp.is(
    pg_temp.error_of($$INSERT INTO users (workspace_id, email)
                       VALUES ('a0000000-0000-4000-8000-000000000002',
                               'member@authtest.invalid')$$),
    NULL, 'the email of a deleted user can be used again');
UPDATE users SET deleted_at = NULL WHERE workspace_id = :'ws1'
   AND id = :'member';

SELECT pg_temp.is(
    pg_temp.error_of($$UPDATE users SET password_hash = 'hunter2hunter2'
                       WHERE email = 'member@authtest.invalid'$$),
    '23514 users_password_hash_check',
    'password_hash takes only a bcrypt hash, never a clear password');

SELECT pg_temp.is(
    pg_temp.error_of($$UPDATE users SET role = 'root'
                       WHERE email = 'member@authtest.invalid'$$),
    '23514 users_role_check', 'role is owner, admin or member');

SELECT pg_temp.is(
    pg_temp.error_of($$INSERT INTO sessions (workspace_id, user_id, prefix,
                           secret_hash, expires_at)
                       VALUES ('a0000000-0000-4000-8000-000000000002',
                               'a0000000-0000-4000-8000-0000000000a1',
                               'crms_00000000000', digest('x', 'sha256'),
                               now())$$),
    '23503 sessions_user_id_fk',
    'a session cannot point at a user of another workspace');


-- ------------------------------------------------------ db_password_hash

SELECT pg_temp.ok(password_hash LIKE '$2a$10$%' AND length(password_hash) = 60,
                  'passwords are bcrypt hashes of cost 10')
  FROM users WHERE id = :'owner';

SELECT pg_temp.ok(crypt(:'pw', password_hash) = password_hash
                  AND crypt('correct horse batterY', password_hash)
                      <> password_hash,
                  'crypt() verifies the password, and only that one')
  FROM users WHERE id = :'owner';

SELECT pg_temp.ok(db_password_hash(NULL) IS NULL,
                  'db_password_hash(NULL) is NULL (invited)');

SELECT pg_temp.is(pg_temp.error_of($$SELECT db_password_hash('short')$$),
                  '22023 password', 'a password shorter than 8 is refused');

SELECT pg_temp.is(pg_temp.error_of(
                      $$SELECT db_password_hash(repeat('é', 37))$$),
                  '22023 password',
                  'a password longer than 72 bytes is refused');


-- ----------------------------------------------------- crm_api_key_create

SELECT id AS k1_id, key AS k1
  FROM db_api_key_create(:'ws1', 'first', '{contacts:read,deals:*}',
                          '2099-01-01T00:00:00Z', :'owner') \gset
SELECT id AS k2_id, key AS k2
  FROM db_api_key_create(:'ws1', 'second', '{*}', NULL, NULL) \gset

SELECT pg_temp.ok(:'k1' ~ '^crmk_[0-9a-f]{40}$' AND length(:'k1') = 45,
                  'a key is crmk_ and 40 hex digits');

SELECT pg_temp.ok(:'k1' <> :'k2', 'two keys differ');

SELECT pg_temp.ok(k.prefix = left(:'k1', 16)
                  AND k.secret_hash = digest(:'k1', 'sha256'),
                  'the key is stored as its prefix and its SHA-256')
  FROM api_keys k WHERE k.workspace_id = :'ws1' AND k.id = :'k1_id';

SELECT pg_temp.ok(strpos(k::text, substr(:'k1', 17)) = 0
                  AND strpos(k::text, encode(convert_to(substr(:'k1', 17),
                                                       'UTF8'), 'hex')) = 0,
                  'the secret part of the key is nowhere in its row')
  FROM api_keys k WHERE k.id = :'k1_id';

SELECT pg_temp.is(
    format('%s|%s|%s|%s|%s|%s', k.name, k.scopes, k.expires_at AT TIME ZONE 'UTC',
           k.created_by, k.last_used_at, k.deleted_at),
    'first|{contacts:read,deals:*}|2099-01-01 00:00:00|'
        || :'owner' || '||',
    'name, scopes, expiry and creator are stored')
  FROM api_keys k WHERE k.id = :'k1_id';

SELECT pg_temp.is(
    pg_temp.error_of($$SELECT * FROM db_api_key_create(
        'a0000000-0000-4000-8000-000000000001', NULL, '{*}', NULL, NULL)$$),
    '23502 name', 'a key needs a name');

SELECT pg_temp.is(
    pg_temp.error_of($$SELECT * FROM db_api_key_create(
        'a0000000-0000-4000-8000-000000000001', 'x', NULL, NULL, NULL)$$),
    '23502 scopes', 'NULL scopes are refused (not every scope)');

SELECT pg_temp.is(
    pg_temp.error_of($$SELECT * FROM db_api_key_create(
        'a0000000-0000-4000-8000-00000000ffff', 'x', '{*}', NULL, NULL)$$),
    '23503 api_keys_workspace_id_fkey', 'the workspace must exist');

SELECT pg_temp.is(
    pg_temp.error_of($$SELECT * FROM db_api_key_create(
        'a0000000-0000-4000-8000-000000000001', 'x', '{*}', NULL,
        'a0000000-0000-4000-8000-0000000000b1')$$),
    '23503 api_keys_created_by_fk',
    'the creator must be a user of the same workspace');


-- -------------------------------------------------------- db_auth_lookup

SELECT pg_temp.is(
    format('%s|%s|%s|%s|%s|%s|%s|%s', kind, workspace_id, id, user_id,
           secret_hash = digest(:'k1', 'sha256'), scopes, role,
           expires_at AT TIME ZONE 'UTC'),
    'key|' || :'ws1' || '|' || :'k1_id' || '|' || :'owner'
        || '|t|{contacts:read,deals:*}||2099-01-01 00:00:00',
    'lookup of a key: its workspace, id, creator, hash, scopes, expiry')
  FROM db_auth_lookup(left(:'k1', 16));

SELECT pg_temp.is(count(*)::text, '0', 'lookup of an unknown prefix: none')
  FROM db_auth_lookup('crmk_0000000000x');

SELECT pg_temp.is(count(*)::text, '0', 'lookup by the whole key: none')
  FROM db_auth_lookup(:'k1');

UPDATE api_keys SET expires_at = now() - interval '1 second'
 WHERE id = :'k2_id';
SELECT pg_temp.is(count(*) || '|' || bool_and(expires_at < now()), '1|true',
                  'an expired key is returned, with its expiry')
  FROM db_auth_lookup(left(:'k2', 16));

UPDATE api_keys SET deleted_at = now() WHERE id = :'k2_id';
SELECT pg_temp.is(count(*)::text, '0', 'a revoked key is not returned')
  FROM db_auth_lookup(left(:'k2', 16));

SELECT key AS k3 FROM db_api_key_create(:'ws3', 'ws3', '{*}', NULL, NULL)
\gset
SELECT pg_temp.is(count(*)::text, '1', 'a key of a live workspace ...')
  FROM db_auth_lookup(left(:'k3', 16));
UPDATE workspaces SET deleted_at = now() WHERE id = :'ws3';
SELECT pg_temp.is(count(*)::text, '0',
                  '... is not returned once the workspace is deleted')
  FROM db_auth_lookup(left(:'k3', 16));


-- -------------------------------------------------------------- db_login

UPDATE users SET failed_logins = 3 WHERE id = :'owner';

SELECT status AS s1_status, token AS s1, session_id AS s1_id,
       expires_at AS s1_expires, workspace_id AS s1_ws, user_id AS s1_user,
       coalesce(retry_after::text, 'none') AS s1_retry
  FROM db_login('OWNER@authtest.INVALID', :'pw', '2 hours') \gset

SELECT pg_temp.is(:'s1_status', 'ok', 'login: ok, email in any case');
SELECT pg_temp.ok(:'s1' ~ '^crms_[0-9a-f]{40}$',
                  'login: the token is crms_ and 40 hex digits');
SELECT pg_temp.is(:'s1_ws' || '|' || :'s1_user' || '|' || :'s1_retry',
                  :'ws1' || '|' || :'owner' || '|none',
                  'login: the workspace and user, no retry_after');
SELECT pg_temp.ok(:'s1_expires'::timestamptz = now() + interval '2 hours',
                  'login: expires after the ttl');
SELECT pg_temp.ok(s.prefix = left(:'s1', 16)
                  AND s.secret_hash = digest(:'s1', 'sha256')
                  AND s.user_id = :'owner' AND s.deleted_at IS NULL
                  AND s.expires_at = :'s1_expires'::timestamptz
                  AND strpos(s::text, substr(:'s1', 17)) = 0,
                  'login: the session is stored as prefix and SHA-256')
  FROM sessions s WHERE s.workspace_id = :'ws1' AND s.id = :'s1_id';
SELECT pg_temp.is(u.failed_logins || '|' || (u.last_login_at = now()),
                  '0|true',
                  'login: resets the failure count, notes the time')
  FROM users u WHERE u.id = :'owner';

SELECT pg_temp.is(
    format('%s|%s|%s|%s|%s|%s|%s', kind, workspace_id, id, user_id, scopes,
           role, secret_hash = digest(:'s1', 'sha256')),
    'session|' || :'ws1' || '|' || :'s1_id' || '|' || :'owner'
        || '|{*}|owner|t',
    'lookup of a session: workspace, id, user, scopes {*}, the user''s role')
  FROM db_auth_lookup(left(:'s1', 16));

SELECT pg_temp.is(format('%s', l), '(invalid,,,,,,)',
                  'login: a wrong password is invalid, and nothing else')
  FROM db_login('owner@authtest.invalid', 'correct horse batterY',
                 '1 hour') l;
SELECT pg_temp.is(format('%s', l), '(invalid,,,,,,)',
                  'login: an unknown email is the same invalid')
  FROM db_login('nobody@authtest.invalid', :'pw', '1 hour') l;
SELECT pg_temp.is(format('%s', l), '(invalid,,,,,,)',
                  'login: a user without a password is the same invalid')
  FROM db_login('invited@authtest.invalid', '', '1 hour') l;
SELECT pg_temp.is(format('%s', l), '(invalid,,,,,,)',
                  'login: a NULL password is invalid, not an error')
  FROM db_login('owner@authtest.invalid', NULL, '1 hour') l;
SELECT pg_temp.is(format('%s', l), '(invalid,,,,,,)',
                  'login: a NULL email is invalid, not an error')
  FROM db_login(NULL, :'pw', '1 hour') l;
SELECT pg_temp.is(failed_logins::text, '2',
                  'login: each failure of a user is counted')
  FROM users WHERE id = :'owner';

SELECT pg_temp.is(pg_temp.error_of(
                      $$SELECT * FROM db_login('owner@authtest.invalid',
                                                'x', '0 seconds')$$),
                  '22023', 'login: a ttl of 0 is an error');

-- lockout: the owner has 2 failures; 2 more are invalid, the 5th locks
SELECT pg_temp.is(string_agg(l.status, ',' ORDER BY g), 'invalid,invalid',
                  'login: failures 3 and 4 are invalid')
  FROM generate_series(1, 2) g,
       LATERAL db_login('owner@authtest.invalid', 'wrong password ' || g,
                         '1 hour') l;
SELECT pg_temp.is(format('%s', l), '(locked,,,,,,900)',
                  'login: the 5th failure locks for 15 minutes')
  FROM db_login('owner@authtest.invalid', 'wrong password', '1 hour') l;
SELECT pg_temp.is(u.failed_logins || '|' || (u.locked_until = now()
                                             + interval '15 minutes'),
                  '0|true', 'login: the lock is stored, the count reset')
  FROM users u WHERE u.id = :'owner';

UPDATE users SET locked_until = now() + interval '10 minutes',
                 failed_logins = 2
 WHERE id = :'owner';
SELECT pg_temp.is(format('%s', l), '(locked,,,,,,600)',
                  'login: while locked the right password is locked too')
  FROM db_login('owner@authtest.invalid', :'pw', '1 hour') l;
SELECT pg_temp.is(format('%s', l), '(locked,,,,,,600)',
                  'login: a wrong one as well')
  FROM db_login('owner@authtest.invalid', 'wrong password', '1 hour') l;
SELECT pg_temp.is(u.failed_logins || '|' || (u.locked_until = now()
                                             + interval '10 minutes'),
                  '2|true',
                  'login: while locked nothing is counted, the lock not extended')
  FROM users u WHERE u.id = :'owner';
SELECT pg_temp.ok(
    greatest(pg_temp.login_ms('owner@authtest.invalid', :'pw'),
             pg_temp.login_ms('owner@authtest.invalid', 'wrong password'))
    < 0.25 * least(pg_temp.login_ms('member@authtest.invalid', 'wrong'),
                   pg_temp.login_ms('member@authtest.invalid', 'wrong')),
    'login: while locked no bcrypt runs');

UPDATE users SET locked_until = now() - interval '1 second' WHERE id = :'owner';
SELECT pg_temp.is(l.status, 'ok', 'login: ok again once the lock has passed')
  FROM db_login('owner@authtest.invalid', :'pw', '1 hour') l;
SELECT pg_temp.is(u.failed_logins || '|' || (u.locked_until IS NULL), '0|true',
                  '... which resets the count and clears the lock')
  FROM users u WHERE u.id = :'owner';

-- timing: one bcrypt whatever was wrong (min of 3 runs each)
UPDATE users SET failed_logins = 0, locked_until = NULL
 WHERE workspace_id IN (:'ws1', :'ws2');
SELECT pg_temp.ok(
    least(pg_temp.login_ms('nobody@authtest.invalid', 'wrong password'),
          pg_temp.login_ms('nobody@authtest.invalid', 'wrong password'),
          pg_temp.login_ms('nobody@authtest.invalid', 'wrong password'))
    > 0.25 * least(pg_temp.login_ms('other@authtest.invalid', 'wrong password'),
                   pg_temp.login_ms('other@authtest.invalid', 'wrong password'),
                   pg_temp.login_ms('other@authtest.invalid', 'wrong password')),
    'login: an unknown email takes as long as a wrong password (bcrypt)');
SELECT pg_temp.ok(
    least(pg_temp.login_ms('invited@authtest.invalid', 'wrong password'),
          pg_temp.login_ms('invited@authtest.invalid', 'wrong password'))
    > 0.25 * least(pg_temp.login_ms('member@authtest.invalid', 'wrong password'),
                   pg_temp.login_ms('member@authtest.invalid', 'wrong password')),
    'login: so does a user without a password');
UPDATE users SET failed_logins = 0, locked_until = NULL
 WHERE workspace_id IN (:'ws1', :'ws2');

UPDATE users SET deleted_at = now() WHERE id = :'member';
SELECT pg_temp.is(l.status, 'invalid', 'login: a deleted user is invalid')
  FROM db_login('member@authtest.invalid', :'pw', '1 hour') l;
UPDATE users SET deleted_at = NULL WHERE id = :'member';

SELECT pg_temp.is(l.status, 'invalid',
                  'login: a user of a deleted workspace is invalid')
  FROM db_login('ws3@authtest.invalid', :'pw', '1 hour') l;

SELECT pg_temp.is(l.status || '|' || l.workspace_id, 'ok|' || :'ws2',
                  'login: a user of another workspace gets that workspace')
  FROM db_login('other@authtest.invalid', :'pw', '1 hour') l;


-- ------------------------------------------------ sessions: lookup, expiry

SELECT token AS s2, session_id AS s2_id
  FROM db_login('member@authtest.invalid', :'pw', '1 hour') \gset

SELECT pg_temp.is(role, 'member', 'lookup of a session: the member''s role')
  FROM db_auth_lookup(left(:'s2', 16));

UPDATE users SET role = 'admin' WHERE id = :'member';
SELECT pg_temp.is(role, 'admin',
                  'lookup of a session: the user''s role as it is now')
  FROM db_auth_lookup(left(:'s2', 16));

UPDATE users SET deleted_at = now() WHERE id = :'member';
SELECT pg_temp.is(count(*)::text, '0',
                  'lookup of a session of a deleted user: none')
  FROM db_auth_lookup(left(:'s2', 16));
UPDATE users SET deleted_at = NULL WHERE id = :'member';

UPDATE workspaces SET deleted_at = now() WHERE id = :'ws1';
SELECT pg_temp.is(count(*)::text, '0',
                  'lookup of a session in a deleted workspace: none')
  FROM db_auth_lookup(left(:'s2', 16));
UPDATE workspaces SET deleted_at = NULL WHERE id = :'ws1';

UPDATE sessions SET expires_at = now() - interval '1 second'
 WHERE id = :'s2_id';
SELECT pg_temp.is(count(*) || '|' || bool_and(expires_at < now()), '1|true',
                  'an expired session is returned, with its expiry')
  FROM db_auth_lookup(left(:'s2', 16));


-- ------------------------------------------------------ db_session_refresh

SELECT pg_temp.is(count(*)::text, '0',
                  'refresh: an expired session is not refreshed')
  FROM db_session_refresh(:'ws1', :'s2_id', '1 hour');

SELECT pg_temp.is(count(*)::text, '0',
                  'refresh: not through another workspace')
  FROM db_session_refresh(:'ws2', :'s1_id', '1 hour');

SELECT token AS s3, session_id AS s3_id, expires_at AS s3_expires
  FROM db_session_refresh(:'ws1', :'s1_id', '30 minutes') \gset

SELECT pg_temp.ok(:'s3' ~ '^crms_[0-9a-f]{40}$' AND :'s3' <> :'s1'
                  AND :'s3_id' <> :'s1_id'
                  AND :'s3_expires'::timestamptz = now() + interval '30 minutes',
                  'refresh: a new token and session, expiring after the ttl');
SELECT pg_temp.is(s.user_id || '|' || (s.deleted_at IS NULL),
                  :'owner' || '|true', 'refresh: for the same user')
  FROM sessions s WHERE s.workspace_id = :'ws1' AND s.id = :'s3_id';
SELECT pg_temp.is(count(*)::text, '0', 'refresh: the old session is revoked')
  FROM db_auth_lookup(left(:'s1', 16));
SELECT pg_temp.is(count(*)::text, '1', 'refresh: the new one is live')
  FROM db_auth_lookup(left(:'s3', 16));
SELECT pg_temp.is(count(*)::text, '0',
                  'refresh: a revoked session is not refreshed')
  FROM db_session_refresh(:'ws1', :'s1_id', '1 hour');

-- the workspace keeps an owner (sql/012_owners.sql) while this one goes
INSERT INTO users (workspace_id, email, role)
VALUES (:'ws1', 'second-owner@authtest.invalid', 'owner');
UPDATE users SET deleted_at = now() WHERE id = :'owner';
SELECT pg_temp.is(count(*)::text, '0',
                  'refresh: not for a deleted user')
  FROM db_session_refresh(:'ws1', :'s3_id', '1 hour');
SELECT pg_temp.is((deleted_at IS NULL)::text, 'true',
                  'refresh: ... and that session is left as it was')
  FROM sessions WHERE workspace_id = :'ws1' AND id = :'s3_id';
UPDATE users SET deleted_at = NULL WHERE id = :'owner';

SELECT pg_temp.is(pg_temp.error_of(format(
                      $$SELECT * FROM db_session_refresh(%L, %L, NULL)$$,
                      :'ws1', :'s3_id')),
                  '22023', 'refresh: a NULL ttl is an error');


-- ------------------------------------------------------- db_session_revoke

SELECT pg_temp.is(db_session_revoke(:'ws2', :'s3_id')::text, 'false',
                  'revoke: not through another workspace');
SELECT pg_temp.is(count(*)::text, '1', '... the session is still live')
  FROM db_auth_lookup(left(:'s3', 16));
SELECT pg_temp.is(db_session_revoke(:'ws1', :'s3_id')::text, 'true',
                  'revoke: true');
SELECT pg_temp.is(count(*)::text, '0', 'revoke: the session is gone')
  FROM db_auth_lookup(left(:'s3', 16));
SELECT pg_temp.is(db_session_revoke(:'ws1', :'s3_id')::text, 'false',
                  'revoke: again: false');
SELECT pg_temp.is(db_session_revoke(:'ws1',
                      'a0000000-0000-4000-8000-00000000ffff')::text, 'false',
                  'revoke: an unknown session: false');


-- ------------------------------------------------------ db_api_keys_touch

SELECT id AS k4_id FROM db_api_key_create(:'ws2', 'touch', '{*}', NULL, NULL)
\gset
UPDATE api_keys SET last_used_at = NULL WHERE id IN (:'k1_id', :'k4_id');

SELECT db_api_keys_touch(ARRAY[:'k1_id']::uuid[]) \g /dev/null
SELECT pg_temp.is(string_agg(format('%s', last_used_at = now()), ','
                             ORDER BY id = :'k1_id' DESC),
                  't,', 'touch: sets last_used_at of the keys named only')
  FROM api_keys WHERE id IN (:'k1_id', :'k4_id');

SELECT pg_temp.is(pg_temp.error_of(
                      $$SELECT db_api_keys_touch('{}'), db_api_keys_touch(NULL)$$),
                  NULL, 'touch: an empty or NULL array is fine');


-- ----------------------------------------------------------- db_bootstrap

SELECT count(*) AS ws_before FROM workspaces \gset

SELECT workspace_id AS b_ws, user_id AS b_user, key AS b_key
  FROM db_bootstrap('Acme Auth Test', 'Boss@AuthTest.invalid',
                     'a long password') \gset

SELECT pg_temp.is(name, 'Acme Auth Test', 'bootstrap: the workspace')
  FROM workspaces WHERE id = :'b_ws';
SELECT pg_temp.is(format('%s|%s|%s|%s', workspace_id, email, role,
                         crypt('a long password', password_hash)
                             = password_hash),
                  :'b_ws' || '|Boss@AuthTest.invalid|owner|t',
                  'bootstrap: its owner, with the password')
  FROM users WHERE id = :'b_user';
SELECT pg_temp.is(format('%s|%s|%s|%s|%s', k.name, k.scopes, k.created_by,
                         k.expires_at, k.secret_hash = digest(:'b_key',
                                                              'sha256')),
                  'bootstrap|{*}|' || :'b_user' || '||t',
                  'bootstrap: an owner key, every scope, no expiry, hashed')
  FROM api_keys k WHERE k.workspace_id = :'b_ws';
SELECT pg_temp.is(kind || '|' || workspace_id, 'key|' || :'b_ws',
                  'bootstrap: the key is found by its prefix')
  FROM db_auth_lookup(left(:'b_key', 16));
SELECT pg_temp.is(status || '|' || user_id, 'ok|' || :'b_user',
                  'bootstrap: the owner can log in')
  FROM db_login('boss@authtest.invalid', 'a long password', '1 hour');

SELECT pg_temp.is(pg_temp.error_of(
                      $$SELECT * FROM db_bootstrap('Again',
                          'BOSS@authtest.invalid', 'a long password')$$),
                  '23505 users_email_live',
                  'bootstrap: an email in use is refused');
SELECT pg_temp.is((count(*) - :ws_before)::text, '1',
                  '... and leaves no workspace behind')
  FROM workspaces;
SELECT pg_temp.is(pg_temp.error_of(
                      $$SELECT * FROM db_bootstrap('Short',
                          'short@authtest.invalid', 'short')$$),
                  '22023 password', 'bootstrap: a short password is refused');
SELECT pg_temp.is(pg_temp.error_of(
                      $$SELECT * FROM db_bootstrap('', 'x@authtest.invalid',
                                                    NULL)$$),
                  '22023', 'bootstrap: a workspace name is required');
SELECT pg_temp.is(pg_temp.error_of(
                      $$SELECT * FROM db_bootstrap('X', 'not an email',
                                                    NULL)$$),
                  '22023', 'bootstrap: the email must look like one');

SELECT user_id AS n_user FROM db_bootstrap('No password',
                                            'nopw@authtest.invalid', NULL)
\gset
SELECT pg_temp.is(format('%s', password_hash), '',
                  'bootstrap: a NULL password makes an invited owner')
  FROM users WHERE id = :'n_user';
SELECT pg_temp.is(status, 'invalid', '... who cannot log in')
  FROM db_login('nopw@authtest.invalid', '', '1 hour');


-- ------------------------------------------- the descriptors' promises

-- the planner pages a sort by a field flagged never null without its
-- nulls: the column holds the promise (sql/094)

SELECT pg_temp.is(
    pg_temp.error_of($$INSERT INTO contacts (workspace_id, email, status)
                       VALUES ('a0000000-0000-4000-8000-000000000002',
                               'nostatus@authtest.invalid', NULL)$$),
    '23502 status',
    'a contact''s status is never null');


-- ------------------------------------------------------------------ done

SELECT '1..' || count(*) FROM tap_result;
SELECT '# ' || count(*) FILTER (WHERE ok) || ' passed, '
       || count(*) FILTER (WHERE NOT ok) || ' failed'
  FROM tap_result;

ROLLBACK;
