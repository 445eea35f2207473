#!/usr/bin/env bash
# bench/campaign.sh: what a campaign costs (issue 12), next to baselines
# measured in the same run.  See bench/README, "Campaigns".
#
#   bench/campaign.sh                           N = 100000
#   BENCH_CAMPAIGN_N=20000 bench/campaign.sh
#
# The runs (BENCH_ONLY, in this order):
#   campaign  N contacts of a tag in the bench workspace (each at one of
#             N/100 companies), one campaign with merge fields in its
#             subject, text and html and the audience {"tags": [that
#             tag]}, started through the API on a bench nginx with
#             crm_jobs on and crm_smtp to the run stack's SMTP sink: the
#             time until its recipients are made (materialized_at -
#             started_at), and messages a second from the start's answer
#             until the campaign is completed.  The sink must have kept
#             exactly N messages of it, to N different recipients.
#   pause     a second campaign to PAUSE_N other contacts (a tag of their
#             own), paused BENCH_CAMPAIGN_PAUSE_AFTER seconds after its
#             start through the API: bench/campaign_tool.py reads the
#             sink's log.jsonl every 50 ms until no message of it came
#             for BENCH_CAMPAIGN_QUIET seconds: how many came after the
#             pause's answer (in flight) and how long after it the last
#             one came (pause latency).  Then it is resumed and must
#             complete with exactly PAUSE_N messages, none twice.
#   deliver   baseline: N plain outbox emails (no campaign) of the same
#             sizes, queued in SQL, the same nginx: emails a second until
#             all are sent (bench/email.sh's deliver run).  campaign /
#             deliver is what the runner costs on top of the outbox.
#   smtplib   baseline: bench/email_tool.py smtp, Python's smtplib
#             sending N copies of one of the campaign's messages to the
#             same sink over as many connections.
#
# Environment (defaults in brackets):
#   BENCH_ONLY                 a subset of campaign pause deliver smtplib
#                              [all]; pause and smtplib need campaign
#   BENCH_CAMPAIGN_N           recipients of the campaign [100000]
#   BENCH_CAMPAIGN_PAUSE_N     recipients of the paused one [N/5, at
#                              most 20000]
#   BENCH_CAMPAIGN_PAUSE_AFTER seconds between its start and the pause [3]
#   BENCH_CAMPAIGN_QUIET       seconds without a message that end the
#                              pause's watch [5]
#   BENCH_CAMPAIGN_TIMEOUT     seconds a campaign may take [1800]
#   BENCH_PORT                 port of the bench nginx [8095]
#   BENCH_WORKERS              nginx worker_processes [2]
#   BENCH_POOL                 crm_postgres_pool_size per worker [8]
#   BENCH_SMTP_CONNECTIONS     crm_smtp connections= and the baseline's [8]
#   BENCH_SMTP_BATCH           crm_smtp batch= [50]
#   BENCH_KEEP_PG              1: leave what this script started up [0]
#   BENCH_SKIP_MAKE            1: do not run make [0]
#   CRM_PG_PORT, CRM_SMTP_PORT the run stack's ports when .run/run/ports
#                              does not say [54320, 2525]
#
# It uses the run stack's PostgreSQL and SMTP sink (started when down,
# stopped again at the end), its own workspace
# (ca000000-ca00-4ca0-8ca0-ca0000000000, every row of it deleted at the
# start and the end) and its own nginx from .run/bench-campaign/
# (configuration, logs, raw outputs; git-ignored).  The run stack's
# nginx, when up, runs the jobs too: it is stopped for the runs and
# started again at the end.  The .eml files of the bench's messages are
# deleted from the sink's directory afterwards (log.jsonl keeps them).
#
# Exit status: 0 when every campaign completed and the sink got exactly
# its messages; 1 otherwise (after all runs); 2 on a setup failure.

set -euo pipefail

TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
ME=bench/campaign.sh
TAG=bench
# shellcheck source=bench/lib.sh
. "$TOP/bench/lib.sh"

ONLY=${BENCH_ONLY:-campaign pause deliver smtplib}
N=${BENCH_CAMPAIGN_N:-100000}
PAUSE_N=${BENCH_CAMPAIGN_PAUSE_N:-}
PAUSE_AFTER=${BENCH_CAMPAIGN_PAUSE_AFTER:-3}
QUIET=${BENCH_CAMPAIGN_QUIET:-5}
TIMEOUT=${BENCH_CAMPAIGN_TIMEOUT:-1800}
PORT=${BENCH_PORT:-8095}
WORKERS=${BENCH_WORKERS:-2}
POOL=${BENCH_POOL:-8}
SMTP_CONNS=${BENCH_SMTP_CONNECTIONS:-8}
SMTP_BATCH=${BENCH_SMTP_BATCH:-50}
if [ -z "$PAUSE_N" ]; then
    PAUSE_N=$((N / 5))
    [ "$PAUSE_N" -le 20000 ] || PAUSE_N=20000
    [ "$PAUSE_N" -ge 1 ] || PAUSE_N=1
fi

B=$TOP/.run/bench-campaign
BASE=http://127.0.0.1:$PORT
WS=ca000000-ca00-4ca0-8ca0-ca0000000000
APP=crm_bench_campaign
PY=/usr/bin/python3
TOOL=$TOP/bench/email_tool.py
CTOOL=$TOP/bench/campaign_tool.py

numbers N PAUSE_N PAUSE_AFTER QUIET TIMEOUT PORT WORKERS POOL SMTP_CONNS \
        SMTP_BATCH
[ "$N" -ge 1 ] || die "BENCH_CAMPAIGN_N must be at least 1"
for name in $ONLY; do
    case $name in
        campaign|pause|deliver|smtplib) ;;
        *) die "BENCH_ONLY: unknown run '$name' (campaign pause deliver" \
               "smtplib)" ;;
    esac
done


# ------------------------------------------------------------ prerequisites

for tool in curl "$NGINX_BIN" "$PG_BIN/psql" "$PG_BIN/pg_isready" "$PY"; do
    command -v "$tool" > /dev/null || die "missing $tool (run util/deps.sh)"
done

build "${BENCH_SKIP_MAKE:-0}"
rm -f "$B"/cpu-* "$B"/*.txt "$B"/*.json "$B"/*.time "$B"/*.eml


# ---------------------------------------------------------- the run stack

PG_PORT=$(run_port PG_PORT "${CRM_PG_PORT:-54320}")
SMTP_PORT=$(run_port SMTP_PORT "${CRM_SMTP_PORT:-2525}")
if [ -z "$PG_PORT" ] || [ -z "$SMTP_PORT" ]; then
    die "no PG_PORT or SMTP_PORT in .run/run/ports"
fi
PG_DSN="host=127.0.0.1 port=$PG_PORT dbname=crm user=crm"

PG_STARTED=        # what this script started: "", "pg" or "stack"
SINK_STARTED=      # 1: the sink was started here
RUN_NGINX=         # 1: the run stack's nginx was stopped here
NGINX_PID=
SAMPLER=           # the pid of the progress sampler, while it runs
MAIL_DIR=
SINK_START_LINE=   # log.jsonl's lines before this script's messages

RUN_NGINX_PIDFILE=$TOP/.run/run/nginx/logs/nginx.pid
SINK_PIDFILE=$TOP/.run/run/smtp/sink.pid

# live_pid FILE WORD: the pid in FILE, when it runs with WORD in its
# command line
live_pid() {
    local pid
    pid=$(tr -dc '0-9' < "$1" 2>/dev/null) || return 1
    [ -n "$pid" ] || return 1
    tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$2" \
        || return 1
    echo "$pid"
}

# wipe_rows: every row of the bench workspace, from every table with a
# workspace_id column, those referencing others first (as util/seed.sh);
# the workspace row is kept
wipe_rows() {
    psql_crm -1 -v ws="$WS" <<'EOF'
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
 WHERE rel::regclass::text <> 'workspaces'
 GROUP BY rel
 ORDER BY max(d) DESC, rel::regclass::text
\gexec
EOF
}

cleanup() {
    local status=$?
    trap - EXIT INT TERM
    [ -z "$SAMPLER" ] || kill "$SAMPLER" 2>/dev/null || true
    nginx_stop
    if [ -n "$MAIL_DIR" ] && [ -n "$SINK_START_LINE" ]; then
        n=$("$PY" "$TOOL" sink-clean "$MAIL_DIR" "$SINK_START_LINE" \
            2>/dev/null || echo '?')
        echo "bench: deleted $n .eml files of this run from $MAIL_DIR"
    fi
    if pg_ready 2>/dev/null; then
        wipe_rows > /dev/null 2>&1 \
            && echo "bench: deleted the rows of workspace $WS" \
            || echo "bench: could not delete the rows of workspace $WS" >&2
    fi
    if [ "${BENCH_KEEP_PG:-0}" = 1 ] \
       && { [ -n "$PG_STARTED" ] || [ -n "$SINK_STARTED" ]; }; then
        echo "bench: what this script started of the run stack is left" \
             "up (BENCH_KEEP_PG=1): make stop"
    elif [ "$PG_STARTED" = stack ]; then
        "$TOP/util/stack.sh" run down \
            && echo "bench: stopped the run stack again (it had not been up)"
    else
        if [ -n "$SINK_STARTED" ]; then
            "$TOP/util/stack.sh" run sink-stop \
                && echo "bench: stopped the SMTP sink again"
        fi
        if [ "$PG_STARTED" = pg ]; then
            "$TOP/util/stack.sh" run pg-stop \
                && echo "bench: stopped PostgreSQL of the run stack again"
        fi
    fi
    if [ -n "$RUN_NGINX" ] && [ "$PG_STARTED" != stack ]; then
        if "$TOP/util/stack.sh" run nginx; then
            echo "bench: started the run stack's nginx again"
        else
            echo "bench: could not start the run stack's nginx again:" \
                 "util/stack.sh run nginx" >&2
        fi
    fi
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

mkdir -p "$B"
pg_up
"$TOP/util/migrate.sh" run || die "util/migrate.sh run failed"

if [ -r "$TOP/.run/run/ports" ] && ! port_busy "$SMTP_PORT"; then
    echo "bench: starting the run stack's SMTP sink (util/stack.sh run" \
         "sink-start)"
    SINK_STARTED=1
    "$TOP/util/stack.sh" run sink-start || die "cannot start the SMTP sink"
fi
sink_pid=$(live_pid "$SINK_PIDFILE" smtp_sink.py) \
    || die "no SMTP sink of the run stack ($SINK_PIDFILE) on" \
           "127.0.0.1:$SMTP_PORT"
tr '\0' ' ' < "/proc/$sink_pid/cmdline" | grep -qF -- "--port $SMTP_PORT " \
    || die "the run stack's SMTP sink does not listen on $SMTP_PORT"
MAIL_DIR=$(tr '\0' '\n' < "/proc/$sink_pid/cmdline" \
           | sed -n '/^--dir$/{n;p;}')
[ -d "$MAIL_DIR" ] || die "cannot find the sink's directory"
SINK_START_LINE=$("$PY" "$TOOL" sink-count "$MAIL_DIR")
echo "bench: SMTP sink pid $sink_pid on 127.0.0.1:$SMTP_PORT ($MAIL_DIR)"

if run_pid=$(live_pid "$RUN_NGINX_PIDFILE" "$TOP/.run/run/nginx/"); then
    echo "bench: stopping the run stack's nginx (pid $run_pid) for the" \
         "runs: its jobs would claim the bench's recipients and emails;" \
         "started again at the end"
    RUN_NGINX=1
    stop_pid "$run_pid"
    kill -0 "$run_pid" 2>/dev/null \
        && die "the run stack's nginx $run_pid did not stop"
fi

n=$(psql_crm -tA -c "SELECT count(*) FROM pg_stat_activity
                      WHERE datname = current_database()
                        AND query = 'LISTEN crm_jobs'
                        AND application_name <> '$APP'")
if [ "$n" != 0 ]; then
    die "$n job sessions of another nginx use this database" \
        "(pg_stat_activity: LISTEN crm_jobs): they would run the bench's" \
        "campaigns; stop that nginx first"
fi

psql_crm <<EOF || die "cannot set up the bench workspace"
INSERT INTO workspaces (id, name) VALUES ('$WS', 'Bench campaign')
    ON CONFLICT (id) DO NOTHING;
EOF
wipe_rows > /dev/null || die "cannot empty the bench workspace"


# ------------------------------------------------------------------- nginx

KEY=$(bench_key "$B/bench.key" crm_bench)

cat > "$B/conf/nginx.conf.new" <<EOF
$(nginx_main 1024)

http {
    default_type  application/json;
    access_log    off;
    server_tokens off;

$(nginx_temp_paths)

    crm_postgres "$PG_DSN application_name=$APP";
    crm_postgres_pool_size $POOL;
    crm_cursor_secret bench-cursor-secret-not-for-production-0123456789;
    crm_api_key $KEY $WS;

    crm_smtp smtp://127.0.0.1:$SMTP_PORT from=bench@bench.example
             from_name=Bench connections=$SMTP_CONNS batch=$SMTP_BATCH;
    crm_outbound_allow 127.0.0.1;
    crm_jobs on;

    server {
        listen 127.0.0.1:$PORT;
        server_name localhost;

        location /api/v1/ {
            crm_api;
        }
    }
}
EOF
chmod 600 "$B/conf/nginx.conf.new"
mv -f "$B/conf/nginx.conf.new" "$B/conf/nginx.conf"

# stop_bench NAME: the bench nginx stopped; its error log kept as
# error-NAME.log, and checked: [error] or worse fails the run
stop_bench() {
    nginx_stop > /dev/null
    NGINX_PID=
    [ -s "$B/logs/error.log" ] || return 0
    cp "$B/logs/error.log" "$B/logs/error-$1.log"
    if grep -qE '\[(emerg|alert|crit|error)\]' "$B/logs/error.log"; then
        loud "errors in the error log of the $1 nginx, $B/logs/error-$1.log" \
             "($(grep -cE '\[(emerg|alert|crit|error)\]' "$B/logs/error.log")" \
             "lines):" \
             "$(grep -E '\[(emerg|alert|crit|error)\]' "$B/logs/error.log" \
                | tail -5)"
        FAILED+=("errors in $B/logs/error-$1.log")
    fi
    : > "$B/logs/error.log"
}

# api METHOD PATH [BODY]: the answer's body on stdout, its status in
# $B/api.status; anything but 2xx is fatal
api() {
    local code
    code=$(curl -s -o "$B/api.body" -w '%{http_code}' -X "$1" \
           -H "X-API-Key: $KEY" -H 'Content-Type: application/json' \
           ${3:+--data-binary "$3"} "$BASE/api/v1$2") || code=000
    case $code in
        2??) cat "$B/api.body" ;;
        *) head -c 800 "$B/api.body" >&2; echo >&2
           tail -5 "$B/logs/error.log" >&2
           die "$1 $2: HTTP $code" ;;
    esac
}

# json FIELD: a field of the JSON on stdin ("data.id")
json() {
    "$PY" -c 'import json, sys
v = json.load(sys.stdin)
for k in sys.argv[1].split("."):
    v = v[k]
print(v)' "$1"
}


# -------------------------------------------------------------- accounting

HZ=$(getconf CLK_TCK)
NCPU=$(nproc)
declare -A RATE
FAILED=()
NOISY=()
RESULTS=()

cpu_start() {
    { [ -n "$NGINX_PID" ] && nginx_pids; } | ticks > "$B/cpu-nginx.0" || true
    pg_pids | ticks > "$B/cpu-pg.0"
    echo "$sink_pid" | ticks > "$B/cpu-sink.0"
    CPU_M0=$(machine_ticks)
}

# cpu_end NAME UNITS UNIT: where the CPU went since cpu_start, in cores,
# and per UNIT
cpu_end() {
    local name=$1 units=$2 unit=$3 n p s m1 other
    { [ -n "$NGINX_PID" ] && nginx_pids; } | ticks > "$B/cpu-nginx.1" || true
    pg_pids | ticks > "$B/cpu-pg.1"
    echo "$sink_pid" | ticks > "$B/cpu-sink.1"
    m1=$(machine_ticks)
    n=$(ticks_delta "$B/cpu-nginx.0" "$B/cpu-nginx.1")
    p=$(ticks_delta "$B/cpu-pg.0" "$B/cpu-pg.1")
    s=$(ticks_delta "$B/cpu-sink.0" "$B/cpu-sink.1")
    awk -v n="$n" -v p="$p" -v s="$s" -v hz="$HZ" -v m0="$CPU_M0" \
        -v m1="$m1" -v units="${units:-0}" -v unit="$unit" -v ncpu="$NCPU" '
        BEGIN {
            split(m0, a, " "); split(m1, b, " ")
            for (i = 1; i <= 5; i++) d[i] = (b[i] - a[i]) / hz
            wall = d[5] / ncpu
            if (wall <= 0) wall = 1
            ng = n / hz; pg = p / hz; sk = s / hz
            other = d[1] - ng - pg - sk; if (other < 0) other = 0
            printf "         cpu (cores): nginx %.2f  postgres %.2f  sink" \
                   " %.2f  irq %.2f  other %.2f  idle %.2f  of %d" \
                   " (%.1f s)\n", ng / wall, pg / wall, sk / wall,
                   d[2] / wall, other / wall, d[4] / wall, ncpu, wall
            if (units > 0)
                printf "         cpu per %s: nginx %.0f us  postgres %.0f" \
                       " us  sink %.0f us\n", unit, ng * 1e6 / units,
                       pg * 1e6 / units, sk * 1e6 / units
            printf "%.2f\n", other / wall > "/dev/stderr"
        }' 2> "$B/cpu-other"
    other=$(cat "$B/cpu-other")
    if awk -v o="$other" 'BEGIN { exit !(o > 0.2) }'; then
        echo "         WARNING: other processes used $other cores during" \
             "this run: the machine was not quiet, the figures are too low"
        NOISY+=("$name: other processes used $other cores")
    fi
}

ratio() {
    awk -v a="${1:-0}" -v b="${2:-0}" 'BEGIN {
        if (b + 0 > 0) printf "%.3f", a / b; else printf "?" }'
}

now() { date +%s.%N; }

sub() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a - b }'; }

# wait_final ID: waits until campaign ID is completed or cancelled (one
# session polling every 100 ms, at most TIMEOUT s); prints its status
wait_final() {
    psql_crm -tA <<EOF
DO \$\$
DECLARE
    t0  timestamptz := clock_timestamp();
BEGIN
    LOOP
        EXIT WHEN EXISTS (SELECT 1 FROM campaigns
                           WHERE workspace_id = '$WS' AND id = '$1'
                             AND status IN ('completed', 'cancelled'))
               OR clock_timestamp() - t0 > interval '$TIMEOUT s';
        PERFORM pg_sleep(0.1);
    END LOOP;
END
\$\$;
SELECT status FROM campaigns WHERE workspace_id = '$WS' AND id = '$1';
EOF
}

# counters ID: the recipients of campaign ID by state, one line
counters() {
    psql_crm -tA -F '=' -c "SELECT status, count(*) FROM campaign_recipients
                             WHERE workspace_id = '$WS'
                               AND campaign_id = '$1'
                             GROUP BY status ORDER BY status" | tr '\n' ' '
}

# sink_check WHAT PREFIX EXPECT: the sink must hold EXPECT messages of
# PREFIX since the start, to EXPECT different recipients
sink_check() {
    local lines distinct
    read -r lines distinct _ _ <<< \
        "$("$PY" "$CTOOL" sink "$MAIL_DIR" "$SINK_START_LINE" "$2")"
    echo "         sink: $lines messages of $1, to $distinct recipients" \
         "(expected $3)"
    if [ "$lines" != "$3" ] || [ "$distinct" != "$3" ]; then
        loud "$1: THE SINK KEPT $lines MESSAGES TO $distinct RECIPIENTS," \
             "NOT $3"
        FAILED+=("$1: the sink kept $lines messages to $distinct recipients" \
                 "of $3")
    fi
}

# the campaign's templates; the plain emails of the deliver run are made
# of the same text with the merge fields' values put in by SQL
SUBJECT='{{firstName|Friend}}, your bench campaign'
TEXT='Hello {{firstName|there}} {{lastName}},

this is a load test of the campaign runner for {{company.name|your team}}.
Read more: https://example.org/bench/campaign

-- 
bench/campaign.sh
'
HTML='<html><body><p>Hello {{firstName|there}} {{lastName}},</p><p>this is a load test of the campaign runner for {{company.name|your team}}.</p><p><a href="https://example.org/bench/campaign">Read more</a></p></body></html>'

# campaign_body NAME TAG: the JSON of a campaign to the contacts of TAG
campaign_body() {
    "$PY" -c 'import json, sys
print(json.dumps({"name": sys.argv[1], "subject": sys.argv[3],
                  "text": sys.argv[4], "html": sys.argv[5],
                  "audience": {"tags": [sys.argv[2]]}}))' \
        "$1" "$2" "$SUBJECT" "$TEXT" "$HTML"
}

RUN_ID=$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')
MAIN_PREFIX="m$RUN_ID-"
PAUSE_PREFIX="p$RUN_ID-"

echo
echo "bench: $(date -u '+%Y-%m-%d %H:%M UTC'), $NCPU cores (nginx," \
     "PostgreSQL and the sink share them), nginx $WORKERS workers, pool" \
     "$POOL per worker, crm_smtp connections=$SMTP_CONNS" \
     "batch=$SMTP_BATCH; N=$N, pause N=$PAUSE_N; runs: $ONLY"


# -------------------------------------------------------------------- seed

echo
echo "== seed: $N contacts tagged bench-main, $PAUSE_N tagged bench-pause," \
     "$((N / 100 + 1)) companies =="
t0=$(now)
psql_crm <<EOF || die "cannot seed the bench workspace"
INSERT INTO companies (workspace_id, id, name)
SELECT '$WS', ('ca000000-0000-4000-8000-' || lpad(g::text, 12, '0'))::uuid,
       'Company ' || g
  FROM generate_series(0, $N / 100) AS g;
INSERT INTO contacts (workspace_id, first_name, last_name, email, company_id,
                      tags)
SELECT '$WS', 'First' || g, 'Last' || g, '$MAIN_PREFIX' || g || '@bench.example',
       ('ca000000-0000-4000-8000-' || lpad((g % ($N / 100 + 1))::text, 12,
                                           '0'))::uuid,
       '{bench-main}'
  FROM generate_series(1, $N) AS g;
INSERT INTO contacts (workspace_id, first_name, last_name, email, tags)
SELECT '$WS', 'Paused' || g, 'Last' || g, '$PAUSE_PREFIX' || g || '@bench.example',
       '{bench-pause}'
  FROM generate_series(1, $PAUSE_N) AS g;
VACUUM ANALYZE contacts;
VACUUM ANALYZE companies;
EOF
echo "bench: seeded in $(sub "$(now)" "$t0") s"

nginx_start
echo "bench: nginx (pid $NGINX_PID, crm_jobs on) on $BASE"


# ---------------------------------------------------------------- campaign

MAIN_ID=
if want campaign; then
    echo
    echo "== campaign: $N recipients (audience {\"tags\": [\"bench-main\"]})" \
         "through the sink =="
    MAIN_ID=$(api POST /campaigns "$(campaign_body 'Bench main' bench-main)" \
              | json data.id)
    cpu_start
    t0=$(now)
    api POST "/campaigns/$MAIN_ID/start" '{}' > "$B/main-start.json"
    t1=$(now)
    # the recipients by state every second, for where the time went
    ( while :; do
          echo "$(date +%s) $(counters "$MAIN_ID")"
          sleep 1
      done > "$B/main-progress.txt" 2>/dev/null ) &
    SAMPLER=$!
    st=$(wait_final "$MAIN_ID")
    t2=$(now)
    kill "$SAMPLER" 2>/dev/null || true
    wait "$SAMPLER" 2>/dev/null || true
    SAMPLER=
    cpu_end campaign "$N" message > "$B/main-cpu.txt"
    sleep 0.5
    read -r mat queued done_s first last <<< "$(psql_crm -tA -F ' ' -c "
        SELECT round(extract(epoch FROM materialized_at - started_at), 3),
               (SELECT round(extract(epoch FROM max(created_at)
                                 - k.started_at), 3)
                  FROM emails WHERE workspace_id = '$WS'
                   AND campaign_id = k.id),
               round(extract(epoch FROM completed_at - started_at), 3),
               (SELECT round(extract(epoch FROM min(sent_at)
                                 - k.started_at), 3)
                  FROM emails WHERE workspace_id = '$WS'
                   AND campaign_id = k.id),
               (SELECT round(extract(epoch FROM max(sent_at)
                                 - k.started_at), 3)
                  FROM emails WHERE workspace_id = '$WS'
                   AND campaign_id = k.id)
          FROM campaigns AS k WHERE workspace_id = '$WS'
           AND id = '$MAIN_ID'")"
    wall=$(sub "$t2" "$t1")
    RATE[campaign]=$(awk -v n="$N" -v w="$wall" \
                     'BEGIN { printf "%.1f", (w > 0 ? n / w : 0) }')
    line=$(printf '%-9s %9s msgs/s   %s recipients %s in %s s from the start'"'"'s answer' \
           campaign "${RATE[campaign]}" "$N" "$st" "$wall")
    echo "$line"
    RESULTS+=("$line")
    echo "         start answered in $(sub "$t1" "$t0") s; after started_at:" \
         "recipients made at ${mat:-?} s, the last email queued at" \
         "${queued:-?} s, first sent at ${first:-?} s, last at" \
         "${last:-?} s, completed_at ${done_s:-?} s"
    RESULTS+=("  after started_at: $N recipients made ${mat:-?} s, last queued ${queued:-?} s, first sent ${first:-?} s, last ${last:-?} s, completed ${done_s:-?} s")
    cat "$B/main-cpu.txt"
    awk '{ r = 0; q = 0
           for (i = 2; i <= NF; i++) {
               split($i, kv, "=")
               if (kv[1] == "rendering") r = kv[2]
               if (kv[1] == "queued") q = kv[2] }
           if (r > mr) mr = r; if (q > mq) mq = q; sr += r; sq += q; n++ }
         END { if (n) printf "         sampled every second (%d): rendering" \
                   " max %d mean %.0f, queued in the outbox max %d mean" \
                   " %.0f\n", n, mr, sr / n, mq, sq / n }' \
        "$B/main-progress.txt"
    echo "         recipients: $(counters "$MAIN_ID")"
    timeouts=$(grep -c 'claiming recipients failed' "$B/logs/error.log" \
               || true)
    echo "         the runner's claims that failed (error log): $timeouts"
    RESULTS+=("  the runner's claims that failed during it: $timeouts")
    if [ "$st" != completed ]; then
        loud "campaign: $st, not completed, after $wall s:" \
             "$(counters "$MAIN_ID")"
        FAILED+=("campaign: $st")
    fi
    sink_check campaign "$MAIN_PREFIX" "$N"
fi


# ------------------------------------------------------------------- pause

if want pause; then
    echo
    echo "== pause: $PAUSE_N recipients, paused $PAUSE_AFTER s after the" \
         "start, then resumed =="
    PAUSE_ID=$(api POST /campaigns \
               "$(campaign_body 'Bench pause' bench-pause)" | json data.id)
    api POST "/campaigns/$PAUSE_ID/start" '{}' > /dev/null
    sleep "$PAUSE_AFTER"
    # paused while messages of it are arriving (the runner may be
    # between batches)
    t0=$(now)
    "$PY" "$CTOOL" flowing "$MAIL_DIR" "$SINK_START_LINE" "$PAUSE_PREFIX" \
        60 || { loud "pause: no message of the campaign came in 60 s"
                FAILED+=("pause: nothing sent"); }
    echo "         waited $(sub "$(now)" "$t0") s more for a message of it"
    api POST "/campaigns/$PAUSE_ID/pause" '{}' > "$B/pause.json"
    tp=$(now)
    # what was going on when the pause was answered
    at_pause=$(psql_crm -tA -F '=' -c "SELECT status, count(*) FROM emails
                  WHERE workspace_id = '$WS' AND campaign_id = '$PAUSE_ID'
                  GROUP BY status ORDER BY status" | tr '\n' ' ')
    read -r before after lat seen <<< \
        "$("$PY" "$CTOOL" watch "$MAIL_DIR" "$SINK_START_LINE" \
              "$PAUSE_PREFIX" "$tp" "$QUIET" 120)"
    echo "         at the pause: $before messages in the sink; its emails:" \
         "$at_pause"
    line=$(printf '%-9s %9s s        the last message after the pause'"'"'s answer; %s in flight' \
           pause "$lat" "$after")
    echo "$line"
    RESULTS+=("$line (seen by the 50 ms poll at $seen s)")
    echo "         seen by the 50 ms poll at $seen s; then $QUIET s" \
         "without a message"
    psql_crm -tA -c "SELECT status FROM campaigns WHERE workspace_id = '$WS'
                       AND id = '$PAUSE_ID'" | grep -qx paused \
        || { loud "pause: the campaign is not paused"; FAILED+=("pause"); }
    if [ "$((before + after))" -ge "$PAUSE_N" ]; then
        loud "pause: every message was sent before the watch ended:" \
             "the pause came too late (BENCH_CAMPAIGN_PAUSE_AFTER," \
             "BENCH_CAMPAIGN_PAUSE_N)"
        FAILED+=("pause: came too late")
    fi
    api POST "/campaigns/$PAUSE_ID/resume" '{}' > /dev/null
    tr=$(now)
    st=$(wait_final "$PAUSE_ID")
    echo "         resumed: $st $(sub "$(now)" "$tr") s later;" \
         "recipients: $(counters "$PAUSE_ID")"
    if [ "$st" != completed ]; then
        loud "pause: $st after the resume, not completed"
        FAILED+=("pause: $st after the resume")
    fi
    sleep 0.5
    sink_check "the paused campaign" "$PAUSE_PREFIX" "$PAUSE_N"
fi
stop_bench campaign


# ----------------------------------------------------------------- deliver

if want deliver; then
    echo
    echo "== deliver: $N plain outbox emails of the same sizes (no" \
         "campaign), the same nginx =="
    # the campaign's message with the merge fields put in
    psql_crm -v subject="$SUBJECT" -v text="$TEXT" -v html="$HTML" <<EOF \
        || die "cannot queue the emails"
INSERT INTO emails (workspace_id, to_email, subject, body_text, body_html)
SELECT '$WS', 'd$RUN_ID-' || g || '@bench.example',
       replace(:'subject', '{{firstName|Friend}}', 'First' || g),
       replace(replace(replace(:'text', '{{firstName|there}}', 'First' || g),
                       '{{lastName}}', 'Last' || g),
               '{{company.name|your team}}', 'Company ' || (g % 100)),
       replace(replace(replace(:'html', '{{firstName|there}}', 'First' || g),
                       '{{lastName}}', 'Last' || g),
               '{{company.name|your team}}', 'Company ' || (g % 100))
  FROM generate_series(1, $N) AS g;
EOF
    cpu_start
    t1=$(now)
    nginx_start
    psql_crm <<EOF || die "the poll failed"
DO \$\$
DECLARE
    t0  timestamptz := clock_timestamp();
BEGIN
    LOOP
        EXIT WHEN NOT EXISTS (SELECT 1 FROM emails
                               WHERE workspace_id = '$WS'
                                 AND campaign_id IS NULL
                                 AND status IN ('queued', 'sending'))
               OR clock_timestamp() - t0 > interval '$TIMEOUT s';
        PERFORM pg_sleep(0.1);
    END LOOP;
END
\$\$;
EOF
    t2=$(now)
    cpu_end deliver "$N" email > "$B/deliver-cpu.txt"
    sleep 0.5
    sent=$(psql_crm -tA -c "SELECT count(*) FROM emails
                             WHERE workspace_id = '$WS'
                               AND campaign_id IS NULL AND status = 'sent'")
    wall=$(sub "$t2" "$t1")
    RATE[deliver]=$(awk -v n="$sent" -v w="$wall" \
                    'BEGIN { printf "%.1f", (w > 0 ? n / w : 0) }')
    line=$(printf '%-9s %9s emails/s %s sent in %s s from the nginx start' \
           deliver "${RATE[deliver]}" "$sent" "$wall")
    echo "$line"
    RESULTS+=("$line")
    cat "$B/deliver-cpu.txt"
    if [ "$sent" != "$N" ]; then
        loud "deliver: $sent of $N emails sent"
        FAILED+=("deliver: $sent of $N sent")
    fi
    sink_check deliver "d$RUN_ID-" "$N"
    stop_bench deliver
fi


# ----------------------------------------------------------------- smtplib

if want smtplib && [ -n "$MAIN_ID" ]; then
    echo
    echo "== smtplib: $N copies of a message of the campaign, $SMTP_CONNS" \
         "connections =="
    sample=$("$PY" "$CTOOL" sample "$MAIL_DIR" "$SINK_START_LINE" \
             "$MAIN_PREFIX")
    if [ -z "$sample" ] || [ ! -r "$MAIL_DIR/$sample" ]; then
        loud "smtplib: no message of the campaign in the sink"
        FAILED+=("smtplib: no sample")
    else
        cp "$MAIL_DIR/$sample" "$B/sample.eml"
        s2=$("$PY" "$TOOL" sink-count "$MAIL_DIR")
        cpu_start
        "$PY" "$TOOL" smtp "$SMTP_PORT" "$SMTP_CONNS" "$N" "$B/sample.eml" \
            > "$B/smtplib.txt" || true
        cpu_end smtplib "$N" message > "$B/smtplib-cpu.txt"
        sleep 0.5
        s3=$("$PY" "$TOOL" sink-count "$MAIL_DIR")
        read -r _ ok _ bad _ secs _ rate _ msize < "$B/smtplib.txt" \
            || { ok=0; bad='?'; secs='?'; rate=0; msize='?'; }
        RATE[smtplib]=$rate
        line=$(printf '%-9s %9s msgs/s   %s sent in %s s (%s B each)' \
               smtplib "$rate" "$ok" "$secs" "$msize")
        echo "$line"
        RESULTS+=("$line")
        grep -v 'per message: nginx' "$B/smtplib-cpu.txt" \
            | sed 's/nginx 0.00  //'
        echo "         sink: $((s3 - s2)) messages kept, $ok sent, $bad" \
             "refused"
        if [ "$ok" != "$N" ] || [ $((s3 - s2)) != "$N" ]; then
            loud "smtplib: $ok of $N sent, the sink kept $((s3 - s2))"
            FAILED+=("smtplib: $ok sent, sink kept $((s3 - s2)) of $N")
        fi
    fi
fi


# ------------------------------------------------------------------ summary

echo
echo "summary (N=$N, pause N=$PAUSE_N, crm_smtp connections=$SMTP_CONNS" \
     "batch=$SMTP_BATCH):"
printf '  %s\n' "${RESULTS[@]}"
if [ -n "${RATE[campaign]:-}" ]; then
    [ -z "${RATE[deliver]:-}" ] \
        || echo "  campaign / deliver = $(ratio "${RATE[campaign]}" \
                                                "${RATE[deliver]}")"
    [ -z "${RATE[smtplib]:-}" ] \
        || echo "  campaign / smtplib = $(ratio "${RATE[campaign]}" \
                                                "${RATE[smtplib]}")"
fi
if [ ${#NOISY[@]} -gt 0 ]; then
    echo
    echo "bench: WARNING: the machine was busy with other work during" \
         "some runs: ${NOISY[*]}"
fi
if [ ${#FAILED[@]} -gt 0 ]; then
    loud "NOT A CLEAN RUN:" "${FAILED[@]}"
    exit 1
fi
echo "bench: every campaign completed, the sink got exactly their" \
     "messages; raw outputs in $B/"
