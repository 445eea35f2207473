-- Analytics of email (docs/ANALYTICS.md): counters kept as events arrive.
--
-- An AFTER INSERT trigger on email_events (one run per statement, over
-- the statement's new rows: a batch of tracking hits is counted in one
-- go) adds each event to hourly rollups, per workspace and per campaign,
-- to a daily rollup per contact and to a link counter per campaign.  The
-- first human open and the first human click of each email (and the
-- first human click of each link of it) are detected by inserting into
-- analytics_firsts with ON CONFLICT DO NOTHING: the rows inserted are the
-- unique ones.  The API reads only these tables: an answer is a few index
-- range reads, whatever the number of events.
--
-- Counted events: sent (the relay accepted the email: delivered),
-- bounced (hard), failed (soft: temporary failures until the retry
-- window closed), opened and clicked (human, or machine when
-- details.machine is true: sql/017's rule), unsubscribed.  queued,
-- deferred, suppressed and cancelled change no figure.
--
-- Rollup rows are spread over 8 slots (the backend's pid modulo 8), so
-- that concurrent transactions of different sessions rarely wait for
-- each other's row lock on the current hour; the readers sum the slots.
--
-- Truncating email_events truncates the rollups; db_analytics_backfill()
-- recomputes a workspace's rollups from its events (after a bulk load
-- made without triggers: util/seed.sh).


CREATE TABLE analytics_hourly (
    workspace_id    uuid        NOT NULL,
    hour            timestamptz NOT NULL,
    slot            smallint    NOT NULL,
    delivered       integer     NOT NULL DEFAULT 0,
    hard_bounces    integer     NOT NULL DEFAULT 0,
    soft_bounces    integer     NOT NULL DEFAULT 0,
    opens           integer     NOT NULL DEFAULT 0,
    unique_opens    integer     NOT NULL DEFAULT 0,
    machine_opens   integer     NOT NULL DEFAULT 0,
    clicks          integer     NOT NULL DEFAULT 0,
    unique_clicks   integer     NOT NULL DEFAULT 0,
    machine_clicks  integer     NOT NULL DEFAULT 0,
    unsubscribes    integer     NOT NULL DEFAULT 0,
    PRIMARY KEY (workspace_id, hour, slot)
);

CREATE TABLE analytics_campaign_hourly (
    workspace_id    uuid        NOT NULL,
    campaign_id     uuid        NOT NULL,
    hour            timestamptz NOT NULL,
    slot            smallint    NOT NULL,
    delivered       integer     NOT NULL DEFAULT 0,
    hard_bounces    integer     NOT NULL DEFAULT 0,
    soft_bounces    integer     NOT NULL DEFAULT 0,
    opens           integer     NOT NULL DEFAULT 0,
    unique_opens    integer     NOT NULL DEFAULT 0,
    machine_opens   integer     NOT NULL DEFAULT 0,
    clicks          integer     NOT NULL DEFAULT 0,
    unique_clicks   integer     NOT NULL DEFAULT 0,
    machine_clicks  integer     NOT NULL DEFAULT 0,
    unsubscribes    integer     NOT NULL DEFAULT 0,
    PRIMARY KEY (workspace_id, campaign_id, hour, slot)
);

-- days in UTC; last_*_at: the latest human open and click of the day
CREATE TABLE analytics_contact_daily (
    workspace_id    uuid        NOT NULL,
    contact_id      uuid        NOT NULL,
    day             date        NOT NULL,
    delivered       integer     NOT NULL DEFAULT 0,
    hard_bounces    integer     NOT NULL DEFAULT 0,
    soft_bounces    integer     NOT NULL DEFAULT 0,
    opens           integer     NOT NULL DEFAULT 0,
    unique_opens    integer     NOT NULL DEFAULT 0,
    machine_opens   integer     NOT NULL DEFAULT 0,
    clicks          integer     NOT NULL DEFAULT 0,
    unique_clicks   integer     NOT NULL DEFAULT 0,
    machine_clicks  integer     NOT NULL DEFAULT 0,
    unsubscribes    integer     NOT NULL DEFAULT 0,
    last_open_at    timestamptz,
    last_click_at   timestamptz,
    PRIMARY KEY (workspace_id, contact_id, day)
);

-- the clicked links of a campaign's emails; link = md5(url)::uuid
CREATE TABLE analytics_campaign_links (
    workspace_id    uuid        NOT NULL,
    campaign_id     uuid        NOT NULL,
    link            uuid        NOT NULL,
    slot            smallint    NOT NULL,
    url             text        NOT NULL,
    clicks          integer     NOT NULL DEFAULT 0,
    unique_clicks   integer     NOT NULL DEFAULT 0,
    machine_clicks  integer     NOT NULL DEFAULT 0,
    PRIMARY KEY (workspace_id, campaign_id, link, slot)
);

-- the first human open ('o') and click ('c') of an email, and its first
-- human click of a link ('l', link = md5(url)::uuid; the nil uuid
-- otherwise)
CREATE TABLE analytics_firsts (
    workspace_id    uuid        NOT NULL,
    email_id        uuid        NOT NULL,
    kind            "char"      NOT NULL,
    link            uuid        NOT NULL,
    first_at        timestamptz NOT NULL,
    PRIMARY KEY (workspace_id, email_id, kind, link)
);


CREATE FUNCTION db_analytics_after_events() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    v_slot  smallint := pg_backend_pid() % 8;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM analytics_new_events
                    WHERE type IN ('sent', 'bounced', 'failed', 'opened',
                                   'clicked', 'unsubscribed'))
    THEN
        RETURN NULL;
    END IF;

    WITH ev AS MATERIALIZED (
        SELECT n.workspace_id, n.email_id, n.type, n.occurred_at,
               e.campaign_id, e.contact_id,
               n.type IN ('opened', 'clicked')
               AND n.details -> 'machine' = 'true'::jsonb AS machine,
               CASE WHEN n.type = 'clicked' AND e.campaign_id IS NOT NULL
                    THEN nullif(n.details ->> 'url', '') END AS url
          FROM analytics_new_events n
          JOIN emails e ON e.workspace_id = n.workspace_id
                       AND e.id = n.email_id
         WHERE n.type IN ('sent', 'bounced', 'failed', 'opened', 'clicked',
                          'unsubscribed')
    ), firsts AS (
        INSERT INTO analytics_firsts AS f (workspace_id, email_id, kind,
                                           link, first_at)
        SELECT DISTINCT ON (x.workspace_id, x.email_id, x.kind, x.link)
               x.workspace_id, x.email_id, x.kind, x.link, x.occurred_at
          FROM (SELECT workspace_id, email_id,
                       CASE type WHEN 'opened' THEN 'o' ELSE 'c' END::"char"
                       AS kind,
                       '00000000-0000-0000-0000-000000000000'::uuid AS link,
                       occurred_at
                  FROM ev
                 WHERE type IN ('opened', 'clicked') AND NOT machine
                UNION ALL
                SELECT workspace_id, email_id, 'l', md5(url)::uuid,
                       occurred_at
                  FROM ev
                 WHERE type = 'clicked' AND NOT machine AND url IS NOT NULL
               ) x
         ORDER BY x.workspace_id, x.email_id, x.kind, x.link, x.occurred_at
        ON CONFLICT DO NOTHING
        RETURNING f.workspace_id, f.email_id, f.kind, f.link, f.first_at
    ), firsts_ev AS (
        SELECT f.workspace_id, f.email_id, f.kind, f.link, f.first_at,
               m.campaign_id, m.contact_id
          FROM firsts f
          JOIN (SELECT DISTINCT workspace_id, email_id, campaign_id,
                       contact_id
                  FROM ev) m
            ON m.workspace_id = f.workspace_id AND m.email_id = f.email_id
    ), fig AS (
        SELECT workspace_id, campaign_id, contact_id, occurred_at AS at,
               (type = 'sent')::integer AS delivered,
               (type = 'bounced')::integer AS hard_bounces,
               (type = 'failed')::integer AS soft_bounces,
               (type = 'opened' AND NOT machine)::integer AS opens,
               0 AS unique_opens,
               (type = 'opened' AND machine)::integer AS machine_opens,
               (type = 'clicked' AND NOT machine)::integer AS clicks,
               0 AS unique_clicks,
               (type = 'clicked' AND machine)::integer AS machine_clicks,
               (type = 'unsubscribed')::integer AS unsubscribes,
               CASE WHEN type = 'opened' AND NOT machine
                    THEN occurred_at END AS open_at,
               CASE WHEN type = 'clicked' AND NOT machine
                    THEN occurred_at END AS click_at
          FROM ev
        UNION ALL
        SELECT workspace_id, campaign_id, contact_id, first_at,
               0, 0, 0, 0, (kind = 'o')::integer, 0, 0,
               (kind = 'c')::integer, 0, 0, NULL, NULL
          FROM firsts_ev
         WHERE kind IN ('o', 'c')
    ), hourly AS (
        INSERT INTO analytics_hourly AS t
               (workspace_id, hour, slot, delivered, hard_bounces,
                soft_bounces, opens, unique_opens, machine_opens, clicks,
                unique_clicks, machine_clicks, unsubscribes)
        SELECT workspace_id, date_trunc('hour', at, 'UTC'), v_slot,
               sum(delivered), sum(hard_bounces), sum(soft_bounces),
               sum(opens), sum(unique_opens), sum(machine_opens),
               sum(clicks), sum(unique_clicks), sum(machine_clicks),
               sum(unsubscribes)
          FROM fig
         GROUP BY 1, 2
         ORDER BY 1, 2
        ON CONFLICT (workspace_id, hour, slot) DO UPDATE
           SET delivered = t.delivered + excluded.delivered,
               hard_bounces = t.hard_bounces + excluded.hard_bounces,
               soft_bounces = t.soft_bounces + excluded.soft_bounces,
               opens = t.opens + excluded.opens,
               unique_opens = t.unique_opens + excluded.unique_opens,
               machine_opens = t.machine_opens + excluded.machine_opens,
               clicks = t.clicks + excluded.clicks,
               unique_clicks = t.unique_clicks + excluded.unique_clicks,
               machine_clicks = t.machine_clicks + excluded.machine_clicks,
               unsubscribes = t.unsubscribes + excluded.unsubscribes
    ), campaign AS (
        INSERT INTO analytics_campaign_hourly AS t
               (workspace_id, campaign_id, hour, slot, delivered,
                hard_bounces, soft_bounces, opens, unique_opens,
                machine_opens, clicks, unique_clicks, machine_clicks,
                unsubscribes)
        SELECT workspace_id, campaign_id, date_trunc('hour', at, 'UTC'),
               v_slot, sum(delivered), sum(hard_bounces), sum(soft_bounces),
               sum(opens), sum(unique_opens), sum(machine_opens),
               sum(clicks), sum(unique_clicks), sum(machine_clicks),
               sum(unsubscribes)
          FROM fig
         WHERE campaign_id IS NOT NULL
         GROUP BY 1, 2, 3
         ORDER BY 1, 2, 3
        ON CONFLICT (workspace_id, campaign_id, hour, slot) DO UPDATE
           SET delivered = t.delivered + excluded.delivered,
               hard_bounces = t.hard_bounces + excluded.hard_bounces,
               soft_bounces = t.soft_bounces + excluded.soft_bounces,
               opens = t.opens + excluded.opens,
               unique_opens = t.unique_opens + excluded.unique_opens,
               machine_opens = t.machine_opens + excluded.machine_opens,
               clicks = t.clicks + excluded.clicks,
               unique_clicks = t.unique_clicks + excluded.unique_clicks,
               machine_clicks = t.machine_clicks + excluded.machine_clicks,
               unsubscribes = t.unsubscribes + excluded.unsubscribes
    ), contact AS (
        INSERT INTO analytics_contact_daily AS t
               (workspace_id, contact_id, day, delivered, hard_bounces,
                soft_bounces, opens, unique_opens, machine_opens, clicks,
                unique_clicks, machine_clicks, unsubscribes, last_open_at,
                last_click_at)
        SELECT workspace_id, contact_id, (at AT TIME ZONE 'UTC')::date,
               sum(delivered), sum(hard_bounces), sum(soft_bounces),
               sum(opens), sum(unique_opens), sum(machine_opens),
               sum(clicks), sum(unique_clicks), sum(machine_clicks),
               sum(unsubscribes), max(open_at), max(click_at)
          FROM fig
         WHERE contact_id IS NOT NULL
         GROUP BY 1, 2, 3
         ORDER BY 1, 2, 3
        ON CONFLICT (workspace_id, contact_id, day) DO UPDATE
           SET delivered = t.delivered + excluded.delivered,
               hard_bounces = t.hard_bounces + excluded.hard_bounces,
               soft_bounces = t.soft_bounces + excluded.soft_bounces,
               opens = t.opens + excluded.opens,
               unique_opens = t.unique_opens + excluded.unique_opens,
               machine_opens = t.machine_opens + excluded.machine_opens,
               clicks = t.clicks + excluded.clicks,
               unique_clicks = t.unique_clicks + excluded.unique_clicks,
               machine_clicks = t.machine_clicks + excluded.machine_clicks,
               unsubscribes = t.unsubscribes + excluded.unsubscribes,
               last_open_at = greatest(t.last_open_at,
                                       excluded.last_open_at),
               last_click_at = greatest(t.last_click_at,
                                        excluded.last_click_at)
    )
    INSERT INTO analytics_campaign_links AS t
           (workspace_id, campaign_id, link, slot, url, clicks,
            unique_clicks, machine_clicks)
    SELECT x.workspace_id, x.campaign_id, x.link, v_slot, min(x.url),
           sum(x.clicks), sum(x.unique_clicks), sum(x.machine_clicks)
      FROM (SELECT workspace_id, campaign_id, md5(url)::uuid AS link, url,
                   (NOT machine)::integer AS clicks, 0 AS unique_clicks,
                   machine::integer AS machine_clicks
              FROM ev
             WHERE type = 'clicked' AND url IS NOT NULL
            UNION ALL
            SELECT workspace_id, campaign_id, link, NULL, 0, 1, 0
              FROM firsts_ev
             WHERE kind = 'l') x
     GROUP BY 1, 2, 3
     ORDER BY 1, 2, 3
    ON CONFLICT (workspace_id, campaign_id, link, slot) DO UPDATE
       SET clicks = t.clicks + excluded.clicks,
           unique_clicks = t.unique_clicks + excluded.unique_clicks,
           machine_clicks = t.machine_clicks + excluded.machine_clicks;

    RETURN NULL;
END
$$;

CREATE TRIGGER email_events_analytics AFTER INSERT ON email_events
    REFERENCING NEW TABLE AS analytics_new_events
    FOR EACH STATEMENT EXECUTE FUNCTION db_analytics_after_events();


-- the rollups are derived from the events: they go with them

CREATE FUNCTION db_analytics_after_truncate() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    TRUNCATE analytics_hourly, analytics_campaign_hourly,
             analytics_contact_daily, analytics_campaign_links,
             analytics_firsts;
    RETURN NULL;
END
$$;

CREATE TRIGGER email_events_analytics_truncate AFTER TRUNCATE
    ON email_events
    FOR EACH STATEMENT EXECUTE FUNCTION db_analytics_after_truncate();


/*
 * The rollups of workspace p_ws made again from its events, as the
 * trigger would have made them (slot 0): for events loaded without
 * triggers (util/seed.sh) and for events older than this migration.
 * Reads every event of the workspace: not for the request path.
 * Returns the number of events counted.
 */

CREATE FUNCTION db_analytics_backfill(p_ws uuid) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    n  bigint;
BEGIN
    DELETE FROM analytics_hourly WHERE workspace_id = p_ws;
    DELETE FROM analytics_campaign_hourly WHERE workspace_id = p_ws;
    DELETE FROM analytics_contact_daily WHERE workspace_id = p_ws;
    DELETE FROM analytics_campaign_links WHERE workspace_id = p_ws;
    DELETE FROM analytics_firsts WHERE workspace_id = p_ws;

    CREATE TEMP TABLE analytics_backfill_ev ON COMMIT DROP AS
    SELECT n.email_id, n.type, n.occurred_at, e.campaign_id, e.contact_id,
           n.type IN ('opened', 'clicked')
           AND n.details -> 'machine' = 'true'::jsonb AS machine,
           CASE WHEN n.type = 'clicked' AND e.campaign_id IS NOT NULL
                THEN nullif(n.details ->> 'url', '') END AS url
      FROM email_events n
      JOIN emails e ON e.workspace_id = n.workspace_id AND e.id = n.email_id
     WHERE n.workspace_id = p_ws
       AND n.type IN ('sent', 'bounced', 'failed', 'opened', 'clicked',
                      'unsubscribed');

    GET DIAGNOSTICS n = ROW_COUNT;

    INSERT INTO analytics_firsts (workspace_id, email_id, kind, link,
                                  first_at)
    SELECT p_ws, email_id, kind, link, min(occurred_at)
      FROM (SELECT email_id,
                   CASE type WHEN 'opened' THEN 'o' ELSE 'c' END::"char"
                   AS kind,
                   '00000000-0000-0000-0000-000000000000'::uuid AS link,
                   occurred_at
              FROM analytics_backfill_ev
             WHERE type IN ('opened', 'clicked') AND NOT machine
            UNION ALL
            SELECT email_id, 'l', md5(url)::uuid, occurred_at
              FROM analytics_backfill_ev
             WHERE type = 'clicked' AND NOT machine AND url IS NOT NULL) x
     GROUP BY email_id, kind, link;

    CREATE TEMP TABLE analytics_backfill_fig ON COMMIT DROP AS
    SELECT campaign_id, contact_id, occurred_at AS at,
           (type = 'sent')::integer AS delivered,
           (type = 'bounced')::integer AS hard_bounces,
           (type = 'failed')::integer AS soft_bounces,
           (type = 'opened' AND NOT machine)::integer AS opens,
           0 AS unique_opens,
           (type = 'opened' AND machine)::integer AS machine_opens,
           (type = 'clicked' AND NOT machine)::integer AS clicks,
           0 AS unique_clicks,
           (type = 'clicked' AND machine)::integer AS machine_clicks,
           (type = 'unsubscribed')::integer AS unsubscribes,
           CASE WHEN type = 'opened' AND NOT machine
                THEN occurred_at END AS open_at,
           CASE WHEN type = 'clicked' AND NOT machine
                THEN occurred_at END AS click_at
      FROM analytics_backfill_ev
    UNION ALL
    SELECT e.campaign_id, e.contact_id, f.first_at,
           0, 0, 0, 0, (f.kind = 'o')::integer, 0, 0,
           (f.kind = 'c')::integer, 0, 0, NULL, NULL
      FROM analytics_firsts f
      JOIN emails e ON e.workspace_id = f.workspace_id AND e.id = f.email_id
     WHERE f.workspace_id = p_ws AND f.kind IN ('o', 'c');

    INSERT INTO analytics_hourly
           (workspace_id, hour, slot, delivered, hard_bounces, soft_bounces,
            opens, unique_opens, machine_opens, clicks, unique_clicks,
            machine_clicks, unsubscribes)
    SELECT p_ws, date_trunc('hour', at, 'UTC'), 0,
           sum(delivered), sum(hard_bounces), sum(soft_bounces),
           sum(opens), sum(unique_opens), sum(machine_opens),
           sum(clicks), sum(unique_clicks), sum(machine_clicks),
           sum(unsubscribes)
      FROM analytics_backfill_fig
     GROUP BY 2;

    INSERT INTO analytics_campaign_hourly
           (workspace_id, campaign_id, hour, slot, delivered, hard_bounces,
            soft_bounces, opens, unique_opens, machine_opens, clicks,
            unique_clicks, machine_clicks, unsubscribes)
    SELECT p_ws, campaign_id, date_trunc('hour', at, 'UTC'), 0,
           sum(delivered), sum(hard_bounces), sum(soft_bounces),
           sum(opens), sum(unique_opens), sum(machine_opens),
           sum(clicks), sum(unique_clicks), sum(machine_clicks),
           sum(unsubscribes)
      FROM analytics_backfill_fig
     WHERE campaign_id IS NOT NULL
     GROUP BY 2, 3;

    INSERT INTO analytics_contact_daily
           (workspace_id, contact_id, day, delivered, hard_bounces,
            soft_bounces, opens, unique_opens, machine_opens, clicks,
            unique_clicks, machine_clicks, unsubscribes, last_open_at,
            last_click_at)
    SELECT p_ws, contact_id, (at AT TIME ZONE 'UTC')::date,
           sum(delivered), sum(hard_bounces), sum(soft_bounces),
           sum(opens), sum(unique_opens), sum(machine_opens),
           sum(clicks), sum(unique_clicks), sum(machine_clicks),
           sum(unsubscribes), max(open_at), max(click_at)
      FROM analytics_backfill_fig
     WHERE contact_id IS NOT NULL
     GROUP BY 2, 3;

    INSERT INTO analytics_campaign_links
           (workspace_id, campaign_id, link, slot, url, clicks,
            unique_clicks, machine_clicks)
    SELECT p_ws, x.campaign_id, x.link, 0, min(x.url), sum(x.clicks),
           sum(x.unique_clicks), sum(x.machine_clicks)
      FROM (SELECT campaign_id, md5(url)::uuid AS link, url,
                   (NOT machine)::integer AS clicks, 0 AS unique_clicks,
                   machine::integer AS machine_clicks
              FROM analytics_backfill_ev
             WHERE type = 'clicked' AND url IS NOT NULL
            UNION ALL
            SELECT e.campaign_id, f.link, NULL, 0, 1, 0
              FROM analytics_firsts f
              JOIN emails e ON e.workspace_id = f.workspace_id
                           AND e.id = f.email_id
             WHERE f.workspace_id = p_ws AND f.kind = 'l') x
     GROUP BY 2, 3;

    DROP TABLE analytics_backfill_ev, analytics_backfill_fig;

    RETURN n;
END
$$;


-- ------------------------------------------------------------- answers

-- a ratio rounded to 4 places, NULL when the denominator is 0

CREATE FUNCTION db_analytics_rate(p_num numeric, p_den numeric)
RETURNS double precision
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN p_den > 0 THEN round(p_num / p_den, 4)::float8 END
$$;


CREATE FUNCTION db_analytics_ts(p timestamptz) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT to_char(p AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
$$;


-- the figures of a sum of rollup rows, as the API names them: totals
-- (with rates) and a bucket of a series (with its start)

CREATE FUNCTION db_analytics_totals(p_delivered numeric, p_hard numeric,
    p_soft numeric, p_opens numeric, p_uopens numeric, p_mopens numeric,
    p_clicks numeric, p_uclicks numeric, p_mclicks numeric, p_unsub numeric)
RETURNS json LANGUAGE sql IMMUTABLE AS $$
    SELECT json_build_object(
        'sent', p_delivered + p_hard + p_soft,
        'delivered', p_delivered,
        'bounced', p_hard + p_soft,
        'hardBounces', p_hard,
        'softBounces', p_soft,
        'opens', p_opens,
        'uniqueOpens', p_uopens,
        'machineOpens', p_mopens,
        'clicks', p_clicks,
        'uniqueClicks', p_uclicks,
        'machineClicks', p_mclicks,
        'unsubscribes', p_unsub,
        'rates', json_build_object(
            'open', db_analytics_rate(p_uopens, p_delivered),
            'click', db_analytics_rate(p_uclicks, p_delivered),
            'clickToOpen', db_analytics_rate(p_uclicks, p_uopens)))
$$;


CREATE FUNCTION db_analytics_bucket(p_start timestamptz, p_delivered numeric,
    p_hard numeric, p_soft numeric, p_opens numeric, p_uopens numeric,
    p_mopens numeric, p_clicks numeric, p_uclicks numeric, p_mclicks numeric,
    p_unsub numeric)
RETURNS json LANGUAGE sql IMMUTABLE AS $$
    SELECT json_build_object(
        'start', db_analytics_ts(p_start),
        'sent', p_delivered + p_hard + p_soft,
        'delivered', p_delivered,
        'bounced', p_hard + p_soft,
        'hardBounces', p_hard,
        'softBounces', p_soft,
        'opens', p_opens,
        'uniqueOpens', p_uopens,
        'machineOpens', p_mopens,
        'clicks', p_clicks,
        'uniqueClicks', p_uclicks,
        'machineClicks', p_mclicks,
        'unsubscribes', p_unsub)
$$;


/*
 * Totals and a series of buckets of p_interval ('hour', 'day', 'week':
 * weeks start on Monday, all in UTC) from p_from to p_to (both bucket
 * boundaries, the caller aligns them), empty buckets included, from the
 * workspace's rollup or, with p_campaign, the campaign's:
 *   {"totals": {<figures>, "rates": {...}}, "series": [{"start", ...}]}
 */

CREATE FUNCTION db_analytics_series(p_ws uuid, p_campaign uuid,
    p_from timestamptz, p_to timestamptz, p_interval text)
RETURNS json LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_step  interval;
    v_out   json;
BEGIN
    v_step := CASE p_interval WHEN 'hour' THEN interval '1 hour'
                              WHEN 'day' THEN interval '24 hours'
                              WHEN 'week' THEN interval '168 hours' END;

    IF v_step IS NULL THEN
        RAISE EXCEPTION 'unknown interval: %', p_interval;
    END IF;

    WITH r AS (
        SELECT date_trunc(p_interval, h.hour, 'UTC') AS start,
               sum(h.delivered) AS delivered, sum(h.hard_bounces) AS hard,
               sum(h.soft_bounces) AS soft, sum(h.opens) AS opens,
               sum(h.unique_opens) AS uopens,
               sum(h.machine_opens) AS mopens, sum(h.clicks) AS clicks,
               sum(h.unique_clicks) AS uclicks,
               sum(h.machine_clicks) AS mclicks,
               sum(h.unsubscribes) AS unsub
          FROM analytics_hourly h
         WHERE p_campaign IS NULL AND h.workspace_id = p_ws
           AND h.hour >= p_from AND h.hour < p_to
         GROUP BY 1
        UNION ALL
        SELECT date_trunc(p_interval, h.hour, 'UTC'),
               sum(h.delivered), sum(h.hard_bounces), sum(h.soft_bounces),
               sum(h.opens), sum(h.unique_opens), sum(h.machine_opens),
               sum(h.clicks), sum(h.unique_clicks), sum(h.machine_clicks),
               sum(h.unsubscribes)
          FROM analytics_campaign_hourly h
         WHERE p_campaign IS NOT NULL AND h.workspace_id = p_ws
           AND h.campaign_id = p_campaign
           AND h.hour >= p_from AND h.hour < p_to
         GROUP BY 1
    ), s AS (
        SELECT b.start, coalesce(r.delivered, 0) AS delivered,
               coalesce(r.hard, 0) AS hard, coalesce(r.soft, 0) AS soft,
               coalesce(r.opens, 0) AS opens,
               coalesce(r.uopens, 0) AS uopens,
               coalesce(r.mopens, 0) AS mopens,
               coalesce(r.clicks, 0) AS clicks,
               coalesce(r.uclicks, 0) AS uclicks,
               coalesce(r.mclicks, 0) AS mclicks,
               coalesce(r.unsub, 0) AS unsub
          FROM generate_series(p_from, p_to - v_step, v_step) AS b (start)
          LEFT JOIN r ON r.start = b.start
    )
    SELECT json_build_object(
               'totals',
               db_analytics_totals(coalesce(sum(delivered), 0),
                   coalesce(sum(hard), 0), coalesce(sum(soft), 0),
                   coalesce(sum(opens), 0), coalesce(sum(uopens), 0),
                   coalesce(sum(mopens), 0), coalesce(sum(clicks), 0),
                   coalesce(sum(uclicks), 0), coalesce(sum(mclicks), 0),
                   coalesce(sum(unsub), 0)),
               'series',
               coalesce(json_agg(db_analytics_bucket(start, delivered, hard,
                            soft, opens, uopens, mopens, clicks, uclicks,
                            mclicks, unsub) ORDER BY start), '[]'))
      INTO v_out
      FROM s;

    RETURN v_out;
END
$$;


/*
 * GET /analytics/emails: p_from and p_to aligned on p_interval by the
 * caller (src/model/crm_analytics.c), p_campaign NULL for every email.
 * NULL: the workspace has no such campaign (404).
 */

CREATE FUNCTION db_analytics_emails(p_ws uuid, p_from timestamptz,
    p_to timestamptz, p_interval text, p_campaign uuid)
RETURNS text LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_s  json;
BEGIN
    IF p_campaign IS NOT NULL
       AND NOT EXISTS (SELECT 1 FROM campaigns
                        WHERE workspace_id = p_ws AND id = p_campaign
                          AND deleted_at IS NULL)
    THEN
        RETURN NULL;
    END IF;

    v_s := db_analytics_series(p_ws, p_campaign, p_from, p_to, p_interval);

    RETURN json_build_object(
        'from', db_analytics_ts(p_from),
        'to', db_analytics_ts(p_to),
        'interval', p_interval,
        'campaignId', p_campaign,
        'totals', v_s -> 'totals',
        'series', v_s -> 'series')::text;
END
$$;


/*
 * GET /analytics/campaigns/:id: totals and rates, a series since the
 * start to now (hours up to two days, then days up to 366, then weeks),
 * the 10 most clicked links, the recipients by state.  NULL: no such
 * campaign in the workspace (404).
 */

CREATE FUNCTION db_analytics_campaign(p_ws uuid, p_id uuid)
RETURNS text LANGUAGE plpgsql STABLE AS $$
DECLARE
    c           record;
    v_interval  text;
    v_step      interval;
    v_from      timestamptz;
    v_to        timestamptz;
    v_s         json;
    v_links     json;
    v_rcpt      json;
BEGIN
    SELECT id, name, status, started_at, completed_at INTO c
      FROM campaigns
     WHERE workspace_id = p_ws AND id = p_id AND deleted_at IS NULL;

    IF NOT FOUND THEN
        RETURN NULL;
    END IF;

    IF c.started_at IS NULL THEN
        v_interval := 'hour';
        v_from := date_trunc('hour', now(), 'UTC');
        v_to := v_from;

    ELSE
        v_interval := CASE WHEN now() - c.started_at <= interval '48 hours'
                           THEN 'hour'
                           WHEN now() - c.started_at <= interval '366 days'
                           THEN 'day'
                           ELSE 'week' END;
        v_step := CASE v_interval WHEN 'hour' THEN interval '1 hour'
                                  WHEN 'day' THEN interval '24 hours'
                                  ELSE interval '168 hours' END;
        v_from := date_trunc(v_interval, c.started_at, 'UTC');
        v_to := date_trunc(v_interval, now(), 'UTC') + v_step;
    END IF;

    -- every hour of the campaign, also those before v_from (none: its
    -- emails exist from the start), in the totals
    v_s := db_analytics_series(p_ws, p_id, v_from, v_to, v_interval);

    IF c.started_at IS NULL THEN
        v_s := json_build_object('totals', v_s -> 'totals',
                                 'series', '[]'::json);
    END IF;

    SELECT coalesce(json_agg(json_build_object(
               'url', l.url, 'clicks', l.clicks,
               'uniqueClicks', l.unique_clicks,
               'machineClicks', l.machine_clicks)
               ORDER BY l.clicks DESC, l.unique_clicks DESC, l.url), '[]')
      INTO v_links
      FROM (SELECT min(url) AS url, sum(clicks) AS clicks,
                   sum(unique_clicks) AS unique_clicks,
                   sum(machine_clicks) AS machine_clicks
              FROM analytics_campaign_links
             WHERE workspace_id = p_ws AND campaign_id = p_id
             GROUP BY link
             ORDER BY 2 DESC, 3 DESC, 1
             LIMIT 10) l;

    SELECT json_build_object('total', coalesce(sum(n), 0),
                             'byStatus', json_object_agg(s, coalesce(n, 0)
                                                         ORDER BY o))
      INTO v_rcpt
      FROM unnest(ARRAY['pending', 'rendering', 'queued', 'sent', 'bounced',
                        'failed', 'suppressed', 'unsubscribed', 'no_address',
                        'cancelled']) WITH ORDINALITY AS u (s, o)
      LEFT JOIN (SELECT status, count(*) AS n
                   FROM campaign_recipients
                  WHERE workspace_id = p_ws AND campaign_id = p_id
                  GROUP BY status) r ON r.status = u.s;

    RETURN json_build_object(
        'campaignId', c.id,
        'name', c.name,
        'status', c.status,
        'startedAt', db_analytics_ts(c.started_at),
        'completedAt', db_analytics_ts(c.completed_at),
        'interval', v_interval,
        'from', CASE WHEN c.started_at IS NOT NULL
                     THEN db_analytics_ts(v_from) END,
        'to', CASE WHEN c.started_at IS NOT NULL
                   THEN db_analytics_ts(v_to) END,
        'totals', v_s -> 'totals',
        'series', v_s -> 'series',
        'topLinks', v_links,
        'recipients', v_rcpt)::text;
END
$$;


/*
 * GET /analytics/contacts/:id: the contact's figures of all time, its
 * last human open, click and engagement, and its engagement score over
 * the last 90 days (docs/ANALYTICS.md):
 *   points = sum over the days d of the last 90 (UTC) of
 *            2^(-age(d) / 30) * (uniqueOpens(d) + 2 * uniqueClicks(d))
 *   score  = round(100 * (1 - exp(-points / 3)))
 * NULL: no such contact in the workspace (404).
 */

CREATE FUNCTION db_analytics_contact(p_ws uuid, p_id uuid)
RETURNS text LANGUAGE plpgsql STABLE AS $$
DECLARE
    t         record;
    v_today   date := (now() AT TIME ZONE 'UTC')::date;
    v_points  double precision;
    v_emails  bigint;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM contacts
                    WHERE workspace_id = p_ws AND id = p_id
                      AND deleted_at IS NULL)
    THEN
        RETURN NULL;
    END IF;

    SELECT coalesce(sum(delivered), 0) AS delivered,
           coalesce(sum(hard_bounces), 0) AS hard,
           coalesce(sum(soft_bounces), 0) AS soft,
           coalesce(sum(opens), 0) AS opens,
           coalesce(sum(unique_opens), 0) AS uopens,
           coalesce(sum(machine_opens), 0) AS mopens,
           coalesce(sum(clicks), 0) AS clicks,
           coalesce(sum(unique_clicks), 0) AS uclicks,
           coalesce(sum(machine_clicks), 0) AS mclicks,
           coalesce(sum(unsubscribes), 0) AS unsub,
           max(last_open_at) AS last_open,
           max(last_click_at) AS last_click,
           coalesce(sum(power(2, -(v_today - day) / 30.0)
                         * (unique_opens + 2 * unique_clicks))
                    FILTER (WHERE day > v_today - 90), 0) AS points
      INTO t
      FROM analytics_contact_daily
     WHERE workspace_id = p_ws AND contact_id = p_id;

    SELECT count(*) INTO v_emails
      FROM emails
     WHERE workspace_id = p_ws AND contact_id = p_id;

    v_points := t.points;

    RETURN json_build_object(
        'contactId', p_id,
        'emails', v_emails,
        'totals', db_analytics_totals(t.delivered, t.hard, t.soft, t.opens,
                      t.uopens, t.mopens, t.clicks, t.uclicks, t.mclicks,
                      t.unsub),
        'lastOpenAt', db_analytics_ts(t.last_open),
        'lastClickAt', db_analytics_ts(t.last_click),
        'lastEngagementAt', db_analytics_ts(greatest(t.last_open,
                                                     t.last_click)),
        'engagementScore', round(100 * (1 - exp(-v_points / 3)))::integer,
        'engagement', json_build_object(
            'points', round(v_points::numeric, 4)::float8,
            'windowDays', 90,
            'halfLifeDays', 30))::text;
END
$$;
