-- Analytics: unique opens and clicks per contact (issue 12, "opens total
-- and unique (per contact)"), per bucket, kept as events arrive.
--
-- sql/021 counted a unique open once per email.  A contact who opens two
-- emails is one person who opened: the workspace's figures (and a
-- campaign's series) count a contact once per bucket of the series asked
-- for (an hour, a UTC day, an ISO week from Monday 00:00 UTC).  Hourly
-- counters cannot tell how many distinct contacts a day holds (one
-- contact opening at 09:00 and 15:00 would count twice), so each hourly
-- row keeps three counters per figure, one per grain:
--
--   contact_opens_h   contacts whose first human open of this HOUR it is
--   contact_opens_d   contacts whose first human open of this hour's DAY
--                     falls in this hour
--   contact_opens_w   the same for the hour's ISO WEEK
--   (contact_clicks_h, _d, _w: the same for human clicks)
--
-- so that the sum of contact_opens_d over the 24 hours of a day is
-- exactly the number of distinct contacts who opened that day (and
-- likewise for hours and weeks): a series reads the column of its grain.
-- The first engagements are detected like sql/021's, by inserting into
-- analytics_contact_firsts, keyed by (workspace, scope, contact, kind,
-- grain, bucket), with ON CONFLICT DO NOTHING: the rows inserted are the
-- new ones, also under concurrency.  scope is the nil uuid for the
-- workspace's figures and the campaign's id for a campaign's.  An email
-- without a contact (sent to an address) is its own recipient: its id
-- stands for the contact.
--
-- A range of several buckets (the totals of /analytics/emails) is the
-- sum of its buckets (docs/ANALYTICS.md says why).  A campaign's totals
-- of all time (/analytics/campaigns/:id) count each recipient once
-- overall: sql/021's unique_opens / unique_clicks of
-- analytics_campaign_hourly, first open of each email ever, and a
-- campaign sends one email per contact.
--
-- An event without details.machine is a human's (sql/021 counted it as
-- nothing: NULL in the NOT NULL counters failed the insert).
--
-- The per-email counters of sql/021 stay: a contact's own figures
-- (/analytics/contacts/:id) count its emails opened, and the engagement
-- score is defined on them.


ALTER TABLE analytics_hourly
    ADD COLUMN contact_opens_h   integer NOT NULL DEFAULT 0,
    ADD COLUMN contact_opens_d   integer NOT NULL DEFAULT 0,
    ADD COLUMN contact_opens_w   integer NOT NULL DEFAULT 0,
    ADD COLUMN contact_clicks_h  integer NOT NULL DEFAULT 0,
    ADD COLUMN contact_clicks_d  integer NOT NULL DEFAULT 0,
    ADD COLUMN contact_clicks_w  integer NOT NULL DEFAULT 0;

ALTER TABLE analytics_campaign_hourly
    ADD COLUMN contact_opens_h   integer NOT NULL DEFAULT 0,
    ADD COLUMN contact_opens_d   integer NOT NULL DEFAULT 0,
    ADD COLUMN contact_opens_w   integer NOT NULL DEFAULT 0,
    ADD COLUMN contact_clicks_h  integer NOT NULL DEFAULT 0,
    ADD COLUMN contact_clicks_d  integer NOT NULL DEFAULT 0,
    ADD COLUMN contact_clicks_w  integer NOT NULL DEFAULT 0;

-- the first human open ('o') or click ('c') of a contact (or of an email
-- without one: who = its id) in a bucket: grain 'h' (bucket = the hour),
-- 'd' (the UTC day), 'w' (the ISO week); scope: the nil uuid (the
-- workspace) or a campaign; first_at: the earliest such event seen
CREATE TABLE analytics_contact_firsts (
    workspace_id    uuid        NOT NULL,
    scope           uuid        NOT NULL,
    who             uuid        NOT NULL,
    kind            "char"      NOT NULL,
    grain           "char"      NOT NULL,
    bucket          timestamptz NOT NULL,
    first_at        timestamptz NOT NULL,
    PRIMARY KEY (workspace_id, scope, who, kind, grain, bucket)
);


CREATE OR REPLACE FUNCTION db_analytics_after_events() RETURNS trigger
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
               AND coalesce(n.details -> 'machine' = 'true'::jsonb, false)
               AS machine,
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
    ), cfirsts AS (
        INSERT INTO analytics_contact_firsts AS f (workspace_id, scope, who,
                                                   kind, grain, bucket,
                                                   first_at)
        SELECT DISTINCT ON (y.workspace_id, y.scope, y.who, y.kind,
                            y.grain, y.bucket)
               y.workspace_id, y.scope, y.who, y.kind, y.grain, y.bucket,
               y.occurred_at
          FROM (SELECT x.workspace_id, s.scope, x.who, x.kind, g.grain,
                       date_trunc(g.unit, x.occurred_at, 'UTC') AS bucket,
                       x.occurred_at
                  FROM (SELECT workspace_id, campaign_id,
                               coalesce(contact_id, email_id) AS who,
                               CASE type WHEN 'opened' THEN 'o'
                                         ELSE 'c' END::"char" AS kind,
                               occurred_at
                          FROM ev
                         WHERE type IN ('opened', 'clicked') AND NOT machine
                       ) x
                 CROSS JOIN LATERAL (VALUES
                           ('00000000-0000-0000-0000-000000000000'::uuid),
                           (x.campaign_id)) AS s (scope)
                 CROSS JOIN (VALUES ('h'::"char", 'hour'), ('d', 'day'),
                                    ('w', 'week')) AS g (grain, unit)
                 WHERE s.scope IS NOT NULL) y
         ORDER BY y.workspace_id, y.scope, y.who, y.kind, y.grain, y.bucket,
                  y.occurred_at
        ON CONFLICT DO NOTHING
        RETURNING f.workspace_id, f.scope, f.kind, f.grain, f.first_at
    ), fig AS (
        -- part: 'a' counts everywhere, 'w' in the workspace's rollup
        -- only, 'c' in the campaign's only
        SELECT workspace_id, campaign_id, contact_id, occurred_at AS at,
               'a'::"char" AS part,
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
               0 AS co_h, 0 AS co_d, 0 AS co_w,
               0 AS cc_h, 0 AS cc_d, 0 AS cc_w,
               CASE WHEN type = 'opened' AND NOT machine
                    THEN occurred_at END AS open_at,
               CASE WHEN type = 'clicked' AND NOT machine
                    THEN occurred_at END AS click_at
          FROM ev
        UNION ALL
        SELECT workspace_id, campaign_id, contact_id, first_at, 'a',
               0, 0, 0, 0, (kind = 'o')::integer, 0, 0,
               (kind = 'c')::integer, 0, 0, 0, 0, 0, 0, 0, 0, NULL, NULL
          FROM firsts_ev
         WHERE kind IN ('o', 'c')
        UNION ALL
        SELECT workspace_id,
               nullif(scope, '00000000-0000-0000-0000-000000000000'),
               NULL, first_at,
               CASE WHEN scope = '00000000-0000-0000-0000-000000000000'
                    THEN 'w' ELSE 'c' END::"char",
               0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
               (kind = 'o' AND grain = 'h')::integer,
               (kind = 'o' AND grain = 'd')::integer,
               (kind = 'o' AND grain = 'w')::integer,
               (kind = 'c' AND grain = 'h')::integer,
               (kind = 'c' AND grain = 'd')::integer,
               (kind = 'c' AND grain = 'w')::integer,
               NULL, NULL
          FROM cfirsts
    ), hourly AS (
        INSERT INTO analytics_hourly AS t
               (workspace_id, hour, slot, delivered, hard_bounces,
                soft_bounces, opens, unique_opens, machine_opens, clicks,
                unique_clicks, machine_clicks, unsubscribes,
                contact_opens_h, contact_opens_d, contact_opens_w,
                contact_clicks_h, contact_clicks_d, contact_clicks_w)
        SELECT workspace_id, date_trunc('hour', at, 'UTC'), v_slot,
               sum(delivered), sum(hard_bounces), sum(soft_bounces),
               sum(opens), sum(unique_opens), sum(machine_opens),
               sum(clicks), sum(unique_clicks), sum(machine_clicks),
               sum(unsubscribes), sum(co_h), sum(co_d), sum(co_w),
               sum(cc_h), sum(cc_d), sum(cc_w)
          FROM fig
         WHERE part IN ('a', 'w')
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
               unsubscribes = t.unsubscribes + excluded.unsubscribes,
               contact_opens_h = t.contact_opens_h + excluded.contact_opens_h,
               contact_opens_d = t.contact_opens_d + excluded.contact_opens_d,
               contact_opens_w = t.contact_opens_w + excluded.contact_opens_w,
               contact_clicks_h = t.contact_clicks_h
                                  + excluded.contact_clicks_h,
               contact_clicks_d = t.contact_clicks_d
                                  + excluded.contact_clicks_d,
               contact_clicks_w = t.contact_clicks_w
                                  + excluded.contact_clicks_w
    ), campaign AS (
        INSERT INTO analytics_campaign_hourly AS t
               (workspace_id, campaign_id, hour, slot, delivered,
                hard_bounces, soft_bounces, opens, unique_opens,
                machine_opens, clicks, unique_clicks, machine_clicks,
                unsubscribes, contact_opens_h, contact_opens_d,
                contact_opens_w, contact_clicks_h, contact_clicks_d,
                contact_clicks_w)
        SELECT workspace_id, campaign_id, date_trunc('hour', at, 'UTC'),
               v_slot, sum(delivered), sum(hard_bounces), sum(soft_bounces),
               sum(opens), sum(unique_opens), sum(machine_opens),
               sum(clicks), sum(unique_clicks), sum(machine_clicks),
               sum(unsubscribes), sum(co_h), sum(co_d), sum(co_w),
               sum(cc_h), sum(cc_d), sum(cc_w)
          FROM fig
         WHERE campaign_id IS NOT NULL AND part IN ('a', 'c')
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
               unsubscribes = t.unsubscribes + excluded.unsubscribes,
               contact_opens_h = t.contact_opens_h + excluded.contact_opens_h,
               contact_opens_d = t.contact_opens_d + excluded.contact_opens_d,
               contact_opens_w = t.contact_opens_w + excluded.contact_opens_w,
               contact_clicks_h = t.contact_clicks_h
                                  + excluded.contact_clicks_h,
               contact_clicks_d = t.contact_clicks_d
                                  + excluded.contact_clicks_d,
               contact_clicks_w = t.contact_clicks_w
                                  + excluded.contact_clicks_w
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
         WHERE contact_id IS NOT NULL AND part = 'a'
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


CREATE OR REPLACE FUNCTION db_analytics_after_truncate() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    TRUNCATE analytics_hourly, analytics_campaign_hourly,
             analytics_contact_daily, analytics_campaign_links,
             analytics_firsts, analytics_contact_firsts;
    RETURN NULL;
END
$$;


/*
 * sql/021's db_analytics_backfill() with the per-contact counters: the
 * rollups of workspace p_ws made again from its events, as the trigger
 * would have made them (slot 0).  Returns the number of events counted.
 */

CREATE OR REPLACE FUNCTION db_analytics_backfill(p_ws uuid) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    n  bigint;
BEGIN
    DELETE FROM analytics_hourly WHERE workspace_id = p_ws;
    DELETE FROM analytics_campaign_hourly WHERE workspace_id = p_ws;
    DELETE FROM analytics_contact_daily WHERE workspace_id = p_ws;
    DELETE FROM analytics_campaign_links WHERE workspace_id = p_ws;
    DELETE FROM analytics_firsts WHERE workspace_id = p_ws;
    DELETE FROM analytics_contact_firsts WHERE workspace_id = p_ws;

    CREATE TEMP TABLE analytics_backfill_ev ON COMMIT DROP AS
    SELECT n.email_id, n.type, n.occurred_at, e.campaign_id, e.contact_id,
           n.type IN ('opened', 'clicked')
           AND coalesce(n.details -> 'machine' = 'true'::jsonb, false)
           AS machine,
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

    INSERT INTO analytics_contact_firsts (workspace_id, scope, who, kind,
                                          grain, bucket, first_at)
    SELECT p_ws, s.scope, x.who, x.kind, g.grain,
           date_trunc(g.unit, x.occurred_at, 'UTC'), min(x.occurred_at)
      FROM (SELECT campaign_id, coalesce(contact_id, email_id) AS who,
                   CASE type WHEN 'opened' THEN 'o' ELSE 'c' END::"char"
                   AS kind,
                   occurred_at
              FROM analytics_backfill_ev
             WHERE type IN ('opened', 'clicked') AND NOT machine) x
     CROSS JOIN LATERAL (VALUES
               ('00000000-0000-0000-0000-000000000000'::uuid),
               (x.campaign_id)) AS s (scope)
     CROSS JOIN (VALUES ('h'::"char", 'hour'), ('d', 'day'),
                        ('w', 'week')) AS g (grain, unit)
     WHERE s.scope IS NOT NULL
     GROUP BY 2, 3, 4, 5, 6;

    CREATE TEMP TABLE analytics_backfill_fig ON COMMIT DROP AS
    SELECT campaign_id, contact_id, occurred_at AS at, 'a'::"char" AS part,
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
           0 AS co_h, 0 AS co_d, 0 AS co_w, 0 AS cc_h, 0 AS cc_d, 0 AS cc_w,
           CASE WHEN type = 'opened' AND NOT machine
                THEN occurred_at END AS open_at,
           CASE WHEN type = 'clicked' AND NOT machine
                THEN occurred_at END AS click_at
      FROM analytics_backfill_ev
    UNION ALL
    SELECT e.campaign_id, e.contact_id, f.first_at, 'a',
           0, 0, 0, 0, (f.kind = 'o')::integer, 0, 0,
           (f.kind = 'c')::integer, 0, 0, 0, 0, 0, 0, 0, 0, NULL, NULL
      FROM analytics_firsts f
      JOIN emails e ON e.workspace_id = f.workspace_id AND e.id = f.email_id
     WHERE f.workspace_id = p_ws AND f.kind IN ('o', 'c')
    UNION ALL
    SELECT nullif(scope, '00000000-0000-0000-0000-000000000000'), NULL,
           first_at,
           CASE WHEN scope = '00000000-0000-0000-0000-000000000000'
                THEN 'w' ELSE 'c' END::"char",
           0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
           (kind = 'o' AND grain = 'h')::integer,
           (kind = 'o' AND grain = 'd')::integer,
           (kind = 'o' AND grain = 'w')::integer,
           (kind = 'c' AND grain = 'h')::integer,
           (kind = 'c' AND grain = 'd')::integer,
           (kind = 'c' AND grain = 'w')::integer,
           NULL, NULL
      FROM analytics_contact_firsts
     WHERE workspace_id = p_ws;

    INSERT INTO analytics_hourly
           (workspace_id, hour, slot, delivered, hard_bounces, soft_bounces,
            opens, unique_opens, machine_opens, clicks, unique_clicks,
            machine_clicks, unsubscribes, contact_opens_h, contact_opens_d,
            contact_opens_w, contact_clicks_h, contact_clicks_d,
            contact_clicks_w)
    SELECT p_ws, date_trunc('hour', at, 'UTC'), 0,
           sum(delivered), sum(hard_bounces), sum(soft_bounces),
           sum(opens), sum(unique_opens), sum(machine_opens),
           sum(clicks), sum(unique_clicks), sum(machine_clicks),
           sum(unsubscribes), sum(co_h), sum(co_d), sum(co_w),
           sum(cc_h), sum(cc_d), sum(cc_w)
      FROM analytics_backfill_fig
     WHERE part IN ('a', 'w')
     GROUP BY 2;

    INSERT INTO analytics_campaign_hourly
           (workspace_id, campaign_id, hour, slot, delivered, hard_bounces,
            soft_bounces, opens, unique_opens, machine_opens, clicks,
            unique_clicks, machine_clicks, unsubscribes, contact_opens_h,
            contact_opens_d, contact_opens_w, contact_clicks_h,
            contact_clicks_d, contact_clicks_w)
    SELECT p_ws, campaign_id, date_trunc('hour', at, 'UTC'), 0,
           sum(delivered), sum(hard_bounces), sum(soft_bounces),
           sum(opens), sum(unique_opens), sum(machine_opens),
           sum(clicks), sum(unique_clicks), sum(machine_clicks),
           sum(unsubscribes), sum(co_h), sum(co_d), sum(co_w),
           sum(cc_h), sum(cc_d), sum(cc_w)
      FROM analytics_backfill_fig
     WHERE campaign_id IS NOT NULL AND part IN ('a', 'c')
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
     WHERE contact_id IS NOT NULL AND part = 'a'
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


/*
 * Totals and a series of buckets of p_interval ('hour', 'day', 'week':
 * weeks start on Monday, all in UTC) from p_from to p_to (both bucket
 * boundaries, the caller aligns them), empty buckets included, from the
 * workspace's rollup or, with p_campaign, the campaign's:
 *   {"totals": {<figures>, "rates": {...}}, "series": [{"start", ...}]}
 * uniqueOpens and uniqueClicks of a bucket: the distinct contacts with a
 * human open (click) in it, read from the counters of the bucket's grain;
 * of the totals: the sum of the buckets'.
 */

CREATE OR REPLACE FUNCTION db_analytics_series(p_ws uuid, p_campaign uuid,
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
               sum(CASE p_interval WHEN 'hour' THEN h.contact_opens_h
                                   WHEN 'day' THEN h.contact_opens_d
                                   ELSE h.contact_opens_w END) AS uopens,
               sum(h.machine_opens) AS mopens, sum(h.clicks) AS clicks,
               sum(CASE p_interval WHEN 'hour' THEN h.contact_clicks_h
                                   WHEN 'day' THEN h.contact_clicks_d
                                   ELSE h.contact_clicks_w END) AS uclicks,
               sum(h.machine_clicks) AS mclicks,
               sum(h.unsubscribes) AS unsub
          FROM analytics_hourly h
         WHERE p_campaign IS NULL AND h.workspace_id = p_ws
           AND h.hour >= p_from AND h.hour < p_to
         GROUP BY 1
        UNION ALL
        SELECT date_trunc(p_interval, h.hour, 'UTC'),
               sum(h.delivered), sum(h.hard_bounces), sum(h.soft_bounces),
               sum(h.opens),
               sum(CASE p_interval WHEN 'hour' THEN h.contact_opens_h
                                   WHEN 'day' THEN h.contact_opens_d
                                   ELSE h.contact_opens_w END),
               sum(h.machine_opens), sum(h.clicks),
               sum(CASE p_interval WHEN 'hour' THEN h.contact_clicks_h
                                   WHEN 'day' THEN h.contact_clicks_d
                                   ELSE h.contact_clicks_w END),
               sum(h.machine_clicks), sum(h.unsubscribes)
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
 * GET /analytics/campaigns/:id: totals of all time, each recipient counted
 * once in uniqueOpens / uniqueClicks whenever it engaged (sql/021's
 * per-email counters: one email per contact and campaign), a series
 * since the start to now (hours up to two days, then days up to 366,
 * then weeks; a contact once per bucket), the 10 most clicked links, the
 * recipients by state.  NULL: no such campaign in the workspace (404).
 */

CREATE OR REPLACE FUNCTION db_analytics_campaign(p_ws uuid, p_id uuid)
RETURNS text LANGUAGE plpgsql STABLE AS $$
DECLARE
    c           record;
    t           record;
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
        v_s := db_analytics_series(p_ws, p_id, v_from, v_to, v_interval);
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
           coalesce(sum(unsubscribes), 0) AS unsub
      INTO t
      FROM analytics_campaign_hourly
     WHERE workspace_id = p_ws AND campaign_id = p_id;

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
        'totals', db_analytics_totals(t.delivered, t.hard, t.soft, t.opens,
                      t.uopens, t.mopens, t.clicks, t.uclicks, t.mclicks,
                      t.unsub),
        'series', coalesce(v_s -> 'series', '[]'::json),
        'topLinks', v_links,
        'recipients', v_rcpt)::text;
END
$$;


-- events counted before this migration: each workspace's rollups made
-- again, with the new counters (reads every event once)
DO $$
BEGIN
    PERFORM db_analytics_backfill(w.id)
       FROM workspaces w
      WHERE EXISTS (SELECT 1 FROM analytics_hourly h
                     WHERE h.workspace_id = w.id);
END
$$;
