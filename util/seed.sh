#!/usr/bin/env bash
# util/seed.sh [N]: fills the seed workspace of the "make run" stack with
# realistic data at scale, for benchmarks (make seed N=1000000).
#
#   contacts    N        names from lists of common first and last names,
#                        unique emails, phones, titles, skewed statuses,
#                        tags, created over two years, each at a company
#   companies   N/10     names, domains, industries, sizes, revenue
#   pipelines   1        Qualified 20 / Proposal 50 / Negotiation 75 /
#                        Closed 100
#   deals       N/5      a stage of the pipeline, amounts, EUR or USD,
#                        open/won/lost, a company and one of its contacts
#   leads       N/10
#   activities  N/2      calls, meetings, tasks and notes of contacts
#                        (only when the activities table exists)
#   campaigns   7        completed, started 23 to 143 days ago
#   emails      N*33/10  70% of a campaign (one per contact and
#                        campaign, with its campaign_recipients row),
#                        30% transactional, over 180 days; 3% bounced
#                        (hard), 1% failed (soft), the rest sent
#   events      ~10*N    (1M for N=100000) about 3 an email: queued,
#                        the outcome, human opens (40% of the sent, 1 to
#                        3), machine opens (20%), clicks of 5 links (a
#                        quarter of the opened, 1 or 2), scanner clicks
#                        (5%), unsubscribes (0.5%); then
#                        db_analytics_backfill() fills the rollups of
#                        sql/021 and sql/035 (when their tables exist)
#
# The workspace is cccccccc-cccc-4ccc-8ccc-cccccccccccc ("seed", created
# when missing).  A run first deletes what the workspace holds from every
# table with a workspace_id column (referencing tables first) and
# vacuums them, then makes everything with INSERT ... SELECT
# generate_series on the server: each table in batches of at most
# SEED_BATCH rows (one transaction each), spread over SEED_JOBS parallel
# sessions.  Rows are made consistent with the tables' rules; the per-row
# triggers (stages, linked contacts, custom fields) run, unless the
# database user is a superuser (session_replication_role = replica); the
# indexes are kept up to date all along.  Each table is VACUUM ANALYZEd
# once filled (statistics, visibility map, GIN pending lists flushed).
# The rows depend on N only (timestamps are relative to now()).
#
# While a table fills for longer than 2 s, a line every PROGRESS_EVERY
# seconds (10; every second on a terminal, rewriting one line) says how
# far it is: rows done and the percentage, rows a second, the time left
# at that rate (for events: in emails whose events are made).
#
# Prints the time of each table, and an API key of the workspace (every
# scope, also in .run/run/seed.key) with a curl line.  PostgreSQL of the
# run stack is started when it is down (util/stack.sh run pg-start, or
# "up" when there is no run stack yet) and left running.
#
# Environment (defaults in brackets):
#   SEED_JOBS    parallel sessions per table [nproc, at most 4]
#   SEED_BATCH   rows per INSERT statement and transaction [100000]
#   PROGRESS_EVERY  seconds between progress lines, off a terminal [10]

set -euo pipefail

# shellcheck source=util/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

N=${1:-100000}
case $N in
    ''|*[!0-9]*) die "N must be a number of contacts (got \"$N\")" ;;
esac
[ "$N" -ge 10 ] || die "N must be at least 10"

JOBS=${SEED_JOBS:-$(nproc)}
[ -n "${SEED_JOBS:-}" ] || [ "$JOBS" -le 4 ] || JOBS=4
BATCH=${SEED_BATCH:-100000}
for v in JOBS BATCH; do
    case ${!v} in
        ''|*[!0-9]*|0) die "SEED_$v must be a positive number" ;;
    esac
done

WS=cccccccc-cccc-4ccc-8ccc-cccccccccccc

instance_init run

if ! "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT" -t 2; then
    if [ -s "$DIR/pg/data/PG_VERSION" ]; then
        echo "seed: starting PostgreSQL of the run stack"
        "$TOP/util/stack.sh" run pg-start
    else
        echo "seed: no run stack yet: util/stack.sh run up"
        "$TOP/util/stack.sh" run up
    fi
fi
"$TOP/util/migrate.sh" run

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

# now_ns: a clock for timings
now_ns() {
    date +%s%N
}

# secs START_NS: seconds since START_NS, one decimal
secs() {
    local d=$(( $(now_ns) - $1 ))
    printf '%d.%01d' $(( d / 1000000000 )) $(( d / 100000000 % 10 ))
}

# has_table NAME: the table exists (in the schema the module uses)
has_table() {
    [ "$(psql_crm -tA -c "SELECT 1 FROM information_schema.tables
                           WHERE table_schema = current_schema()
                             AND table_name = '$1'")" = 1 ]
}

# whether triggers may be skipped (a superuser may set the replica role)
SKIP=
TRIGGERS=on
if [ "$(psql_crm -tA -c "SELECT rolsuper FROM pg_roles
                          WHERE rolname = current_user")" = t ]; then
    SKIP="SET LOCAL session_replication_role = replica;"
    TRIGGERS=skipped
fi

# Every session starts with this.  The triggers' queries take an array or
# a record of the row as parameters; with custom plans PostgreSQL plans
# them anew for every row (db_contact_ids() costs 4x more per row that
# way), generic plans are as good for these one-row lookups.
SESSION="SET plan_cache_mode = force_generic_plan;"

# what the batches of the next fill count ("rows", or for the events
# the emails whose events they make)
UNIT=rows

# fill NAME TABLE COUNT < SQL: inserts COUNT rows into TABLE with SQL, an
# INSERT ... SELECT over generate_series(:lo, :hi) (psql variables, like
# :'ws' and :n), run once per batch, the batches taken in turn by JOBS
# parallel sessions; then VACUUM ANALYZE TABLE (the next tables'
# triggers and foreign keys look rows up in it).  Prints the times, and
# while it runs (past 2 s) the rows committed, rows per second, percent
# and time left (progress_watch of util/lib.sh).
fill() {
    local name=$1 table=$2 count=$3 sql start nb size j b lo hi
    local pids=() failed=
    sql=$(cat)
    start=$(now_ns)

    # batches: a multiple of JOBS, none larger than BATCH, and at least 8
    # a session when that leaves 5000 rows a batch (progress to report)
    nb=$(( (count + BATCH - 1) / BATCH ))
    if [ $(( count / (8 * JOBS) )) -ge 5000 ] && [ "$nb" -lt $(( 8 * JOBS )) ]
    then
        nb=$(( 8 * JOBS ))
    fi
    nb=$(( (nb + JOBS - 1) / JOBS * JOBS ))
    size=$(( (count + nb - 1) / nb ))

    for (( j = 0; j < JOBS; j++ )); do
        {
            echo "$SESSION"
            for (( b = j; b < nb; b += JOBS )); do
                lo=$(( b * size + 1 ))
                hi=$(( (b + 1) * size ))
                [ "$hi" -le "$count" ] || hi=$count
                [ "$lo" -le "$hi" ] || continue
                printf '\\set lo %d\n\\set hi %d\nBEGIN;\n%s\n%s\n' \
                       "$lo" "$hi" "$SKIP" "$sql"
                printf 'COMMIT;\n\\echo seed-progress %d\n' $(( hi - lo + 1 ))
            done
        } > "$TMP/$name-$j.sql"
        psql_crm -v ws="$WS" -v n="$N" -f "$TMP/$name-$j.sql" \
            > "$TMP/$name-$j.log" 2>&1 &
        pids+=($!)
    done
    progress_watch "seed: $name" "$count" "$UNIT" \
        "cat $TMP/$name-*.log | awk '/^seed-progress/ { n += \$2 }
                                     END { print n + 0 }'" "${pids[@]}"
    for j in "${!pids[@]}"; do
        if ! wait "${pids[$j]}"; then
            failed=1
            cat "$TMP/$name-$j.log" >&2
        fi
    done
    [ -z "$failed" ] || die "filling $table failed (see above)"

    local took mid
    took=$(secs "$start")
    mid=$(now_ns)
    psql_crm -c "VACUUM (ANALYZE) $table"
    printf 'seed: %-11s %8d %s %7s s  (+ vacuum analyze %s s)\n' \
           "$name" "$count" "$UNIT" "$took" "$(secs "$mid")"
}

ACTIVITIES=
if has_table activities; then
    ACTIVITIES=1
fi

ANALYTICS=
if has_table analytics_hourly; then
    ANALYTICS=1
fi

T0=$(now_ns)
echo "seed: $N contacts into workspace $WS" \
     "(row triggers: $TRIGGERS; $JOBS sessions, batches of" \
     "at most $BATCH rows)"
[ -n "$ACTIVITIES" ] || echo "seed: no table activities yet: no activities"


# ---- empty the workspace ----------------------------------------------

start=$(now_ns)
had=$(psql_crm -tA -c "SELECT count(*) FROM contacts
                        WHERE workspace_id = '$WS'")

# every table with a workspace_id column, deepest in the foreign keys
# between them first (a table referencing another one is emptied before
# it); the workspace row itself is kept
psql_crm -1 -v ws="$WS" <<EOF
INSERT INTO workspaces (id, name) VALUES (:'ws', 'seed')
    ON CONFLICT (id) DO UPDATE
    SET name = 'seed', deleted_at = NULL, updated_at = now();
$SKIP
WITH RECURSIVE t AS (
    SELECT format('%I.%I', c.table_schema, c.table_name)::regclass::oid
           AS rel
      FROM information_schema.columns AS c
      JOIN information_schema.tables AS b USING (table_schema, table_name)
     WHERE c.column_name = 'workspace_id'
       AND c.table_schema = current_schema()
       AND b.table_type = 'BASE TABLE'
), fk AS (
    SELECT DISTINCT conrelid AS child, confrelid AS parent
      FROM pg_constraint
     WHERE contype = 'f' AND conrelid <> confrelid
       AND conrelid IN (SELECT rel FROM t)
       AND confrelid IN (SELECT rel FROM t)
), depth (rel, d) AS (
    SELECT rel, 0 FROM t
    UNION ALL
    SELECT fk.child, depth.d + 1
      FROM depth JOIN fk ON fk.parent = depth.rel
     WHERE depth.d < 50
)
SELECT format('DELETE FROM %s WHERE workspace_id = %L', rel::regclass, :'ws')
  FROM depth
 GROUP BY rel
 ORDER BY max(d) DESC, rel::regclass::text
\gexec
EOF

# the deleted rows' space is reused by the inserts below, and no
# autovacuum competes with them
if [ "${had:-0}" -gt 0 ]; then
    for table in companies contacts pipelines deals leads \
                 ${ACTIVITIES:+activities}; do
        psql_crm -c "VACUUM $table"
    done
fi
printf 'seed: %-11s %8s      %7s s  (%d contacts were there)\n' \
       empty "" "$(secs "$start")" "${had:-0}"

# the lists values are drawn from, as SQL arrays
NAMES="
CREATE TEMP TABLE IF NOT EXISTS seed_names AS SELECT
 ARRAY['James','Mary','John','Patricia','Robert','Jennifer','Michael',
  'Linda','William','Elizabeth','David','Barbara','Richard','Susan','Joseph',
  'Jessica','Thomas','Sarah','Charles','Karen','Christopher','Nancy',
  'Daniel','Lisa','Matthew','Betty','Anthony','Margaret','Mark','Sandra',
  'Donald','Ashley','Steven','Kimberly','Paul','Emily','Andrew','Donna',
  'Joshua','Michelle','Kenneth','Dorothy','Kevin','Carol','Brian','Amanda',
  'George','Melissa','Edward','Deborah','Ronald','Stephanie','Timothy',
  'Rebecca','Jason','Sharon','Jeffrey','Laura','Ryan','Cynthia','Jacob',
  'Kathleen','Gary','Amy','Nicholas','Shirley','Eric','Angela','Jonathan',
  'Helen','Stephen','Anna','Larry','Brenda','Justin','Pamela','Scott',
  'Nicole','Brandon','Emma','Benjamin','Samantha','Samuel','Katherine',
  'Gregory','Christine','Frank','Debra','Alexander','Rachel','Raymond',
  'Catherine','Patrick','Carolyn','Jack','Janet','Dennis','Ruth','Jerry',
  'Maria','Lukas','Sophie','Jonas','Lea','Mateo','Lucia','Hugo','Chloe']
  AS first,
 ARRAY['Smith','Johnson','Williams','Brown','Jones','Garcia','Miller',
  'Davis','Rodriguez','Martinez','Hernandez','Lopez','Gonzalez','Wilson',
  'Anderson','Thomas','Taylor','Moore','Jackson','Martin','Lee','Perez',
  'Thompson','White','Harris','Sanchez','Clark','Ramirez','Lewis',
  'Robinson','Walker','Young','Allen','King','Wright','Scott','Torres',
  'Nguyen','Hill','Flores','Green','Adams','Nelson','Baker','Hall',
  'Rivera','Campbell','Mitchell','Carter','Roberts','Gomez','Phillips',
  'Evans','Turner','Diaz','Parker','Cruz','Edwards','Collins','Reyes',
  'Stewart','Morris','Morales','Murphy','Cook','Rogers','Gutierrez',
  'Ortiz','Morgan','Cooper','Peterson','Bailey','Reed','Kelly','Howard',
  'Ramos','Kim','Cox','Ward','Richardson','Watson','Brooks','Chavez',
  'Wood','James','Bennett','Gray','Mendoza','Ruiz','Hughes','Price',
  'Alvarez','Castillo','Sanders','Patel','Myers','Long','Ross','Foster',
  'Jimenez','Muller','Schmidt','Schneider','Fischer','Weber','Dubois']
  AS last,
 ARRAY['Acme','Globex','Initech','Umbrella','Stark','Wayne','Wonka',
  'Tyrell','Cyberdyne','Soylent','Hooli','Vandelay','Gringotts','Oscorp',
  'Aperture','Massive','Dunder','Pied Piper','Monarch','Nakatomi',
  'Blue Sun','Virtucon','Gekko','Prestige','Sterling','Bluth','Krusty',
  'Duff','Vault','Black Mesa'] AS brand,
 ARRAY['Systems','Labs','Industries','Holdings','Partners','Group',
  'Logistics','Software','Foods','Energy','Health','Capital','Media',
  'Robotics','Analytics'] AS kind,
 ARRAY['Software','Manufacturing','Retail','Finance','Healthcare',
  'Logistics','Energy','Media','Education','Hospitality'] AS industry,
 ARRAY['CEO','CTO','CFO','VP Sales','Head of Marketing','Engineer',
  'Account Manager','Buyer','Office Manager','Consultant','Analyst',
  'Product Manager'] AS title,
 ARRAY['web','referral','event','partner','outbound','ads'] AS source;
"

fill companies companies $(( N / 10 > 1 ? N / 10 : 1 )) <<EOF
$NAMES
INSERT INTO companies (workspace_id, id, name, domain, website, industry,
                       employees, annual_revenue, phone, created_at,
                       updated_at)
SELECT :'ws',
       ('cccccccc-0001-4000-8000-' || lpad(to_hex(g), 12, '0'))::uuid,
       b || ' ' || k || ' ' || g,
       lower(replace(b, ' ', '')) || '-' || g || '.example',
       'https://' || lower(replace(b, ' ', '')) || '-' || g || '.example',
       s.industry[1 + g % 10],
       (10 + (g * 7919) % 5000),
       (100000 + (g * 104729) % 50000000)::numeric,
       '+1 555 ' || lpad((g % 10000000)::text, 7, '0'),
       now() - ((g * 7) % 730) * interval '1 day',
       now() - ((g * 3) % 30) * interval '1 day'
  FROM seed_names s,
       generate_series(CAST(:lo AS bigint), :hi) AS g,
       LATERAL (SELECT s.brand[1 + g % 30] AS b,
                       s.kind[1 + (g / 30) % 15] AS k) AS x;
EOF

fill contacts contacts "$N" <<EOF
$NAMES
INSERT INTO contacts (workspace_id, id, first_name, last_name, email, phone,
                      title, company_id, status, source, tags, created_at,
                      updated_at)
SELECT :'ws',
       ('cccccccc-0002-4000-8000-' || lpad(to_hex(g), 12, '0'))::uuid,
       f, l,
       lower(f) || '.' || lower(l) || '.' || g || '@example.com',
       '+1 555 ' || lpad(((g * 31) % 10000000)::text, 7, '0'),
       s.title[1 + (g * 13) % 12],
       ('cccccccc-0001-4000-8000-'
        || lpad(to_hex(1 + g % greatest(:n / 10, 1)), 12, '0'))::uuid,
       CASE WHEN g % 100 < 30 THEN 'lead'
            WHEN g % 100 < 50 THEN 'prospect'
            WHEN g % 100 < 75 THEN 'customer'
            WHEN g % 100 < 88 THEN 'active'
            WHEN g % 100 < 96 THEN 'inactive'
            ELSE 'churned' END,
       s.source[1 + (g * 17) % 6],
       CASE WHEN g % 7 = 0 THEN ARRAY['vip']
            WHEN g % 5 = 0 THEN ARRAY['newsletter', 'webinar']
            ELSE '{}'::text[] END,
       now() - (g::numeric / :n * 730) * interval '1 day',
       now() - ((g * 11) % 90) * interval '1 day'
  FROM seed_names s,
       generate_series(CAST(:lo AS bigint), :hi) AS g,
       -- names drawn independently of each other and of g's neighbours
       LATERAL (SELECT s.first[1 + (hashint8extended(g, 1) & 1073741823)
                                   % cardinality(s.first)] AS f,
                       s.last[1 + (hashint8extended(g, 2) & 1073741823)
                                  % cardinality(s.last)] AS l) AS x;
EOF

fill pipelines pipelines 1 <<EOF
INSERT INTO pipelines (workspace_id, id, name, stages) VALUES
 (:'ws', 'cccccccc-0003-4000-8000-000000000001', 'Sales',
  '[{"name":"Qualified","probability":20},{"name":"Proposal","probability":50},
    {"name":"Negotiation","probability":75},{"name":"Closed","probability":100}]');
EOF

fill deals deals $(( N / 5 > 1 ? N / 5 : 1 )) <<EOF
INSERT INTO deals (workspace_id, id, name, amount, currency, pipeline_id,
                   stage, probability, close_date, status, company_id,
                   contact_ids, created_at, updated_at)
SELECT :'ws',
       ('cccccccc-0004-4000-8000-' || lpad(to_hex(g), 12, '0'))::uuid,
       'Deal ' || g || ' ' || (ARRAY['renewal','expansion','new business',
                                     'pilot'])[1 + g % 4],
       (500 + (g * 7919) % 200000)::numeric,
       CASE WHEN g % 3 = 0 THEN 'USD' ELSE 'EUR' END,
       'cccccccc-0003-4000-8000-000000000001',
       (ARRAY['Qualified','Proposal','Negotiation','Closed'])[1 + g % 4],
       (ARRAY[20, 50, 75, 100])[1 + g % 4],
       current_date + ((g * 5) % 365 - 120)::integer,
       CASE WHEN g % 4 <> 3 THEN 'open'
            WHEN g % 8 = 3 THEN 'won' ELSE 'lost' END,
       ('cccccccc-0001-4000-8000-'
        || lpad(to_hex(1 + g % greatest(:n / 10, 1)), 12, '0'))::uuid,
       -- a contact of the same company: contact k works at company
       -- 1 + k % C (C companies), so k = g % C + C * m, with m from 1
       -- to N / C - 1
       ARRAY[('cccccccc-0002-4000-8000-'
              || lpad(to_hex(g % greatest(:n / 10, 1)
                             + greatest(:n / 10, 1)
                               * (1 + (g * 7) % (:n / greatest(:n / 10, 1)
                                                 - 1))),
                      12, '0'))::uuid],
       now() - ((g * 3) % 700) * interval '1 day',
       now() - ((g * 7) % 60) * interval '1 day'
  FROM generate_series(CAST(:lo AS bigint), :hi) AS g;
EOF

fill leads leads $(( N / 10 > 1 ? N / 10 : 1 )) <<EOF
$NAMES
INSERT INTO leads (workspace_id, id, first_name, last_name, email, phone,
                   company_name, industry, source, status, created_at,
                   updated_at)
SELECT :'ws',
       ('cccccccc-0005-4000-8000-' || lpad(to_hex(g), 12, '0'))::uuid,
       f, l, lower(f) || '.' || lower(l) || '.lead' || g || '@example.org',
       '+44 20 ' || lpad(((g * 37) % 100000000)::text, 8, '0'),
       s.brand[1 + (g * 3) % 30] || ' ' || s.kind[1 + g % 15],
       s.industry[1 + g % 10], s.source[1 + g % 6],
       (ARRAY['new','contacted','qualified','unqualified'])[1 + g % 4],
       now() - ((g * 5) % 365) * interval '1 day',
       now() - ((g * 5) % 365) * interval '1 day'
  FROM seed_names s,
       generate_series(CAST(:lo AS bigint), :hi) AS g,
       LATERAL (SELECT s.first[1 + (hashint8extended(g, 3) & 1073741823)
                                   % cardinality(s.first)] AS f,
                       s.last[1 + (hashint8extended(g, 4) & 1073741823)
                                  % cardinality(s.last)] AS l) AS x;
EOF

if [ -n "$ACTIVITIES" ]; then
fill activities activities $(( N / 2 > 1 ? N / 2 : 1 )) <<EOF
INSERT INTO activities (workspace_id, id, type, subject, body, status,
                        priority, due_at, start_at, end_at, duration_sec,
                        direction, related_type, related_id, contact_ids,
                        created_at, updated_at)
SELECT :'ws',
       ('cccccccc-0006-4000-8000-' || lpad(to_hex(g), 12, '0'))::uuid,
       t,
       (ARRAY['Intro call','Follow up','Demo','Send proposal','Check in',
              'Contract review','Kick-off','Quarterly review'])[1 + g % 8]
       || ' #' || g,
       CASE WHEN t = 'note' THEN 'Notes of the conversation ' || g END,
       CASE WHEN g % 3 = 0 THEN 'completed'
            WHEN g % 29 = 0 THEN 'cancelled' ELSE 'open' END,
       (ARRAY['low','normal','normal','high'])[1 + g % 4],
       CASE WHEN t = 'task'
            THEN now() + ((g * 7) % 120 - 30) * interval '1 day' END,
       CASE WHEN t = 'meeting'
            THEN now() + ((g * 7) % 120 - 60) * interval '1 day' END,
       CASE WHEN t = 'meeting'
            THEN now() + ((g * 7) % 120 - 60) * interval '1 day'
                 + interval '1 hour' END,
       CASE WHEN t = 'call' THEN (g * 13) % 1800 END,
       CASE WHEN t = 'call'
            THEN (ARRAY['inbound','outbound'])[1 + g % 2] END,
       'contact', c, ARRAY[c],
       now() - ((g * 3) % 700) * interval '1 day',
       now() - ((g * 3) % 700) * interval '1 day'
  FROM generate_series(CAST(:lo AS bigint), :hi) AS g,
       LATERAL (SELECT (ARRAY['call','meeting','task','note'])[1 + g % 4]
                       AS t,
                       ('cccccccc-0002-4000-8000-'
                        || lpad(to_hex(1 + (g * 3) % :n), 12, '0'))::uuid
                       AS c) AS x;
EOF
fi


if [ -n "$ANALYTICS" ]; then
# Emails and their events are made as delivery and tracking would have
# made them, so the triggers that would queue them again (emails), count
# them (email_events: the rollups are filled by db_analytics_backfill()
# below, as sql/021 documents) or refuse a campaign that is not a draft
# are disabled while the rows go in (the tables' owner may; it holds for
# every workspace for that time: seed a run stack nobody else writes
# to).  Foreign keys stay checked.
E=$(( N * 33 / 10 ))
enable_triggers() {
    psql_crm -q -c "ALTER TABLE campaigns ENABLE TRIGGER USER;
                    ALTER TABLE emails ENABLE TRIGGER USER;
                    ALTER TABLE email_events ENABLE TRIGGER USER"
}
psql_crm -q -c "ALTER TABLE campaigns DISABLE TRIGGER USER;
                ALTER TABLE emails DISABLE TRIGGER USER;
                ALTER TABLE email_events DISABLE TRIGGER USER"
trap 'enable_triggers || true; rm -rf "$TMP"' EXIT

fill campaigns campaigns 7 <<EOF
INSERT INTO campaigns (workspace_id, id, name, subject, body_html, body_text,
                       audience, status, started_at, completed_at,
                       materialized_at, created_at, updated_at)
SELECT :'ws',
       ('cccccccc-0008-4000-8000-' || lpad(to_hex(c), 12, '0'))::uuid,
       'Newsletter ' || c, 'News {{firstName|there}} #' || c,
       '<p>Hi {{firstName}}</p><p><a href="https://example.com/a">a</a></p>',
       'Hi {{firstName}}', '{"tags": ["newsletter"]}', 'completed',
       now() - (c * 20 + 3) * interval '1 day',
       now() - (c * 20 + 3) * interval '1 day' + interval '3 hours',
       now() - (c * 20 + 3) * interval '1 day',
       now() - (c * 20 + 4) * interval '1 day',
       now() - (c * 20 + 3) * interval '1 day'
  FROM generate_series(CAST(:lo AS bigint), :hi) AS c;
EOF

# email g: of campaign 1 + g % 10 when g % 10 < 7 (its contact
# 1 + (g / 10) % N: one per contact and campaign), else transactional
EMAIL_ROWS="
SELECT g, ('cccccccc-0007-4000-8000-' || lpad(to_hex(g), 12, '0'))::uuid
       AS id,
       CASE WHEN g % 10 < 7
            THEN ('cccccccc-0008-4000-8000-'
                  || lpad(to_hex(1 + g % 10), 12, '0'))::uuid END
       AS campaign,
       ('cccccccc-0002-4000-8000-'
        || lpad(to_hex(CASE WHEN g % 10 < 7 THEN 1 + (g / 10) % :n
                            ELSE 1 + (g * 7919) % :n END), 12, '0'))::uuid
       AS contact,
       CASE WHEN g % 10 < 7
            THEN now() - ((1 + g % 10) * 20 + 3) * interval '1 day'
                 + ((g / 10) % 3600) * interval '2 seconds'
            ELSE now() - ((g * 37) % (180 * 24)) * interval '1 hour'
                 - (g % 3600) * interval '1 second' END
       AS created,
       hashint8extended(g, 5) & 1023 AS h
  FROM generate_series(CAST(:lo AS bigint), :hi) AS g"

fill emails emails "$E" <<EOF
INSERT INTO emails (workspace_id, id, contact_id, campaign_id, to_email,
                    subject, body_text, status, message_id, attempts,
                    next_attempt_at, smtp_code, sent_at, created_at,
                    updated_at)
SELECT :'ws', e.id, e.contact, e.campaign, t.email,
       CASE WHEN e.campaign IS NOT NULL THEN 'News' ELSE 'Your receipt' END,
       'Hello',
       CASE WHEN e.h < 31 THEN 'bounced' WHEN e.h < 41 THEN 'failed'
            ELSE 'sent' END,
       '<' || e.id || '@example.com>',
       CASE WHEN e.h BETWEEN 31 AND 40 THEN 17 ELSE 1 END,
       e.created,
       CASE WHEN e.h < 31 THEN 550 WHEN e.h < 41 THEN 451 ELSE 250 END,
       CASE WHEN e.h >= 41 THEN e.created + interval '30 seconds' END,
       e.created, e.created + interval '30 seconds'
  FROM ($EMAIL_ROWS) e
  JOIN contacts t ON t.workspace_id = :'ws' AND t.id = e.contact;

INSERT INTO campaign_recipients (workspace_id, campaign_id, contact_id,
                                 email, status, email_id, queued_at,
                                 created_at, updated_at)
SELECT :'ws', e.campaign, e.contact, t.email,
       CASE WHEN e.h < 31 THEN 'bounced' WHEN e.h < 41 THEN 'failed'
            ELSE 'sent' END,
       e.id, e.created, e.created, e.created + interval '30 seconds'
  FROM ($EMAIL_ROWS) e
  JOIN contacts t ON t.workspace_id = :'ws' AND t.id = e.contact
 WHERE e.campaign IS NOT NULL;
EOF

# the events of email g, drawn from hashes of g: opens of 40% of the
# sent (1 to 3), a machine's of 20%, clicks of a quarter of the opened
# (1 or 2, of 5 links), a scanner's of 5%, unsubscribes of 0.5%
UNIT="emails' events"
fill events email_events "$E" <<EOF
WITH e AS (
    SELECT x.*, hashint8extended(x.g, 6) & 1023 AS k,
           CASE WHEN x.h >= 41 THEN
               CASE (hashint8extended(x.g, 7) & 1023) % 10
                    WHEN 6 THEN 1 WHEN 7 THEN 1 WHEN 8 THEN 2 WHEN 9 THEN 3
                    ELSE 0 END
           ELSE 0 END AS opens
      FROM ($EMAIL_ROWS) x
)
INSERT INTO email_events (workspace_id, email_id, type, occurred_at,
                          details)
SELECT :'ws'::uuid, id, 'queued', created, '{}'::jsonb FROM e
UNION ALL
SELECT :'ws'::uuid, id,
       CASE WHEN h < 31 THEN 'bounced' WHEN h < 41 THEN 'failed'
            ELSE 'sent' END,
       created + interval '30 seconds',
       CASE WHEN h < 31 THEN '{"attempt": 1, "smtpCode": 550, "kind": "hard"}'
            WHEN h < 41 THEN '{"attempt": 17, "smtpCode": 451}'
            ELSE '{"attempt": 1, "smtpCode": 250}' END::jsonb
  FROM e
UNION ALL
SELECT :'ws'::uuid, id, 'opened', created + i * interval '37 minutes',
       '{"userAgent": "Mozilla/5.0 (Macintosh) Firefox/120.0",
         "machine": false}'::jsonb
  FROM e, generate_series(1, e.opens) AS i
UNION ALL
SELECT :'ws'::uuid, id, 'opened', created + interval '40 seconds',
       '{"userAgent": "Mozilla/5.0", "machine": true,
         "machineReason": "proxy"}'::jsonb
  FROM e WHERE h >= 41 AND k % 5 = 0
UNION ALL
SELECT :'ws'::uuid, id, 'clicked', created + i * interval '41 minutes',
       jsonb_build_object('userAgent',
                          'Mozilla/5.0 (Macintosh) Firefox/120.0',
                          'machine', false,
                          'url', 'https://example.com/' || ((g + i) % 5))
  FROM e, generate_series(1, 1 + k % 2) AS i
 WHERE opens > 0 AND (k / 2) % 4 = 0
UNION ALL
SELECT :'ws'::uuid, id, 'clicked', created + interval '45 seconds',
       jsonb_build_object('userAgent', 'python-requests/2.31.0',
                          'machine', true, 'machineReason', 'scanner',
                          'url', 'https://example.com/' || (g % 5))
  FROM e WHERE h >= 41 AND k % 20 = 3
UNION ALL
SELECT :'ws'::uuid, id, 'unsubscribed', created + interval '2 hours',
       '{"userAgent": "Mozilla/5.0 (Macintosh) Firefox/120.0"}'::jsonb
  FROM e WHERE h >= 41 AND k % 200 = 7;
EOF

UNIT=rows
enable_triggers
trap 'rm -rf "$TMP"' EXIT

start=$(now_ns)
echo "seed: rollups: db_analytics_backfill() over every event (one" \
     "statement: no progress; about a minute per million events)"
n=$(psql_crm -tA -c "SELECT db_analytics_backfill('$WS')")
psql_crm -c "VACUUM (ANALYZE) analytics_hourly, analytics_campaign_hourly,
             analytics_contact_daily, analytics_campaign_links,
             analytics_firsts
             $(has_table analytics_contact_firsts \
               && echo ', analytics_contact_firsts')"
printf 'seed: %-11s %8d events %4s s  (db_analytics_backfill)\n' \
       rollups "$n" "$(secs "$start")"
fi

key=$(psql_crm -tA -v ws="$WS" <<'EOF'
BEGIN;
UPDATE api_keys SET deleted_at = now(), updated_at = now()
 WHERE workspace_id = :'ws' AND name = 'seed' AND deleted_at IS NULL;
SELECT key FROM db_api_key_create(:'ws', 'seed', '{*}', NULL, NULL);
COMMIT;
EOF
)
[ -n "$key" ] || die "db_api_key_create() returned no key"
(umask 077 && echo "$key" > "$DIR/seed.key")

echo "seed: done in $(secs "$T0") s"
echo "seed: API key of the seed workspace: $key (also in $DIR/seed.key)"
echo "seed: curl -H 'X-API-Key: $key'" \
     "'http://127.0.0.1:$HTTP_PORT/api/v1/contacts?q=smith&limit=5'"
