-- Rate limits per API key: when set, they replace crm_rate_limit's
-- per_minute / per_hour for requests made with the key.

ALTER TABLE api_keys
    ADD COLUMN rate_limit_per_minute integer
        CONSTRAINT api_keys_rate_limit_per_minute_check
        CHECK (rate_limit_per_minute > 0),
    ADD COLUMN rate_limit_per_hour integer
        CONSTRAINT api_keys_rate_limit_per_hour_check
        CHECK (rate_limit_per_hour > 0);

-- crm_auth_lookup() gains the two limits (NULL: the configured ones)
DROP FUNCTION crm_auth_lookup(text);

CREATE FUNCTION crm_auth_lookup(p_prefix text)
RETURNS TABLE (kind text, workspace_id uuid, id uuid, user_id uuid,
               secret_hash bytea, scopes text[], role text,
               expires_at timestamptz, rate_per_minute integer,
               rate_per_hour integer)
LANGUAGE sql STABLE SECURITY INVOKER
AS $$
    SELECT 'key'::text, k.workspace_id, k.id, k.created_by, k.secret_hash,
           k.scopes, NULL::text, k.expires_at, k.rate_limit_per_minute,
           k.rate_limit_per_hour
      FROM api_keys k
      JOIN workspaces w ON w.id = k.workspace_id AND w.deleted_at IS NULL
     WHERE k.prefix = p_prefix
       AND k.deleted_at IS NULL
    UNION ALL
    SELECT 'session'::text, s.workspace_id, s.id, s.user_id, s.secret_hash,
           '{*}'::text[], u.role, s.expires_at, NULL::integer, NULL::integer
      FROM sessions s
      JOIN users u ON u.workspace_id = s.workspace_id AND u.id = s.user_id
                  AND u.deleted_at IS NULL
      JOIN workspaces w ON w.id = s.workspace_id AND w.deleted_at IS NULL
     WHERE s.prefix = p_prefix
       AND s.deleted_at IS NULL;
$$;
