-- Email tracking at the edge (docs/EMAIL.md, "Tracking"): what the
-- tracking location (src/handlers/crm_tracking.c, `crm_tracking;`)
-- records for a valid token.  The workspace and the email come from the
-- token, which only the configured secret can sign; each function looks
-- the email up in that workspace and records nothing for an email it
-- does not find there.


-- Why an open or a click is likely a machine's, or NULL for a person's
-- (the rule of docs/EMAIL.md, in order):
--   head      a HEAD request: browsers and mail clients GET
--   no_agent  no User-Agent at all
--   scanner   a security scanner, link checker, HTTP library or bot by
--             its User-Agent; for a click also a bare "Mozilla/5.0"
--   proxy     an open through a mail provider's image proxy or
--             prefetcher (Gmail, Yahoo, Apple Mail Privacy Protection's
--             bare "Mozilla/5.0"): it fetches on delivery or on the
--             provider's schedule, not when a person reads
--   too_soon  an open less than 5 s, a click less than 10 s after the
--             relay accepted the email (or before that was recorded)
-- p_seconds: seconds since the email was sent, NULL when it was not.

CREATE FUNCTION db_email_track_machine(p_type text, p_agent text,
    p_head boolean, p_seconds double precision)
RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE
        WHEN p_head THEN 'head'
        WHEN coalesce(btrim(p_agent), '') = '' THEN 'no_agent'
        WHEN p_agent ~* ('barracuda|mimecast|proofpoint|messagelabs'
                         '|symantec|trendmicro|trend micro|forcepoint'
                         '|fortiguard|sophos|ironport|cisco|safelinks'
                         '|bitdefender|kaspersky|zscaler|checkpoint'
                         '|python-requests|python-urllib|aiohttp|curl/'
                         '|wget/|go-http-client|java/|okhttp|axios/'
                         '|node-fetch|libwww-perl|httpclient|scrapy'
                         '|headlesschrome|phantomjs|bot\M|crawler|spider'
                         '|slurp|preview|scanner')
            THEN 'scanner'
        WHEN p_type = 'clicked' AND btrim(p_agent) = 'Mozilla/5.0'
            THEN 'scanner'
        WHEN p_type = 'opened'
             AND (p_agent ~* 'googleimageproxy|ggpht\.com|yahoomailproxy'
                  OR btrim(p_agent) = 'Mozilla/5.0')
            THEN 'proxy'
        WHEN p_seconds IS NULL
             OR p_seconds < CASE p_type WHEN 'clicked' THEN 10 ELSE 5 END
            THEN 'too_soon'
    END
$$;


/*
 * An open or a click of the email p_email of p_ws: an email_events row
 * with its details (userAgent at most 512 characters, ip, head, url for
 * a click, secondsSinceSent, machine and machineReason).  Returns false,
 * recording nothing, when the workspace has no such email.
 */

CREATE FUNCTION db_email_track(p_ws uuid, p_email uuid, p_type text,
    p_agent text, p_ip text, p_head boolean, p_url text)
RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    v_sent     timestamptz;
    v_seconds  double precision;
    v_why      text;
BEGIN
    IF p_type NOT IN ('opened', 'clicked') THEN
        RAISE EXCEPTION 'not a tracking event: %', p_type;
    END IF;

    SELECT e.sent_at INTO v_sent
      FROM emails e
     WHERE e.workspace_id = p_ws AND e.id = p_email
       AND e.deleted_at IS NULL;

    IF NOT FOUND THEN
        RETURN false;
    END IF;

    v_seconds := extract(epoch FROM clock_timestamp() - v_sent);
    v_why := db_email_track_machine(p_type, p_agent, p_head, v_seconds);

    PERFORM db_email_event(p_ws, p_email, p_type,
        jsonb_strip_nulls(jsonb_build_object(
            'userAgent', left(p_agent, 512),
            'ip', p_ip,
            'head', coalesce(p_head, false),
            'url', CASE WHEN p_type = 'clicked' THEN p_url END,
            'secondsSinceSent', round(v_seconds::numeric, 3),
            'machine', v_why IS NOT NULL,
            'machineReason', v_why)));

    RETURN true;
END
$$;


/*
 * The unsubscribe of the email p_email of p_ws (its List-Unsubscribe
 * one-click POST or the confirmation form): the recipient's address is
 * suppressed in the workspace (reason 'unsubscribe', unless it is
 * already) and the email gets one 'unsubscribed' event however often it
 * is asked.  Returns the address, or NULL when the workspace has no such
 * email.
 */

CREATE FUNCTION db_email_unsubscribe(p_ws uuid, p_email uuid,
    p_agent text, p_ip text)
RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    v_to  text;
BEGIN
    -- one at a time per email: the event is written once
    SELECT e.to_email INTO v_to
      FROM emails e
     WHERE e.workspace_id = p_ws AND e.id = p_email
       AND e.deleted_at IS NULL
       FOR UPDATE;

    IF NOT FOUND THEN
        RETURN NULL;
    END IF;

    INSERT INTO suppressions (workspace_id, email, reason, email_id,
                              details)
    VALUES (p_ws, v_to, 'unsubscribe', p_email,
            'the recipient unsubscribed through the email''s link')
    ON CONFLICT DO NOTHING;

    IF NOT EXISTS (SELECT 1 FROM email_events v
                    WHERE v.workspace_id = p_ws AND v.email_id = p_email
                      AND v.type = 'unsubscribed')
    THEN
        PERFORM db_email_event(p_ws, p_email, 'unsubscribed',
            jsonb_strip_nulls(jsonb_build_object(
                'userAgent', left(p_agent, 512),
                'ip', p_ip)));
    END IF;

    RETURN v_to;
END
$$;
