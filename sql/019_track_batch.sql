-- Email tracking in batches (docs/EMAIL.md, "Tracking"): the tracking
-- location (src/handlers/crm_tracking.c) queues the opens and clicks it
-- serves and records them many at a time, one statement per batch, with
-- the rules of db_email_track() (sql/017_tracking.sql), set-based.


-- db_email_track_machine()'s rule in two halves: what the request says
-- (head, no_agent, scanner, proxy), the same for every hit of one agent,
-- so that a batch runs the regexes once per distinct agent; and the time
-- (too_soon).  The rule itself is unchanged: the first that applies.

CREATE FUNCTION db_email_track_agent(p_type text, p_agent text,
    p_head boolean)
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
    END
$$;

CREATE FUNCTION db_email_track_too_soon(p_type text,
    p_seconds double precision)
RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE
        WHEN p_seconds IS NULL
             OR p_seconds < CASE p_type WHEN 'clicked' THEN 10 ELSE 5 END
            THEN 'too_soon'
    END
$$;

CREATE OR REPLACE FUNCTION db_email_track_machine(p_type text,
    p_agent text, p_head boolean, p_seconds double precision)
RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT coalesce(db_email_track_agent(p_type, p_agent, p_head),
                    db_email_track_too_soon(p_type, p_seconds))
$$;


/*
 * The opens and clicks of p_hits, a JSON array of objects, one a hit:
 *
 *   w   the workspace (the token's)       e   the email (the token's)
 *   t   "opened" or "clicked"             at  when it was served, ms
 *                                             since the epoch (null: now)
 *   ua  the User-Agent, or absent         ip  the client's address
 *   hd  true for a HEAD                   u   a click's URL
 *
 * Each hit of an email its workspace has (not deleted) becomes an
 * email_events row at the time it was served, with the details of
 * db_email_track(): userAgent (at most 512 characters), ip, head, url
 * for a click, secondsSinceSent (from the hit), machine and
 * machineReason (db_email_track_machine()); a hit of an email the
 * workspace does not have records nothing.  The rows are inserted in
 * the order of the array.  Returns how many were recorded.
 */

CREATE FUNCTION db_email_track_batch(p_hits jsonb)
RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    v_n  integer;
BEGIN
    IF EXISTS (SELECT 1 FROM jsonb_array_elements(p_hits) j(h)
                WHERE (h->>'t') IS NULL
                   OR (h->>'t') NOT IN ('opened', 'clicked'))
    THEN
        RAISE EXCEPTION 'not a tracking event';
    END IF;

    INSERT INTO email_events (workspace_id, email_id, type, occurred_at,
                              details)
    WITH x AS (
        SELECT (h->>'w')::uuid AS w,
               (h->>'e')::uuid AS e,
               h->>'t' AS t,
               coalesce(to_timestamp((h->>'at')::double precision / 1000),
                        clock_timestamp()) AS at,
               h->>'ua' AS ua,
               h->>'ip' AS ip,
               coalesce((h->>'hd')::boolean, false) AS hd,
               h->>'u' AS u,
               j.n
          FROM jsonb_array_elements(p_hits) WITH ORDINALITY j(h, n)
    ), a AS MATERIALIZED (
        -- the regexes once per agent of the batch (MATERIALIZED: not
        -- pulled up into the join, run for every hit)
        SELECT d.t, d.ua, d.hd, db_email_track_agent(d.t, d.ua, d.hd) AS why
          FROM (SELECT DISTINCT t, ua, hd FROM x) d
    )
    SELECT x.w, x.e, x.t, x.at,
           jsonb_strip_nulls(jsonb_build_object(
               'userAgent', left(x.ua, 512),
               'ip', x.ip,
               'head', x.hd,
               'url', CASE WHEN x.t = 'clicked' THEN x.u END,
               'secondsSinceSent', round(s.seconds::numeric, 3),
               'machine', m.why IS NOT NULL,
               'machineReason', m.why))
      FROM x
      JOIN a
        ON a.t = x.t AND a.ua IS NOT DISTINCT FROM x.ua AND a.hd = x.hd
      JOIN emails em
        ON em.workspace_id = x.w AND em.id = x.e
       AND em.deleted_at IS NULL
     CROSS JOIN LATERAL (
           SELECT extract(epoch FROM x.at - em.sent_at)::double precision
                  AS seconds) s
     CROSS JOIN LATERAL (
           SELECT coalesce(a.why, db_email_track_too_soon(x.t, s.seconds))
                  AS why) m
     ORDER BY x.n;

    GET DIAGNOSTICS v_n = ROW_COUNT;

    RETURN v_n;
END
$$;


-- one hit, now: what the batch does for one (the rules live there)

CREATE OR REPLACE FUNCTION db_email_track(p_ws uuid, p_email uuid,
    p_type text, p_agent text, p_ip text, p_head boolean, p_url text)
RETURNS boolean
LANGUAGE sql AS $$
    SELECT db_email_track_batch(jsonb_build_array(jsonb_strip_nulls(
               jsonb_build_object('w', p_ws, 'e', p_email, 't', p_type,
                                  'ua', p_agent, 'ip', p_ip, 'hd', p_head,
                                  'u', p_url)))) = 1
$$;
