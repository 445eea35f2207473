/*
 * Webhook URLs may name their host: the delivering worker resolves it
 * with nginx's resolver (the http{} block's "resolver" directive), checks
 * every address it gets against the outbound address policy and pins the
 * one it connects to (docs/WEBHOOKS.md, "Host names").  Whether this
 * server has a resolver is nginx's configuration, not the database's:
 * the API refuses a name when it has none (422, code host_name,
 * src/handlers/crm_webhooks.c).
 *
 * Admitted here: an IPv4 literal, a bracketed IPv6 literal, or a name of
 * dot-separated labels (letters, digits, '-' neither first nor last, at
 * most 63 bytes each, 253 in all), the last one starting with a letter,
 * which is crm_addr_url_host() (src/model/crm_addr.c) word for word.  No
 * user info, no trailing dot.
 */

CREATE OR REPLACE FUNCTION db_webhook_before_write() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    p  text;
BEGIN
    IF NEW.url !~ '^https?://' THEN
        RAISE EXCEPTION 'the URL must be http:// or https://'
            USING ERRCODE = 'CR422', COLUMN = 'url',
                  CONSTRAINT = 'invalid_format';
    END IF;

    IF NEW.url !~ ('^https?://([0-9]{1,3}(\.[0-9]{1,3}){3}'
                   || '|\[[0-9A-Fa-f:.]+\]'
                   || '|([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)*'
                   || '[A-Za-z]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)'
                   || '(:[0-9]{1,5})?([/?#][^[:space:]]*)?$')
       OR length(substring(NEW.url from '^https?://([^/:?#]*)')) > 253
    THEN
        RAISE EXCEPTION 'the URL''s host must be an IP address or a host '
                        'name (letters, digits, ''-'' and dots)'
            USING ERRCODE = 'CR422', COLUMN = 'url',
                  CONSTRAINT = 'invalid_format';
    END IF;

    IF cardinality(NEW.events) = 0 THEN
        RAISE EXCEPTION 'at least one event pattern'
            USING ERRCODE = 'CR422', COLUMN = 'events',
                  CONSTRAINT = 'required';
    END IF;

    FOREACH p IN ARRAY NEW.events LOOP
        IF p IS NULL OR NOT db_webhook_pattern_valid(p) THEN
            RAISE EXCEPTION 'an event pattern is "*", "contact.*" or '
                            '"contact.created"'
                USING ERRCODE = 'CR422', COLUMN = 'events',
                      CONSTRAINT = 'invalid_value';
        END IF;
    END LOOP;

    IF TG_OP = 'UPDATE' THEN
        IF NEW.secret IS DISTINCT FROM OLD.secret THEN
            NEW.previous_secret := OLD.secret;
            NEW.previous_secret_until := now() + interval '24 hours';
        END IF;

        IF NEW.active AND NOT OLD.active THEN
            NEW.disabled_reason := NULL;
            NEW.disabled_at := NULL;
            NEW.failing_since := NULL;
        END IF;
    END IF;

    RETURN NEW;
END
$$;
