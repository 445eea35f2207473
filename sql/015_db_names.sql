-- The database functions get names of their own: db_<name> instead of
-- crm_<name>, which the module's C functions use (crm_bulk() was both a
-- C handler and an SQL function, and so was crm_api_key_create()).
--
-- Each function is renamed in place (ALTER FUNCTION ... RENAME: the same
-- object, so the triggers, CHECK constraints and index expressions that
-- use it follow), then the bodies that call others by name are written
-- again with the new names (CREATE OR REPLACE of the same function, from
-- pg_get_functiondef()).  Migrations 001 to 014 keep the old names: they
-- are the history; what runs is what this leaves.

DO $$
DECLARE
    names   text[] := ARRAY[
        'activity_related', 'api_key_create', 'api_keys_touch',
        'auth_lookup', 'bootstrap', 'bulk', 'contact_ids', 'contact_unlink',
        'custom_fields_check', 'custom_value_valid', 'deal_stage', 'doc',
        'estimate', 'last_owner', 'lead_convert', 'login', 'password_hash',
        'select_options_valid', 'session_issue', 'session_refresh',
        'session_revoke', 'stages_valid'];
    n       text;
    f       record;
    def     text;
    changed text;
BEGIN
    FOREACH n IN ARRAY names LOOP
        FOR f IN
            SELECT p.oid::regprocedure AS sig
              FROM pg_proc p JOIN pg_namespace s ON s.oid = p.pronamespace
             WHERE s.nspname = 'public' AND p.proname = 'crm_' || n
        LOOP
            EXECUTE format('ALTER FUNCTION %s RENAME TO %I', f.sig,
                           'db_' || n);
        END LOOP;
    END LOOP;

    FOR f IN
        SELECT p.oid
          FROM pg_proc p JOIN pg_namespace s ON s.oid = p.pronamespace
         WHERE s.nspname = 'public'
           AND p.proname = ANY (SELECT 'db_' || x FROM unnest(names) x)
           AND p.prokind = 'f'
    LOOP
        def := pg_get_functiondef(f.oid);
        changed := def;

        FOREACH n IN ARRAY names LOOP
            changed := regexp_replace(changed, '\mcrm_' || n || '\M',
                                      'db_' || n, 'g');
        END LOOP;

        IF changed <> def THEN
            EXECUTE changed;
        END IF;
    END LOOP;
END
$$;
