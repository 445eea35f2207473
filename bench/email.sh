#!/usr/bin/env bash
# bench/email.sh: what email costs (issue 11), each figure next to a
# baseline measured in the same run.  See bench/README, "Email".
#
#   bench/email.sh                        send, track, deliver
#   BENCH_ONLY=deliver BENCH_EMAILS=5000 bench/email.sh
#
# The runs:
#   send     wrk POST /api/v1/emails/send (bench/email.lua: a new
#            recipient every request, all 202) through a bench nginx with
#            crm_jobs off: the API path alone (validation, the INSERT, its
#            trigger, the queued event, the NOTIFY).  Baselines: nginx
#            "return 200" of a body as large as the 202's, and pgbench
#            running the INSERT the module runs (trigger included), -c8
#            -j2, for as long.
#   track    wrk GET of a valid open pixel and of a valid click URL of an
#            email of the bench workspace (tokens made by
#            bench/email_tool.py); each hit is recorded after the answer
#            (queued per worker, up to 500 a statement, 2 statements in
#            flight, crm_tracking_queue hits held; beyond that dropped):
#            the rows recorded and the drops are counted.
#            Baselines: nginx's empty_gif (the same 43-byte GIF) and a
#            "return 302", both with the same headers as the module's.
#   deliver  BENCH_EMAILS emails queued in SQL, then a bench nginx with
#            crm_jobs on, crm_smtp to the run stack's SMTP sink with
#            connections=8 batch=50 and no rate: the time until all are
#            sent.  Baseline: bench/email_tool.py smtp, Python's smtplib
#            sending the same number of messages of the same bytes to
#            the same sink over 8 connections.  The sink's count must
#            grow by exactly BENCH_EMAILS each time.
#
# Environment (defaults in brackets):
#   BENCH_ONLY         runs, a subset of: send track deliver [all three]
#   BENCH_PORT         port of the bench nginx on 127.0.0.1 [8094]
#   BENCH_DURATION     wrk -d and pgbench -T of each measured run [10s]
#   BENCH_CONNECTIONS  wrk -c [64]
#   BENCH_THREADS      wrk -t [2]
#   BENCH_TIMEOUT      wrk --timeout [2s]
#   BENCH_WARMUP       unmeasured run before each wrk and pgbench run
#                      [2s]; 0: none
#   BENCH_WORKERS      nginx worker_processes [2]
#   BENCH_POOL         crm_postgres_pool_size per worker [8]
#   BENCH_PGBENCH      pgbench -c (clients) of the send baseline [8]
#   BENCH_EMAILS       emails of the deliver run [2000]
#   BENCH_SMTP_CONNECTIONS  crm_smtp connections= and the baseline's
#                      connections [8]
#   BENCH_SMTP_BATCH   crm_smtp batch= [50]
#   BENCH_DELIVER_TIMEOUT   seconds the deliver run may take [300]
#   BENCH_KEEP_PG      1: leave what this script started of the run
#                      stack up [0]
#   BENCH_SKIP_MAKE    1: do not run make [0]
#   CRM_PG_PORT, CRM_SMTP_PORT  the run stack's ports when .run/run/ports
#                      does not say [54320, 2525]
#
# It uses the run stack's PostgreSQL and SMTP sink (started when down,
# stopped again at the end), its own workspace
# (eeeeeeee-eeee-4eee-8eee-eeeeeeeeeeee, emptied of emails at the start
# and the end) and its own nginx from .run/bench-email/ (configuration,
# logs, raw outputs; git-ignored).  The run stack's nginx, when up, also
# runs the delivery job, which would claim the bench's emails: it is
# stopped for the runs and started again at the end.  The .eml files of
# the bench's messages are deleted from the sink's directory afterwards
# (its log.jsonl keeps their lines).
#
# Exit status: 0 when every request got the expected status, every
# email was sent, and the sink got exactly the messages sent; 1
# otherwise (after all runs); 2 on a setup failure.

set -euo pipefail

TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
ME=bench/email.sh
TAG=bench
# shellcheck source=bench/lib.sh
. "$TOP/bench/lib.sh"

ONLY=${BENCH_ONLY:-send track deliver}
PORT=${BENCH_PORT:-8094}
DURATION=${BENCH_DURATION:-10s}
CONNS=${BENCH_CONNECTIONS:-64}
THREADS=${BENCH_THREADS:-2}
TIMEOUT=${BENCH_TIMEOUT:-2s}
WARMUP=${BENCH_WARMUP:-2s}
WORKERS=${BENCH_WORKERS:-2}
POOL=${BENCH_POOL:-8}
PGCLIENTS=${BENCH_PGBENCH:-8}
EMAILS=${BENCH_EMAILS:-2000}
SMTP_CONNS=${BENCH_SMTP_CONNECTIONS:-8}
SMTP_BATCH=${BENCH_SMTP_BATCH:-50}
DELIVER_TIMEOUT=${BENCH_DELIVER_TIMEOUT:-300}

B=$TOP/.run/bench-email
BASE=http://127.0.0.1:$PORT
WS=eeeeeeee-eeee-4eee-8eee-eeeeeeeeeeee
# the email the tracking run hits
TRACKED=eeeeeeee-0000-4000-8000-000000000001
SECRET=bench-tracking-secret-0123456789abcdef
APP=crm_bench_email
PY=/usr/bin/python3
TOOL=$TOP/bench/email_tool.py
HUMAN_UA="Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36"
HUMAN_UA+=" (KHTML, like Gecko) Chrome/120.0 Safari/537.36"

numbers PORT CONNS THREADS WORKERS POOL PGCLIENTS EMAILS SMTP_CONNS \
        SMTP_BATCH DELIVER_TIMEOUT
[ "$EMAILS" -ge 1 ] || die "BENCH_EMAILS must be at least 1"
for name in $ONLY; do
    case $name in
        send|track|deliver) ;;
        *) die "BENCH_ONLY: unknown run '$name' (send track deliver)" ;;
    esac
done
# pgbench -T takes seconds
case $DURATION in
    *[!0-9s]*|'') die "BENCH_DURATION: seconds, e.g. 10s" ;;
esac
SECS=${DURATION%s}
WARM_SECS=${WARMUP%s}


# ------------------------------------------------------------ prerequisites

for tool in wrk curl "$NGINX_BIN" "$PG_BIN/psql" "$PG_BIN/pg_isready" \
            "$PG_BIN/pgbench" "$PY"; do
    command -v "$tool" > /dev/null || die "missing $tool (run util/deps.sh)"
done

build "${BENCH_SKIP_MAKE:-0}"
rm -f "$B"/wrk-*.txt "$B"/wrk-*.time "$B"/pgbench-* "$B"/cpu-* \
      "$B"/smtp-*.txt "$B"/deliver-*


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
MAIL_DIR=
SINK_START_LINE=   # log.jsonl's lines before this script's messages

# the run stack's nginx and sink, by their pid files
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

wipe_rows() {
    psql_crm <<EOF
DELETE FROM email_events WHERE workspace_id = '$WS';
DELETE FROM emails WHERE workspace_id = '$WS';
DELETE FROM suppressions WHERE workspace_id = '$WS';
EOF
}

cleanup() {
    local status=$?
    trap - EXIT INT TERM
    nginx_stop
    if [ -n "$MAIL_DIR" ] && [ -n "$SINK_START_LINE" ]; then
        n=$("$PY" "$TOOL" sink-clean "$MAIL_DIR" "$SINK_START_LINE" \
            2>/dev/null || echo '?')
        echo "bench: deleted $n .eml files of this run from $MAIL_DIR"
    fi
    if pg_ready 2>/dev/null; then
        wipe_rows > /dev/null 2>&1 \
            && echo "bench: deleted the emails of workspace $WS" \
            || echo "bench: could not delete the emails of workspace $WS" >&2
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

# the SMTP sink: the run stack's, reused or started
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

# the run stack's nginx would deliver the bench's emails too
if run_pid=$(live_pid "$RUN_NGINX_PIDFILE" "$TOP/.run/run/nginx/"); then
    echo "bench: stopping the run stack's nginx (pid $run_pid) for the" \
         "runs: its delivery job would claim the bench's emails;" \
         "started again at the end"
    RUN_NGINX=1
    stop_pid "$run_pid"
    kill -0 "$run_pid" 2>/dev/null \
        && die "the run stack's nginx $run_pid did not stop"
fi

# foreign_jobs: delivery jobs of other nginx on this database (their
# LISTEN sessions), which would claim the bench's emails
foreign_jobs() {
    psql_crm -tA -c "SELECT count(*) FROM pg_stat_activity
                      WHERE datname = current_database()
                        AND query = 'LISTEN crm_jobs'
                        AND application_name <> '$APP'"
}
n=$(foreign_jobs)
if [ "$n" != 0 ]; then
    die "$n delivery job sessions of another nginx use this database" \
        "(pg_stat_activity: LISTEN crm_jobs): they would claim the bench's" \
        "emails; stop that nginx first"
fi

wipe_rows || die "cannot empty the bench workspace"
psql_crm <<EOF || die "cannot set up the bench workspace"
INSERT INTO workspaces (id, name) VALUES ('$WS', 'Bench email')
    ON CONFLICT (id) DO NOTHING;
EOF
other=$(psql_crm -tA -c "SELECT count(*) FROM emails
                          WHERE status IN ('queued', 'deferred', 'sending')
                            AND workspace_id <> '$WS'")
if [ "$other" != 0 ]; then
    echo "bench: NOTE: $other emails of other workspaces are due or" \
         "being sent: the deliver run's nginx will send them too"
fi


# ------------------------------------------------------------------- nginx

KEY=$(bench_key "$B/bench.key" crm_bench)
mkdir -p "$B/conf" "$B/logs" "$B/temp"

STATIC_BODY='{}'        # set to the size of a 202 by the send run

# render JOBS: the bench nginx's configuration, crm_jobs JOBS
render() {
    cat > "$B/conf/nginx.conf.new" <<EOF
$(nginx_main 4096)

http {
    default_type  application/json;
    access_log    off;
    server_tokens off;

$(nginx_temp_paths)

    crm_postgres "$PG_DSN application_name=$APP";
    crm_postgres_pool_size $POOL;
    crm_cursor_secret bench-cursor-secret-not-for-production-0123456789;
    crm_api_key $KEY $WS;
    # no crm_rate_limit, no rate= on the relay: nothing is counted or held

    crm_smtp smtp://127.0.0.1:$SMTP_PORT from=bench@bench.example
             from_name=Bench connections=$SMTP_CONNS batch=$SMTP_BATCH;
    crm_outbound_allow 127.0.0.1;
    crm_jobs $1;

    crm_tracking_secret $SECRET;
    crm_tracking_url $BASE/t/;

    server {
        listen 127.0.0.1:$PORT;
        server_name localhost;

        location /api/v1/ {
            crm_api;
        }

        location /t/ {
            crm_tracking;
        }

        # the baselines: no module code, no database
        location = /static.json {
            return 200 '$STATIC_BODY';
        }

        location = /static.gif {
            empty_gif;
            add_header Cache-Control "no-store, no-cache, must-revalidate, max-age=0";
            add_header Pragma no-cache;
        }

        location = /static-302 {
            add_header Cache-Control no-store;
            add_header Referrer-Policy no-referrer;
            return 302 https://example.org/bench/landing?utm_source=bench;
        }
    }
}
EOF
    chmod 600 "$B/conf/nginx.conf.new"     # holds the key
    mv -f "$B/conf/nginx.conf.new" "$B/conf/nginx.conf"
}

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

# restart JOBS: the bench nginx (re)started with crm_jobs JOBS
restart() {
    stop_bench "${PHASE:-setup}"
    render "$1"
    nginx_start
    echo "bench: nginx (pid $NGINX_PID, crm_jobs $1) on $BASE"
}

# check STATUS WHAT REQUEST... : curl's status must be STATUS; the body
# is in $B/preflight.body, the headers in $B/preflight.head
check() {
    local want=$1 what=$2 got
    shift 2
    got=$(curl -s -D "$B/preflight.head" -o "$B/preflight.body" \
          -w '%{http_code}' "$@") || got=000
    if [ "$got" != "$want" ]; then
        echo "bench: preflight $what: HTTP $got, expected $want:" >&2
        head -c 600 "$B/preflight.body" >&2; echo >&2
        tail -20 "$B/logs/error.log" >&2
        die "preflight failed"
    fi
}


# -------------------------------------------------------------- accounting

HZ=$(getconf CLK_TCK)
NCPU=$(nproc)
declare -A RPS
FAILED=()
NOISY=()
RESULTS=()

sink_pids() { echo "$sink_pid"; }

# cpu_start: snapshots of the bench nginx, PostgreSQL, the sink and the
# machine
cpu_start() {
    { [ -n "$NGINX_PID" ] && nginx_pids; } | ticks > "$B/cpu-nginx.0" || true
    pg_pids | ticks > "$B/cpu-pg.0"
    sink_pids | ticks > "$B/cpu-sink.0"
    CPU_M0=$(machine_ticks)
}

# cpu_end NAME CLIENT_NAME TIMEFILE UNITS UNIT: where the CPU went since
# cpu_start, in cores, and per UNIT (request, email) when UNITS > 0;
# TIMEFILE holds the client's "user sys" seconds
cpu_end() {
    local name=$1 cname=$2 tf=$3 units=$4 unit=$5 n p s m1 cu cs other
    { [ -n "$NGINX_PID" ] && nginx_pids; } | ticks > "$B/cpu-nginx.1" || true
    pg_pids | ticks > "$B/cpu-pg.1"
    sink_pids | ticks > "$B/cpu-sink.1"
    m1=$(machine_ticks)
    n=$(ticks_delta "$B/cpu-nginx.0" "$B/cpu-nginx.1")
    p=$(ticks_delta "$B/cpu-pg.0" "$B/cpu-pg.1")
    s=$(ticks_delta "$B/cpu-sink.0" "$B/cpu-sink.1")
    read -r cu cs < "$tf" || { cu=0; cs=0; }
    awk -v n="$n" -v p="$p" -v s="$s" -v hz="$HZ" -v cu="$cu" -v cs="$cs" \
        -v m0="$CPU_M0" -v m1="$m1" -v units="${units:-0}" -v unit="$unit" \
        -v cname="$cname" -v ncpu="$NCPU" '
        BEGIN {
            split(m0, a, " "); split(m1, b, " ")
            for (i = 1; i <= 5; i++) d[i] = (b[i] - a[i]) / hz
            wall = d[5] / ncpu
            if (wall <= 0) wall = 1
            ng = n / hz; pg = p / hz; sk = s / hz; cl = cu + cs
            other = d[1] - ng - pg - sk - cl; if (other < 0) other = 0
            printf "         cpu (cores): nginx %.2f  postgres %.2f  sink" \
                   " %.2f  %s %.2f  irq %.2f  other %.2f  idle %.2f  of %d\n",
                   ng / wall, pg / wall, sk / wall, cname, cl / wall,
                   d[2] / wall, other / wall, d[4] / wall, ncpu
            if (units > 0)
                printf "         cpu per %s: nginx %.0f us  postgres %.0f" \
                       " us  sink %.0f us  %s %.0f us\n", unit,
                       ng * 1e6 / units, pg * 1e6 / units, sk * 1e6 / units,
                       cname, cl * 1e6 / units
            printf "%.2f\n", other / wall > "/dev/stderr"
        }' 2> "$B/cpu-other"
    other=$(cat "$B/cpu-other")
    if awk -v o="$other" 'BEGIN { exit !(o > 0.2) }'; then
        echo "         WARNING: other processes used $other cores during" \
             "this run: the machine was not quiet, the figures are too low"
        NOISY+=("$name: other processes used $other cores")
    fi
}

# ms VALUE: a wrk latency (850.00us, 1.20ms, 1.01s) in ms
ms() {
    awk -v v="$1" 'BEGIN {
        f = v + 0
        if (v ~ /us$/) f /= 1000; else if (v ~ /ms$/) f += 0;
        else if (v ~ /m$/) f *= 60000; else if (v ~ /s$/) f *= 1000
        printf "%.2f", f }'
}

# ratio A B: A / B with two decimals ("?" when B is 0 or empty)
ratio() {
    awk -v a="${1:-0}" -v b="${2:-0}" 'BEGIN {
        if (b + 0 > 0) printf "%.3f", a / b; else printf "?" }'
}

# wrk_run NAME EXPECT URL [wrk options...]: a warm-up, then the measured
# wrk run, both with bench/email.lua, which counts the statuses: every
# response must have the status EXPECT
wrk_run() {
    local name=$1 expect=$2 url=$3 out=$B/wrk-$1.txt status=0
    shift 3
    set -- -s "$TOP/bench/email.lua" "$@"
    local wrk=(wrk "-t$THREADS" "-c$CONNS" -d"$DURATION" --latency
               --timeout "$TIMEOUT" -H "X-API-Key: $KEY" "$@" "$url")

    if [ "$WARMUP" != 0 ]; then
        wrk "-t$THREADS" "-c$CONNS" -d"$WARMUP" --timeout "$TIMEOUT" \
            -H "X-API-Key: $KEY" "$@" "$url" \
            > "$B/wrk-$name-warmup.txt" 2>&1 || true
    fi

    cpu_start
    local TIMEFORMAT='%U %S'
    { time "${wrk[@]}" > "$out" 2>&1 || status=$?; } 2> "$B/wrk-$name.time"

    local rps p50 p99 reqs sockerr bad='' line statuses
    rps=$(wrk_field "$out" rps)
    p50=$(wrk_field "$out" p50)
    p99=$(wrk_field "$out" p99)
    reqs=$(wrk_field "$out" reqs)
    sockerr=$(wrk_field "$out" sockerr)
    statuses=$(wrk_field "$out" statuses)
    RPS[$name]=${rps:-0}
    WRK_REQS=${reqs:-0}
    WRK_WARM=$(awk '/ requests in / { print $1; exit }' \
               "$B/wrk-$name-warmup.txt" 2>/dev/null || true)
    WRK_WARM=${WRK_WARM:-0}

    if [ "$status" -ne 0 ] || [ -z "$rps" ]; then
        cat "$out" >&2
        loud "$name: wrk failed (exit $status)"
        FAILED+=("$name: wrk failed")
        return 0
    fi
    # every status counted must be EXPECT
    [ "$statuses" = "$expect=$reqs" ] \
        || bad="statuses: ${statuses:-none counted}, $reqs requests"
    [ -z "$sockerr" ] || bad+="${bad:+, }socket errors: $sockerr"

    line=$(printf '%-11s %10s req/s   p50 %8s ms   p99 %8s ms' \
           "$name" "$rps" "$(ms "$p50")" "$(ms "$p99")")
    [ -z "$bad" ] || line+="   <== NOT CLEAN ($bad)"
    echo "$line"
    RESULTS+=("$line")
    cpu_end "$name" wrk "$B/wrk-$name.time" "$reqs" request
    if [ -n "$bad" ]; then
        loud "$name: not every request got $expect ($bad): the figures of" \
             "this run are not valid; see $out and $B/logs/error.log"
        FAILED+=("$name: $bad")
    fi
}

count_emails() {
    psql_crm -tA -c "SELECT count(*) FROM emails WHERE workspace_id = '$WS'"
}

echo
echo "bench: $(date -u '+%Y-%m-%d %H:%M UTC'), $NCPU cores (nginx," \
     "PostgreSQL, the sink and the clients share them), nginx $WORKERS" \
     "workers, pool $POOL per worker"
echo "bench: wrk -t$THREADS -c$CONNS -d$DURATION --latency --timeout" \
     "$TIMEOUT (warm-up $WARMUP before each run); runs: $ONLY"


# -------------------------------------------------------------------- send

if want send || want track; then
    restart off
fi

if want send; then
    echo
    echo "== send: POST /api/v1/emails/send (crm_jobs off: the API path" \
         "only) =="
    check 202 "POST /emails/send" -H "X-API-Key: $KEY" \
        -H 'Content-Type: application/json' \
        --data '{"to":"preflight@bench.example","subject":"Preflight","text":"Hello"}' \
        "$BASE/api/v1/emails/send"
    size=$(wc -c < "$B/preflight.body")
    # the static body: as many bytes as a 202 (its size varies by a few
    # bytes with the recipient and the counter)
    pad=$((size - 12))
    STATIC_BODY="{\"data\":\"$(head -c "$pad" /dev/zero | tr '\0' x)\"}"
    PHASE=preflight restart off > /dev/null
    check 200 static "$BASE/static.json"
    echo "bench: bodies: 202 of a send $size B, static" \
         "$(wc -c < "$B/preflight.body") B"

    wrk_run static 200 "$BASE/static.json"

    before=$(count_emails)
    BENCH_EMAIL_SEND=1 wrk_run send 202 "$BASE/api/v1/emails/send"
    after=$(count_emails)
    echo "         emails queued: $((after - before)) (wrk counted" \
         "$WRK_REQS, $WRK_WARM more in the warm-up; in flight at the end" \
         "count too)"

    # the baseline: the module's INSERT, prepared, with its RETURNING
    # (the colons of the time formats as \x3a: pgbench would take :MI
    # for a variable)
    cat > "$B/pgbench-insert.sql" <<EOF
\\set n random(1, 2000000000)
INSERT INTO emails (workspace_id, to_email, subject, body_text) VALUES ('$WS'::uuid, ('p' || :client_id || '-' || :n || '@bench.example')::text, 'Bench send'::text, 'Hello,

this is a load test of POST /emails/send. It is queued and never sent.

-- 
bench/email.sh
'::text) RETURNING json_build_object('id', id, 'to', to_email, 'toName', to_name, 'cc', cc, 'bcc', bcc, 'from', from_email, 'fromName', from_name, 'replyTo', reply_to, 'subject', subject, 'text', body_text, 'html', body_html, 'contactId', contact_id, 'campaignId', campaign_id, 'status', status, 'messageId', message_id, 'attempts', attempts, 'nextAttemptAt', to_char(next_attempt_at AT TIME ZONE 'UTC', E'YYYY-MM-DD"T"HH24\\x3aMI\\x3aSS.MS"Z"'), 'smtpCode', smtp_code, 'lastError', last_error, 'sentAt', to_char(sent_at AT TIME ZONE 'UTC', E'YYYY-MM-DD"T"HH24\\x3aMI\\x3aSS.MS"Z"'), 'events', db_email_events(workspace_id, id), 'createdAt', to_char(created_at AT TIME ZONE 'UTC', E'YYYY-MM-DD"T"HH24\\x3aMI\\x3aSS.MS"Z"'), 'updatedAt', to_char(updated_at AT TIME ZONE 'UTC', E'YYYY-MM-DD"T"HH24\\x3aMI\\x3aSS.MS"Z"'))::text;
EOF
    pgb=("$PG_BIN/pgbench" -n -M prepared -c "$PGCLIENTS" -j 2
         -f "$B/pgbench-insert.sql" -h 127.0.0.1 -p "$PG_PORT" -U crm)
    if [ "$WARM_SECS" != 0 ]; then
        "${pgb[@]}" -T "$WARM_SECS" crm > "$B/pgbench-warmup.txt" 2>&1 || true
    fi
    before=$(count_emails)
    cpu_start
    status=0
    (cd "$B" && TIMEFORMAT='%U %S' && \
     { time "${pgb[@]}" -T "$SECS" -l --log-prefix=pgbench-log crm \
           > "$B/pgbench.txt" 2>&1 || exit $?; } 2> "$B/pgbench.time") \
        || status=$?
    after=$(count_emails)
    tps=$(sed -n 's/^tps = \([0-9.]*\) .*without initial.*/\1/p' \
          "$B/pgbench.txt")
    tx=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' \
         "$B/pgbench.txt")
    failed=$(sed -n 's/^number of failed transactions: \([0-9]*\).*/\1/p' \
             "$B/pgbench.txt")
    # latencies of every transaction: the 3rd field of pgbench's log, us
    cat "$B"/pgbench-log.* | awk '{ print $3 }' | sort -n > "$B/pgbench-lat"
    lat=$(awk '{ v[NR] = $1 } END {
              if (NR) printf "%.2f %.2f", v[int(NR * 0.5) + 1] / 1000,
                             v[int(NR * 0.99) + 1] / 1000 }' "$B/pgbench-lat")
    rm -f "$B"/pgbench-log.*
    if [ "$status" -ne 0 ] || [ -z "$tps" ] || [ "${failed:-0}" != 0 ] \
       || [ $((after - before)) != "${tx:-x}" ]; then
        cat "$B/pgbench.txt" >&2
        loud "pgbench failed (exit $status, $tx transactions, ${failed:-?}" \
             "failed, $((after - before)) rows)"
        FAILED+=("pgbench insert")
    fi
    tps=$(awk -v t="$tps" 'BEGIN { if (t != "") printf "%.2f", t }')
    RPS[pgbench]=${tps:-0}
    line=$(printf '%-11s %10s tx/s    p50 %8s ms   p99 %8s ms   (-c%s -j2)' \
           pgbench-ins "${tps:-?}" "${lat%% *}" "${lat##* }" "$PGCLIENTS")
    echo "$line"
    RESULTS+=("$line")
    cpu_end pgbench pgbench "$B/pgbench.time" "${tx:-0}" insert
    echo "         rows inserted: $((after - before)) (pgbench counted" \
         "${tx:-?})"

    echo "send / static          = $(ratio "${RPS[send]}" "${RPS[static]}")"
    echo "send / pgbench insert  = $(ratio "${RPS[send]}" "${RPS[pgbench]}")"
    r1=$(ratio "${RPS[send]}" "${RPS[static]}")
    r2=$(ratio "${RPS[send]}" "${RPS[pgbench]}")
    RESULTS+=("  send / static = $r1, send / pgbench insert = $r2")
    wipe_rows > /dev/null || die "cannot delete the send run's emails"
fi


# ------------------------------------------------------------------- track

# recorded KIND: the events of KIND of the tracked email
recorded() {
    psql_crm -tA -c "SELECT count(*) FROM email_events
                      WHERE workspace_id = '$WS' AND email_id = '$TRACKED'
                        AND type = '$1'"
}

# dropped_logged: the drops the error log's summary lines report, summed
# over the workers (the last "N in all by this worker" of each pid)
dropped_logged() {
    awk '/tracking: an open or click was not recorded/ {
             split($4, w, "#"); for (i = 1; i <= NF; i++)
                 if ($(i + 2) == "all" && $(i + 1) == "in") last[w[1]] = $i }
         END { for (p in last) s += last[p]; print s + 0 }' \
        "$B/logs/error.log"
}

# settle KIND: waits until the count of KIND stops moving (the detached
# statements of the last hits), at most 10 s; prints it
settle() {
    local prev=-1 now
    for _ in $(seq 50); do
        now=$(recorded "$1")
        [ "$now" = "$prev" ] && break
        prev=$now
        sleep 0.2
    done
    echo "$now"
}

if want track; then
    echo
    echo "== track: open pixel and click redirect (each hit recorded after" \
         "the answer) =="
    psql_crm <<EOF || die "cannot make the tracked email"
INSERT INTO emails (workspace_id, id, to_email, subject, body_text)
VALUES ('$WS', '$TRACKED', 'tracked@bench.example', 'Tracked', 'Hello');
UPDATE emails SET status = 'sent', sent_at = now() - interval '1 hour'
 WHERE workspace_id = '$WS' AND id = '$TRACKED';
EOF
    target="https://example.org/bench/landing?utm_source=bench"
    open_url="$BASE/t/o/$("$PY" "$TOOL" token "$SECRET" o "$WS" "$TRACKED").gif"
    click_url="$BASE/t/c/$("$PY" "$TOOL" token "$SECRET" c "$WS" "$TRACKED" \
                                "$target")"
    check 200 "static gif" "$BASE/static.gif"
    gsize=$(wc -c < "$B/preflight.body")
    check 200 "open pixel" -A "$HUMAN_UA" "$open_url"
    osize=$(wc -c < "$B/preflight.body")
    grep -qi '^content-type: image/gif' "$B/preflight.head" \
        || die "the open pixel is not image/gif"
    check 302 "click" -A "$HUMAN_UA" "$click_url"
    grep -qF "Location: $target" "$B/preflight.head" \
        || die "the click does not redirect to $target"
    check 302 "static 302" "$BASE/static-302"
    echo "bench: open pixel $osize B, static gif $gsize B; open URL" \
         "${#open_url} characters, click URL ${#click_url}"
    sleep 0.5

    wrk_run static-gif 200 "$BASE/static.gif" -H "User-Agent: $HUMAN_UA"

    d0=$(dropped_logged)
    r0=$(settle opened)
    wrk_run open 200 "$open_url" -H "User-Agent: $HUMAN_UA"
    r1=$(settle opened)
    sleep 1.1                  # the last summary line is at most 1 s late
    d1=$(dropped_logged)
    hits=$((WRK_REQS + WRK_WARM))
    echo "         opens recorded: $((r1 - r0)) of ~$hits hits (wrk's" \
         "$WRK_REQS + $WRK_WARM in the warm-up); dropped: $((d1 - d0)) in" \
         "the error log's summary lines, $((hits - (r1 - r0))) by the count"
    TRACK_OPEN="recorded $((r1 - r0)) of ~$hits, dropped (log) $((d1 - d0))"

    wrk_run static-302 302 "$BASE/static-302" -H "User-Agent: $HUMAN_UA"

    c0=$(settle clicked)
    wrk_run click 302 "$click_url" -H "User-Agent: $HUMAN_UA"
    c1=$(settle clicked)
    sleep 1.1
    d2=$(dropped_logged)
    hits=$((WRK_REQS + WRK_WARM))
    echo "         clicks recorded: $((c1 - c0)) of ~$hits hits; dropped:" \
         "$((d2 - d1)) in the error log's summary lines," \
         "$((hits - (c1 - c0))) by the count"
    TRACK_CLICK="recorded $((c1 - c0)) of ~$hits, dropped (log) $((d2 - d1))"

    r1=$(ratio "${RPS[open]}" "${RPS[static-gif]}")
    r2=$(ratio "${RPS[click]}" "${RPS[static-302]}")
    r3=$(ratio "${RPS[click]}" "${RPS[static-gif]}")
    echo "open / static gif      = $r1"
    echo "click / static 302     = $r2"
    echo "click / static gif     = $r3"
    line="  open / static gif = $r1, click / static 302 = $r2,"
    RESULTS+=("$line click / static gif = $r3")
    RESULTS+=("  open: $TRACK_OPEN; click: $TRACK_CLICK")
    wipe_rows > /dev/null || die "cannot delete the tracking run's rows"
fi


# ----------------------------------------------------------------- deliver

# sink_count: the messages the sink kept so far
sink_count() { "$PY" "$TOOL" sink-count "$MAIL_DIR"; }

if want deliver; then
    echo
    echo "== deliver: $EMAILS emails through the sink (crm_smtp" \
         "connections=$SMTP_CONNS batch=$SMTP_BATCH, no rate) =="
    stop_bench send-track
    wipe_rows > /dev/null || die "cannot empty the bench workspace"
    run_id=$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')
    # text and html, one link (tracked: rewritten, and the pixel added)
    psql_crm <<EOF || die "cannot queue the emails"
INSERT INTO emails (workspace_id, to_email, subject, body_text, body_html)
SELECT '$WS', 'd$run_id-' || g || '@bench.example',
       'Bench delivery ' || g,
       'Hello,' || chr(10) || chr(10) || 'this is message ' || g
       || ' of a load test of the delivery job.' || chr(10)
       || 'Read more: https://example.org/bench/landing?n=' || g || chr(10),
       '<html><body><p>Hello,</p><p>this is message ' || g
       || ' of a load test of the delivery job.</p><p><a href="'
       || 'https://example.org/bench/landing?n=' || g
       || '">Read more</a></p></body></html>'
  FROM generate_series(1, $EMAILS) AS g;
EOF
    queued=$(count_emails)
    s0=$(sink_count)
    render on

    cpu_start
    t0=$(date +%s.%N)
    nginx_start
    echo "bench: nginx (pid $NGINX_PID, crm_jobs on) on $BASE, $queued" \
         "emails queued"
    # one session polls every 100 ms, until every email has an outcome
    cat > "$B/deliver-poll.sql" <<EOF
DO \$\$
DECLARE
    t0  timestamptz := clock_timestamp();
    n   bigint;
BEGIN
    LOOP
        SELECT count(*) INTO n FROM emails
         WHERE workspace_id = '$WS'
           AND status NOT IN ('queued', 'sending');
        EXIT WHEN n >= $EMAILS
               OR clock_timestamp() - t0 > interval '$DELIVER_TIMEOUT s';
        PERFORM pg_sleep(0.1);
    END LOOP;
END
\$\$;
EOF
    TIMEFORMAT='%U %S'
    { time psql_crm -f "$B/deliver-poll.sql"; } 2> "$B/deliver-poll.time" \
        || die "the poll failed"
    t1=$(date +%s.%N)
    cpu_end deliver "poll" "$B/deliver-poll.time" "$EMAILS" email \
        > "$B/deliver-cpu.txt"
    sleep 0.5                   # the last answers' files
    s1=$(sink_count)
    psql_crm -tA -F ' ' > "$B/deliver-outcome.txt" <<EOF
SELECT status, count(*) FROM emails WHERE workspace_id = '$WS'
 GROUP BY status ORDER BY status;
EOF
    span=$(psql_crm -tA -F ' ' -c "SELECT count(*),
              extract(epoch FROM max(sent_at) - min(sent_at))
             FROM emails WHERE workspace_id = '$WS' AND status = 'sent'")
    read -r sent sspan <<< "$span"
    wall=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
    RPS[deliver]=$(awk -v n="$sent" -v w="$wall" \
                   'BEGIN { printf "%.1f", (w > 0 ? n / w : 0) }')
    line=$(printf '%-11s %10s emails/s   %s sent in %s s from the nginx start' \
           deliver "${RPS[deliver]}" "$sent" "$wall")
    echo "$line"
    RESULTS+=("$line")
    awk -v n="$sent" -v s="$sspan" 'BEGIN { if (s > 0 && n > 1)
        printf "         %.1f emails/s between the first and the last" \
               " sent_at (%.3f s)\n", (n - 1) / s, s }'
    cat "$B/deliver-cpu.txt"
    echo "         outcomes: $(tr '\n' ' ' < "$B/deliver-outcome.txt")"
    echo "         sink: $((s1 - s0)) messages kept, $EMAILS sent"
    if [ "$sent" != "$EMAILS" ]; then
        loud "deliver: $sent of $EMAILS emails sent within" \
             "${DELIVER_TIMEOUT} s: $(tr '\n' ' ' < "$B/deliver-outcome.txt")" \
             "see $B/logs/error.log"
        FAILED+=("deliver: $sent of $EMAILS sent")
    fi
    if [ $((s1 - s0)) != "$EMAILS" ]; then
        loud "deliver: THE SINK KEPT $((s1 - s0)) MESSAGES, NOT $EMAILS"
        FAILED+=("deliver: the sink kept $((s1 - s0)) of $EMAILS")
    fi
    stop_bench deliver

    # the baseline: the same bytes, the same sink, as many connections
    sample=$("$PY" -c '
import json, sys
lines = open(sys.argv[1] + "/log.jsonl", "rb").read().splitlines()
for line in lines[int(sys.argv[2]):]:
    e = json.loads(line)
    if e["rcpt"].startswith("d" + sys.argv[3] + "-"):
        print(e["file"]); break' "$MAIL_DIR" "$s0" "$run_id")
    if [ -z "$sample" ] || [ ! -r "$MAIL_DIR/$sample" ]; then
        loud "deliver: no message of this run in the sink: no baseline"
        FAILED+=("deliver: no baseline")
    else
        cp "$MAIL_DIR/$sample" "$B/deliver-sample.eml"
        s2=$(sink_count)
        cpu_start
        { time "$PY" "$TOOL" smtp "$SMTP_PORT" "$SMTP_CONNS" "$EMAILS" \
               "$B/deliver-sample.eml" > "$B/smtp-baseline.txt"; } \
            2> "$B/smtp-baseline.time" || true
        # time's line is the last of stderr
        tail -n 1 "$B/smtp-baseline.time" > "$B/smtp-baseline.cpu"
        sleep 0.5
        s3=$(sink_count)
        read -r _ ok _ bad _ secs _ rate _ msize < "$B/smtp-baseline.txt" \
            || { ok=0; bad='?'; secs='?'; rate=0; msize='?'; }
        RPS[smtplib]=$rate
        line=$(printf '%-11s %10s msgs/s     %s sent in %s s (%s B each)' \
               smtplib "$rate" "$ok" "$secs" "$msize")
        echo "$line"
        RESULTS+=("$line")
        cpu_end smtplib python "$B/smtp-baseline.cpu" "$ok" message
        echo "         sink: $((s3 - s2)) messages kept, $ok sent," \
             "$bad refused"
        if [ "$ok" != "$EMAILS" ] || [ $((s3 - s2)) != "$EMAILS" ]; then
            loud "smtplib baseline: $ok of $EMAILS sent, the sink kept" \
                 "$((s3 - s2))" "$(head -5 "$B/smtp-baseline.time")"
            FAILED+=("smtplib: $ok sent, sink kept $((s3 - s2)) of $EMAILS")
        fi
        echo "deliver / smtplib      = $(ratio "${RPS[deliver]}" "$rate")"
        RESULTS+=("  deliver / smtplib = $(ratio "${RPS[deliver]}" "$rate")")
    fi
fi


# ------------------------------------------------------------------ summary

echo
echo "summary (wrk -t$THREADS -c$CONNS -d$DURATION; pgbench -c$PGCLIENTS" \
     "-j2 -T$SECS; $EMAILS emails):"
printf '  %s\n' "${RESULTS[@]}"

stop_bench send-track
if [ ${#NOISY[@]} -gt 0 ]; then
    echo
    echo "bench: WARNING: the machine was busy with other work during" \
         "some runs: ${NOISY[*]}"
fi
if [ ${#FAILED[@]} -gt 0 ]; then
    loud "NOT A CLEAN RUN:" "${FAILED[@]}"
    exit 1
fi
echo "bench: every request got its expected status, every email was sent" \
     "and kept by the sink; raw outputs in $B/"
