#!/usr/bin/env bash
# bench/fault.sh: faults under load (issue 9), one scenario after the
# other, each bounded in requests and time, each printing its figures and
# whether it met its expectation.  See bench/README, "Faults".
#
#   bench/fault.sh                         all six scenarios (~2-3 min)
#   FAULT_ONLY="restart junk" bench/fault.sh
#
# The scenarios (FAULT_ONLY takes their names):
#   resets   2,000 clients reset their connection (SO_LINGER 0) while
#            their request waits on a locked table: no connection may
#            stay open, a reload finds no "open socket ... left"
#   restart  PostgreSQL restarted under wrk -c64 GET by id: statuses,
#            recovery time, error log lines, connections kept
#   pool     the contacts table locked 5 s under wrk -c64 GET by id:
#            statuses, error log lines, p99
#   search   16 connections of searches that match every row (on the
#            seed workspace of util/seed.sh) next to another tenant's
#            GET by id: its latency against a baseline without them
#   bodies   300 connections announce a body of 1,000,000 bytes, send
#            10 and hold: worker memory before, held, after
#   junk     20,000 requests with random well-formed API keys: 401 vs
#            429, and how many of them reached PostgreSQL
#
# Environment (defaults in brackets):
#   FAULT_ONLY          subset of: resets restart pool search bodies junk
#                       [all six]
#   FAULT_PORT          port of the fault nginx on 127.0.0.1 [8093]
#   FAULT_RESETS        connections of "resets" [2000]
#   FAULT_SEED_N        contacts util/seed.sh makes when the seed
#                       workspace is empty ("search") [100000]
#   FAULT_RECOVERY_MAX  seconds from PostgreSQL's start to the first 200
#                       that "restart" accepts [3]
#   FAULT_LOG_MAX       error log messages "restart" and "pool" may
#                       write [100]
#   FAULT_KEEP_PG       1: leave the run stack's PostgreSQL and Redis up
#                       even when this script started them [0]
#   FAULT_SKIP_MAKE     1: do not run "make" [0]
#   CRM_PG_PORT, CRM_REDIS_PORT   the run stack's ports when
#                       .run/run/ports does not say [54320, 63790]
#
# It uses the PostgreSQL and Redis of the "make run" stack (starting them
# when they are down, and stopping them again at the end), and starts
# its own nginx from .run/fault/ (git-ignored), rendered from
# nginx.conf.example with 2 workers on 127.0.0.1:8093: the nginx of
# "make run" is not touched.  "restart" stops and starts the run stack's
# PostgreSQL, so anything else using it sees an outage of about a second.
# Raw outputs (wrk, probes, the error log) stay in .run/fault/.  What it
# shares with bench/run.sh (starting the run stack's PostgreSQL and its
# nginx, reading wrk's output) is in bench/lib.sh.
#
# Exit status: 0 when every scenario met its expectation, 1 otherwise
# (each failed expectation is printed, at the end too), 2 on a setup
# failure.

set -euo pipefail

TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
ME=bench/fault.sh
TAG=fault
# shellcheck source=bench/lib.sh
. "$TOP/bench/lib.sh"

ONLY=${FAULT_ONLY:-resets restart pool search bodies junk}
PORT=${FAULT_PORT:-8093}
RESETS=${FAULT_RESETS:-2000}
SEED_N=${FAULT_SEED_N:-100000}
RECOVERY_MAX=${FAULT_RECOVERY_MAX:-3}
LOG_MAX=${FAULT_LOG_MAX:-100}
WORKERS=2
B=$TOP/.run/fault
BASE=http://127.0.0.1:$PORT

# the fault workspace (tenant A) and its one contact; the searches run
# in util/seed.sh's workspace (tenant S)
WS=fafafafa-fafa-4afa-8afa-fafafafafafa
CONTACT_ID=fafafafa-0000-4000-8000-000000000001
SEED_WS=cccccccc-cccc-4ccc-8ccc-cccccccccccc
# searches that match every row of the seed workspace (every email is
# @example.com): each reads and ranks all of them
SEARCH_PATHS="/api/v1/search?q=example&limit=20"
SEARCH_PATHS+="|/api/v1/contacts?q=example.com&limit=20"

numbers PORT RESETS SEED_N RECOVERY_MAX LOG_MAX
for name in $ONLY; do
    case $name in
        resets|restart|pool|search|bodies|junk) ;;
        *) die "FAULT_ONLY: unknown scenario '$name'" \
               "(resets restart pool search bodies junk)" ;;
    esac
done


# ------------------------------------------------------------ prerequisites

for tool in wrk curl python3 redis-cli "$NGINX_BIN" "$PG_BIN/psql" \
            "$PG_BIN/pg_isready"; do
    command -v "$tool" > /dev/null \
        || die "missing $tool (run util/deps.sh; wrk: apt-get install wrk)"
done

build "${FAULT_SKIP_MAKE:-0}"


# ----------------------------------------- PostgreSQL and Redis of make run

PG_PORT=$(run_port PG_PORT "${CRM_PG_PORT:-54320}")
REDIS_PORT=$(run_port REDIS_PORT "${CRM_REDIS_PORT:-63790}")
if [ -z "$PG_PORT" ] || [ -z "$REDIS_PORT" ]; then
    die "no PG_PORT or REDIS_PORT in .run/run/ports"
fi
PG_DSN="host=127.0.0.1 port=$PG_PORT dbname=crm user=crm"

redis_ready() {
    redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null | grep -q PONG
}

PG_STARTED=        # what this script started: "", "pg" or "stack"
PG_STOPPED=        # 1 while "restart" has PostgreSQL stopped
REDIS_STARTED=
NGINX_PID=

cleanup() {
    local status=$? pid
    trap - EXIT INT TERM
    # background jobs of a scenario still running (an interrupted run):
    # this shell's own, never a pid that may have been recycled
    for pid in $(jobs -p); do
        kill "$pid" 2>/dev/null || true
    done
    nginx_stop
    if [ -n "$PG_STOPPED" ]; then
        echo "fault: interrupted with PostgreSQL stopped: starting it again"
        "$TOP/util/stack.sh" run pg-start || true
    fi
    if [ -n "$PG_STARTED$REDIS_STARTED" ]; then
        if [ "${FAULT_KEEP_PG:-0}" = 1 ]; then
            echo "fault: the run stack's PostgreSQL/Redis were started by" \
                 "this script and are left up (FAULT_KEEP_PG=1);" \
                 "stop them with: make stop"
        elif [ "$PG_STARTED" = stack ]; then
            "$TOP/util/stack.sh" run down \
                && echo "fault: stopped the run stack again (make run had" \
                        "not been up)"
        else
            if [ -n "$REDIS_STARTED" ]; then
                "$TOP/util/stack.sh" run redis-stop \
                    && echo "fault: stopped Redis of the run stack again"
            fi
            if [ "$PG_STARTED" = pg ]; then
                "$TOP/util/stack.sh" run pg-stop \
                    && echo "fault: stopped PostgreSQL of the run stack again"
            fi
        fi
    fi
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

pg_up
if ! redis_ready; then
    echo "fault: starting Redis of the run stack" \
         "(util/stack.sh run redis-start)"
    [ "$PG_STARTED" = stack ] || REDIS_STARTED=1
    "$TOP/util/stack.sh" run redis-start || die "cannot start Redis"
fi
"$TOP/util/migrate.sh" run || die "util/migrate.sh run failed"


# ---------------------------------------------------------------- the data

# tenant A: one contact (and nothing else: the rows "resets" creates go
# at every start); its key and the searcher's have limits of their own
# that no scenario reaches, so that crm_rate_limit (as configured in
# nginx.conf.example) counts them but never refuses
psql_crm <<EOF || die "cannot make the fault workspace"
INSERT INTO workspaces (id, name) VALUES ('$WS', 'Fault')
    ON CONFLICT (id) DO NOTHING;
DELETE FROM contacts WHERE workspace_id = '$WS' AND id <> '$CONTACT_ID';
INSERT INTO contacts (workspace_id, id, first_name, email)
VALUES ('$WS', '$CONTACT_ID', 'Fault', 'fault@fault.example')
    ON CONFLICT DO NOTHING;
EOF

if want search; then
    seeded=$(psql_crm -tA -c "SELECT count(*) FROM contacts
                               WHERE workspace_id = '$SEED_WS'") \
        || die "cannot count the seed workspace's contacts"
    if [ "${seeded:-0}" -eq 0 ]; then
        echo "fault: the seed workspace is empty: util/seed.sh $SEED_N" \
             "(~12 s for 100000)"
        "$TOP/util/seed.sh" "$SEED_N" > "$B/seed.log" 2>&1 \
            || { cat "$B/seed.log" >&2; die "util/seed.sh failed"; }
        seeded=$SEED_N
    fi
    echo "fault: the seed workspace $SEED_WS holds $seeded contacts"
fi

# new_key WS: a stored key of WS (every scope) with its own high limits;
# the earlier keys of this script in WS are revoked
new_key() {
    psql_crm -tA -v ws="$1" <<'EOF'
BEGIN;
UPDATE api_keys SET deleted_at = now(), updated_at = now()
 WHERE workspace_id = :'ws' AND name = 'fault' AND deleted_at IS NULL;
SELECT id AS key_id, key AS new_key
  FROM db_api_key_create(:'ws', 'fault', '{*}', NULL, NULL) \gset
UPDATE api_keys SET rate_limit_per_minute = 1000000000,
                    rate_limit_per_hour = 2000000000
 WHERE workspace_id = :'ws' AND id = :'key_id';
COMMIT;
SELECT :'new_key';
EOF
}
KEY=$(new_key "$WS") || die "cannot make the fault key"
[ -n "$KEY" ] || die "no fault key"
SEED_KEY=
if want search; then
    SEED_KEY=$(new_key "$SEED_WS") || die "cannot make the searcher's key"
fi


# ------------------------------------------------------------------- nginx

user_line=
if is_root; then
    chown nobody "$B/temp" 2>/dev/null || true
else
    user_line='#'
fi

# nginx.conf.example, as util/stack.sh renders it, with: this port and
# prefix, a PostgreSQL application_name of its own (to find its sessions
# in pg_stat_activity), a stub_status location, no access log (the
# scenarios make ~10^5 requests; their statuses are counted by wrk),
# keepalive_requests above what a run makes
awk -v module="$MODULE_SO" -v port="$PORT" -v pg_port="$PG_PORT" \
    -v redis_port="$REDIS_PORT" -v temp="$B/temp" -v user="$user_line" '
    NR == 1 {
        print "# rendered by bench/fault.sh from nginx.conf.example:" \
              " edit that script or that file"
    }
    /^[ \t]*#/ { print; next }
    /^user / && user != "" { print user $0; next }
    /_temp_path[ \t]/ { sub(/[ \t]temp\//, " " temp "/") }
    /^[ \t]*access_log[ \t]/ { sub(/access_log .*/, "access_log off;") }
    {
        gsub(/@MODULE_PATH@/, module)
        gsub(/@HTTP_PORT@/, port)
        gsub(/@PG_PORT@/, pg_port)
        gsub(/@PG_DB@/, "crm")
        gsub(/@REDIS_PORT@/, redis_port)
        gsub(/@CURSOR_SECRET@/, "fault-cursor-secret-not-for-production-0123")
        gsub(/ user=crm";/, " user=crm application_name=crm_fault\";")
        print
    }
    /^[ \t]*keepalive_timeout[ \t]/ {
        print "    # bench/fault.sh: nginx closes a connection after"
        print "    # keepalive_requests (1000) requests: not in these runs,"
        print "    # so that every \"Connection: close\" wrk counts is the"
        print "    # answer to an error"
        print "    keepalive_requests 1000000;"
    }
    /^[ \t]*server_name[ \t]/ {
        print ""
        print "        # bench/fault.sh: the open connections"
        print "        location = /fault-status {"
        print "            stub_status;"
        print "            allow 127.0.0.1;"
        print "            deny all;"
        print "        }"
    }' "$TOP/nginx.conf.example" > "$B/conf/nginx.conf"

grep -q 'application_name=crm_fault' "$B/conf/nginx.conf" \
    || die "nginx.conf.example: crm_postgres not as expected"
if grep -v '^[[:space:]]*#' "$B/conf/nginx.conf" | grep '@[A-Z_]*@' >&2; then
    die "unsubstituted placeholders in $B/conf/nginx.conf"
fi
grep -q "^worker_processes $WORKERS;" "$B/conf/nginx.conf" \
    || die "nginx.conf.example no longer has worker_processes $WORKERS"

nginx_start
echo "fault: nginx (pid $NGINX_PID, $WORKERS workers) on $BASE," \
     "config $B/conf/nginx.conf"


# ------------------------------------------------------------------ helpers

GET_URL=$BASE/api/v1/contacts/$CONTACT_ID

# code URL [curl options]: the HTTP status of one request (000: none)
code() {
    local url=$1
    shift
    curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$@" "$url" \
        || true
}

# check STATUS WHAT URL [curl options]
check() {
    local want=$1 what=$2 url=$3 got
    shift 3
    got=$(curl -s -o "$B/preflight.body" -w '%{http_code}' --max-time 10 \
               "$@" "$url") || got=000
    if [ "$got" != "$want" ]; then
        echo "fault: preflight $what: HTTP $got, expected $want:" >&2
        head -c 600 "$B/preflight.body" >&2; echo >&2
        tail -20 "$B/logs/error.log" >&2
        die "preflight failed"
    fi
}

# stub_status: "active accepts"
conn_stats() {
    curl -s --max-time 5 "$BASE/fault-status" \
        | awk '/^Active connections/ { a = $3 } NR == 3 { n = $1 }
               END { print a + 0, n + 0 }'
}
active() { conn_stats | cut -d' ' -f1; }
accepts() { conn_stats | cut -d' ' -f2; }

# settle N: polls until stub_status says N active connections (the
# polling one included), for at most 10 s; prints what it saw last and
# the seconds it waited
settle() {
    local want=$1 n t0=$EPOCHREALTIME
    for _ in $(seq 100); do
        n=$(active)
        [ "$n" = "$want" ] && break
        sleep 0.1
    done
    echo "$n $(awk -v a="$t0" -v b="$EPOCHREALTIME" \
                   'BEGIN { printf "%.1f", b - a }')"
}

# the workers serving now (not those of an old cycle shutting down)
workers() {
    ps --ppid "$NGINX_PID" -o pid=,args= 2>/dev/null \
        | awk '/worker process/ && !/shutting down/ { print $1 }'
}

# worker RSS, in KiB, summed
workers_rss() {
    local pid sum=0 kb
    for pid in $(workers); do
        kb=$(awk '/^VmRSS:/ { print $2 }' "/proc/$pid/status" 2>/dev/null \
             || echo 0)
        sum=$((sum + ${kb:-0}))
    done
    echo "$sum"
}

# reload_wait: nginx -s reload, then waits (10 s at most) until the
# workers of the old cycle have exited and PostgreSQL has no session of
# theirs left (a session's statistics are written when it ends); prints
# how long that took, or "timeout"
reload_wait() {
    local old pids t0=$EPOCHREALTIME gone=
    old=$(workers | tr '\n' ' ')
    pids=$(psql_crm -tA -c "SELECT string_agg(pid::text, ',')
                              FROM pg_stat_activity
                             WHERE application_name = 'crm_fault'") || pids=
    ngx -s reload 2>> "$B/logs/reload.log" || return 1
    for _ in $(seq 100); do
        gone=1
        for pid in $old; do
            if kill -0 "$pid" 2>/dev/null; then gone=; break; fi
        done
        if [ -n "$gone" ] && [ -n "$pids" ]; then
            [ "$(psql_crm -tA -c "SELECT count(*) FROM pg_stat_activity
                                   WHERE pid IN ($pids)")" = 0 ] || gone=
        fi
        [ -n "$gone" ] && break
        sleep 0.1
    done
    if [ -z "$gone" ]; then
        echo timeout
        return 0
    fi
    awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f\n", b - a }'
}

# log_size: the error log's size now, to read what a scenario adds
log_size() { stat -c %s "$B/logs/error.log"; }

# log_since OFFSET: the error log from OFFSET on
log_since() { tail -c +"$(($1 + 1))" "$B/logs/error.log"; }

# log_report OFFSET NAME: the error log lines since OFFSET, counted; the
# messages of the module by kind (numbers and times taken out) go to
# $B/log-NAME.txt.  Sets LOG_TOTAL, LOG_ERR, LOG_WARN
log_report() {
    local off=$1 name=$2
    log_since "$off" > "$B/log-$name.txt"
    LOG_TOTAL=$(wc -l < "$B/log-$name.txt")
    LOG_MSGS=$(grep -c '^[0-9]\{4\}/' "$B/log-$name.txt" || true)
    LOG_ERR=$(grep -c '\[error\].*crm:' "$B/log-$name.txt" || true)
    LOG_WARN=$(grep -c '\[warn\].*crm:' "$B/log-$name.txt" || true)
    echo "    error log: $LOG_TOTAL lines, $LOG_MSGS messages ($LOG_ERR" \
         "[error] and $LOG_WARN [warn] from the module)"
    if [ "$LOG_MSGS" -gt 0 ]; then
        echo "    by kind (numbers as N):"
        grep '^[0-9]\{4\}/' "$B/log-$name.txt" \
            | sed -E 's/^[0-9\/: ]+//; s/[0-9]+#[0-9]+: (\*[0-9]+ )?//;
                      s/, client: .*//; s/[0-9]+(\.[0-9]+)?/N/g' \
            | sort | uniq -c | sort -rn | head -8 | cut -c1-110 \
            | sed 's/^/    /'
    fi
}

# status_count STATUSES PATTERN: the responses whose status matches the
# awk regex PATTERN, from a "200=N 503=N" line
status_count() {
    echo "$1" | tr ' ' '\n' \
        | awk -F= -v p="$2" '$1 ~ p { n += $2 } END { print n + 0 }'
}

# ms VALUE: a wrk latency (123.45us, 12.3ms, 1.2s) in ms
ms() {
    awk -v v="$1" 'BEGIN {
        n = v + 0
        if (v ~ /us$/) n /= 1000; else if (v ~ /ms$/) n += 0;
        else if (v ~ /m$/) n *= 60000; else if (v ~ /s$/) n *= 1000
        printf "%.1f\n", n }'
}

FAILED=()
# expect SCENARIO TEXT... OK: records and prints one check; OK is 1 when
# it was met
expect() {
    local name=$1 what ok=${!#}
    shift
    what="${*:1:$#-1}"
    if [ "$ok" = 1 ]; then
        echo "    ok:     $what"
    else
        echo "    FAILED: $what"
        FAILED+=("$name: $what")
    fi
}

# true when awk says so: is "A OP B"
num_cmp() { awk -v a="$1" -v b="$3" "BEGIN { exit !(a $2 b) }"; }
yes_if() { if "$@"; then echo 1; else echo 0; fi; }


# --------------------------------------------------------------- preflight

check 200 health "$BASE/api/v1/health"
check 200 "GET by id" "$GET_URL" -H "X-API-Key: $KEY"
if want search; then
    check 200 search "$BASE${SEARCH_PATHS%%|*}" -H "X-API-Key: $SEED_KEY"
fi
rm -f "$B"/wrk-*.txt "$B"/probe-*.txt "$B"/log-*.txt "$B"/py-*.txt

echo
echo "fault: $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores shared by" \
     "nginx ($WORKERS workers), PostgreSQL, Redis and the clients;" \
     "module at $(git -C "$TOP" rev-parse --short HEAD 2>/dev/null || echo '?')"
T_START=$EPOCHREALTIME


# ---------------------------------------------------------- 1. resets

scenario_resets() {
    local before after waited reload leaks api out=$B/py-resets.txt
    local wave=250

    echo
    echo "== resets: $RESETS clients reset their connection" \
         "(SO_LINGER 0) while their request waits on a locked table"
    read -r before waited <<< "$(settle 1)"

    python3 "$TOP/bench/fault.py" resets "$PORT" "$RESETS" "$wave" \
        "$KEY" "$CONTACT_ID" "$PG_DSN" "$PG_BIN/psql" > "$out" \
        || { expect resets "the client ran" 0; return; }
    val() { awk -v k="$1" '$1 == k { print $2 }' "$out"; }

    read -r after waited <<< "$(settle "$before")"
    local off
    off=$(log_size)
    reload=$(reload_wait)
    leaks=$(log_since "$off" | grep -c 'open socket .* left in connection' \
            || true)
    api=$(code "$GET_URL" -H "X-API-Key: $KEY")

    echo "    sent: $(val sent) ($(val sent_health) GET /health," \
         "$(val sent_get) GET by id, $(val sent_create) POST) in" \
         "$(val waves) waves of $wave, each under a 1 s ACCESS EXCLUSIVE" \
         "lock on contacts; connect failures $(val connect_failed)"
    echo "    at the reset: $(val inflight) still waiting for their" \
         "answer, $(val answered) already answered" \
         "($(cut -d' ' -f2- <<< "$(grep '^answered_statuses' "$out")"))"
    echo "    active connections (stub_status, this request included):" \
         "before $before, after $after (settled in $waited s)"
    echo "    reload: old workers gone in $reload s;" \
         "\"open socket ... left in connection\": $leaks"
    echo "    GET by id after: $api"
    expect resets "no connection left open (after = before)" \
        "$(yes_if [ "$after" = "$before" ])"
    expect resets "no \"open socket ... left\" at the reload" \
        "$(yes_if [ "$leaks" = 0 ])"
    expect resets "the old workers exited at the reload" \
        "$(yes_if [ "$reload" != timeout ])"
    expect resets "the API answers 200 after" "$(yes_if [ "$api" = 200 ])"
    expect resets "most resets hit a request in flight (> half)" \
        "$(yes_if num_cmp "$(val inflight)" '>' "$(($(val sent) / 2))")"
}


# ------------------------------------------------------- 2. restart

scenario_restart() {
    local out=$B/wrk-restart.txt probe=$B/probe-restart.txt
    local off acc0 acc1 wrk_pid probe_pid t_stop t_down t_up

    echo
    echo "== restart: PostgreSQL restarted (util/stack.sh run pg-stop," \
         "pg-start) 3 s into wrk -t2 -c64 -d10s GET by id"
    off=$(log_size)
    acc0=$(accepts)

    # the probe: one GET by id every 50 ms, "start end status"
    (
        while [ ! -e "$B/probe.stop" ]; do
            s=$EPOCHREALTIME
            c=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 \
                     -H "X-API-Key: $KEY" "$GET_URL" || true)
            echo "$s $EPOCHREALTIME $c"
            sleep 0.05
        done
    ) > "$probe" &
    probe_pid=$!
    rm -f "$B/probe.stop"

    wrk -t2 -c64 -d10s --timeout 10s --latency -s "$TOP/bench/fault.lua" \
        -H "X-API-Key: $KEY" "$GET_URL" > "$out" 2>&1 &
    wrk_pid=$!

    sleep 3
    t_stop=$EPOCHREALTIME
    PG_STOPPED=1
    "$TOP/util/stack.sh" run pg-stop || die "pg-stop failed"
    t_down=$EPOCHREALTIME
    "$TOP/util/stack.sh" run pg-start || die "pg-start failed"
    PG_STOPPED=
    t_up=$EPOCHREALTIME
    echo "pg-stop $t_stop stopped $t_down started $t_up" > "$B/restart-times.txt"

    wait "$wrk_pid" || true
    touch "$B/probe.stop"
    wait "$probe_pid" || true
    rm -f "$B/probe.stop"
    acc1=$(accepts)

    local st closes reqs ok2 s503 other sockerr p99 recovery outage
    local probes reconnects
    st=$(wrk_field "$out" statuses)
    closes=$(wrk_field "$out" closes)
    reqs=$(wrk_field "$out" reqs)
    ok2=$(status_count "$st" '^2')
    s503=$(status_count "$st" '^503$')
    other=$(status_count "$st" '^([^25]|5[^0]|50[^3])')
    sockerr=$(wrk_field "$out" sockerr)
    p99=$(wrk_field "$out" p99)
    # from pg-start's return (PostgreSQL accepts connections) to the end
    # of the first probe made after it that got 200
    recovery=$(awk -v up="$t_up" '$1 >= up && $3 == 200 {
                   printf "%.2f", $2 - up; found = 1; exit }
                   END { if (!found) print "never" }' "$probe")
    # what a client saw: from the first probe that did not get 200 to
    # the end of the next one that did
    outage=$(awk '$3 != 200 && !bad { bad = $1 }
                  bad && $3 == 200 { printf "%.2f", $2 - bad; ok = 1; exit }
                  END { if (!bad) print "none"; else if (!ok) print "never" }' \
                 "$probe")

    echo "    PostgreSQL: stopped in $(awk -v a="$t_stop" -v b="$t_down" \
         'BEGIN { printf "%.2f", b - a }') s, started again (accepting)" \
         "$(awk -v a="$t_down" -v b="$t_up" 'BEGIN { printf "%.2f", b - a }')" \
         "s later"
    echo "    wrk: $reqs requests: 2xx $ok2, 503 $s503, other $other;" \
         "socket errors: ${sockerr:-none}; p99 $p99"
    echo "    recovery: first 200 ${recovery} s after PostgreSQL accepted" \
         "connections again (probe every ~50 ms: $(wc -l < "$probe")" \
         "probes, $(awk '$3 != 200' "$probe" | wc -l) not 200)"
    echo "    outage as a client saw it: ${outage} s"
    # accepted: wrk's 64, one per probe, the stub_status request of acc1
    probes=$(wc -l < "$probe")
    reconnects=$((acc1 - acc0 - 64 - probes - 1))
    echo "    connections: $closes responses with \"Connection: close\";" \
         "nginx accepted $((acc1 - acc0)) during the run: wrk's 64," \
         "$probes of the probe, 1 stub_status, so $reconnects reconnects"
    log_report "$off" restart

    expect restart "only 200 and 503 (other: $other)" \
        "$(yes_if [ "$other" = 0 ])"
    expect restart "no socket errors" "$(yes_if [ -z "$sockerr" ])"
    expect restart "some 503s: the outage was seen ($s503)" \
        "$(yes_if [ "$s503" -gt 0 ])"
    expect restart "recovered within $RECOVERY_MAX s ($recovery s)" \
        "$(yes_if num_cmp "${recovery/never/999}" '<=' "$RECOVERY_MAX")"
    expect restart "503s keep the connection (no Connection: close)" \
        "$(yes_if [ "${closes:-1}" = 0 ])"
    expect restart "error log messages at most $LOG_MAX ($LOG_MSGS)" \
        "$(yes_if [ "$LOG_MSGS" -le "$LOG_MAX" ])"
}


# ---------------------------------------------------------- 3. pool

scenario_pool() {
    local out=$B/wrk-pool.txt off locker

    echo
    echo "== pool: contacts locked (ACCESS EXCLUSIVE) 5 s from the start" \
         "of wrk -t2 -c64 -d8s GET by id; pool 8 + queue 128 per worker," \
         "queue timeout 2 s"
    off=$(log_size)
    "$PG_BIN/psql" "$PG_DSN" -X -q -o /dev/null -v ON_ERROR_STOP=1 \
        -c "BEGIN; LOCK TABLE contacts IN ACCESS EXCLUSIVE MODE;
            SELECT pg_sleep(5); COMMIT;" &
    locker=$!
    for _ in $(seq 100); do
        [ "$(psql_crm -tA -c "SELECT count(*) FROM pg_stat_activity
                               WHERE wait_event = 'PgSleep'")" != 0 ] \
            && break
        sleep 0.05
    done

    wrk -t2 -c64 -d8s --timeout 10s --latency -s "$TOP/bench/fault.lua" \
        -H "X-API-Key: $KEY" "$GET_URL" > "$out" 2>&1 || true
    wait "$locker" || true

    local st reqs ok2 s503 other sockerr p50 p99 closes api
    st=$(wrk_field "$out" statuses)
    reqs=$(wrk_field "$out" reqs)
    ok2=$(status_count "$st" '^2')
    s503=$(status_count "$st" '^503$')
    other=$(status_count "$st" '^([^25]|5[^0]|50[^3])')
    sockerr=$(wrk_field "$out" sockerr)
    p50=$(wrk_field "$out" p50)
    p99=$(wrk_field "$out" p99)
    closes=$(wrk_field "$out" closes)
    api=$(code "$GET_URL" -H "X-API-Key: $KEY")

    echo "    wrk: $reqs requests: 2xx $ok2, 503 $s503, other $other;" \
         "socket errors: ${sockerr:-none}; p50 $p50, p99 $p99;" \
         "Connection: close $closes"
    log_report "$off" pool
    echo "    GET by id after: $api"

    expect pool "only 200 and 503 (other: $other)" \
        "$(yes_if [ "$other" = 0 ])"
    expect pool "no socket errors" "$(yes_if [ -z "$sockerr" ])"
    expect pool "p99 within the statement timeout + 1 s (6 s): $p99" \
        "$(yes_if num_cmp "$(ms "$p99")" '<=' 6000)"
    expect pool "error log messages at most $LOG_MAX ($LOG_MSGS)" \
        "$(yes_if [ "$LOG_MSGS" -le "$LOG_MAX" ])"
    expect pool "requests served again after the lock ($ok2 2xx)" \
        "$(yes_if [ "$ok2" -gt 0 ] && [ "$api" = 200 ])"
}


# -------------------------------------------------------- 4. search

scenario_search() {
    local base=$B/wrk-search-baseline.txt off

    echo
    echo "== search: tenant S runs 16 connections of searches matching all" \
         "of its $seeded contacts, retrying at once (flood), then as a"
    echo "   client that honours Retry-After (polite); tenant A does GET by" \
         "id meanwhile (wrk -t2 -c8 -d8s), and alone first (-d5s)"
    off=$(log_size)

    wrk -t2 -c8 -d5s --timeout 10s --latency -s "$TOP/bench/fault.lua" \
        -H "X-API-Key: $KEY" "$GET_URL" > "$base" 2>&1 || true

    local b50 b99 brps
    b50=$(wrk_field "$base" p50); b99=$(wrk_field "$base" p99)
    brps=$(wrk_field "$base" rps)
    echo "    tenant A alone:   $brps req/s, p50 $b50, p99 $b99;" \
         "statuses $(wrk_field "$base" statuses)"

    local mode backoff load srch spid lst sst l50 l99 lrps lnon sockerr
    for mode in flood polite; do
        backoff=0
        [ "$mode" = polite ] && backoff=1
        load=$B/wrk-search-$mode-victim.txt
        srch=$B/wrk-search-$mode-searcher.txt

        FAULT_PATHS=$SEARCH_PATHS FAULT_BACKOFF=$backoff \
        wrk -t1 -c16 -d10s --timeout 15s --latency \
            -s "$TOP/bench/fault.lua" -H "X-API-Key: $SEED_KEY" \
            "$BASE/" > "$srch" 2>&1 &
        spid=$!
        sleep 1
        wrk -t2 -c8 -d8s --timeout 10s --latency -s "$TOP/bench/fault.lua" \
            -H "X-API-Key: $KEY" "$GET_URL" > "$load" 2>&1 || true
        wait "$spid" || true

        lst=$(wrk_field "$load" statuses)
        sst=$(wrk_field "$srch" statuses)
        l50=$(wrk_field "$load" p50); l99=$(wrk_field "$load" p99)
        lrps=$(wrk_field "$load" rps)
        lnon=$(status_count "$lst" '^[^2]')
        sockerr=$(wrk_field "$load" sockerr)

        echo "    $mode: tenant S (10 s): $(wrk_field "$srch" reqs)" \
             "answers: $sst; p50 $(wrk_field "$srch" p50)," \
             "p99 $(wrk_field "$srch" p99)"
        echo "    $mode: tenant A: $lrps req/s, p50 $l50, p99 $l99;" \
             "statuses $lst; socket errors ${sockerr:-none}"
        echo "    $mode: tenant A against alone: p50 x$(awk \
             -v a="$(ms "$l50")" -v b="$(ms "$b50")" \
             'BEGIN { printf "%.1f", (b > 0 ? a / b : 0) }'), p99 x$(awk \
             -v a="$(ms "$l99")" -v b="$(ms "$b99")" \
             'BEGIN { printf "%.1f", (b > 0 ? a / b : 0) }'), req/s" \
             "x$(awk -v a="$lrps" -v b="$brps" \
             'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }')"

        expect search "$mode: tenant A got only 2xx ($lnon other)" \
            "$(yes_if [ "$lnon" = 0 ])"
        expect search "$mode: tenant A had no socket errors" \
            "$(yes_if [ -z "$sockerr" ])"
        expect search "$mode: tenant A's p99 at most 500 ms ($l99)" \
            "$(yes_if num_cmp "$(ms "$l99")" '<=' 500)"
    done
    log_report "$off" search
}


# -------------------------------------------------------- 5. bodies

# the request bodies the workers hold in temporary files (unlinked, so
# seen through /proc): "N files, M MiB"
spooled() {
    local pid fd n=0 size=0
    for pid in $(workers); do
        for fd in /proc/"$pid"/fd/*; do
            case $(readlink "$fd" 2>/dev/null) in
                */client_body/*)
                    n=$((n + 1))
                    size=$((size + $(stat -L -c %s "$fd" 2>/dev/null \
                                     || echo 0))) ;;
            esac
        done
    done
    echo "$n files, $((size / 1048576)) MiB"
}

scenario_bodies() {
    local out rss0 rss1 rss2 py held active_held sent spooled

    echo
    echo "== bodies: 300 connections send a POST with Content-Length:" \
         "1000000 and 10 bytes of body, hold 5 s, close; then the same"
    echo "   with 900,000 bytes of the body sent (the rest never comes)"
    for sent in 10 900000; do
        out=$B/py-bodies-$sent.txt
        rss0=$(workers_rss)
        python3 "$TOP/bench/fault.py" bodies "$PORT" 300 "$sent" 5 "$KEY" \
            > "$out" &
        py=$!
        for _ in $(seq 200); do
            grep -q '^held' "$out" 2>/dev/null && break
            sleep 0.05
        done
        sleep 2
        rss1=$(workers_rss)
        active_held=$(active)
        spooled=$(spooled)
        wait "$py" || true
        sleep 2
        rss2=$(workers_rss)
        held=$(sed -n 's/^held \([0-9]*\).*/\1/p' "$out")

        echo "    $sent bytes sent: $(head -1 "$out"); active connections" \
             "while held: $active_held; bodies in nginx's temporary" \
             "files: $spooled"
        echo "    $sent bytes sent: worker RSS (sum of $WORKERS workers):" \
             "before $((rss0 / 1024)) MiB, held $((rss1 / 1024)) MiB" \
             "(+$(((rss1 - rss0) / 1024)) MiB," \
             "$(( held > 0 ? (rss1 - rss0) / held : 0 )) KiB a" \
             "connection), 2 s after close $((rss2 / 1024)) MiB" \
             "(+$(((rss2 - rss0) / 1024)) MiB)"
        expect bodies "$sent bytes sent: all 300 held" \
            "$(yes_if [ "${held:-0}" = 300 ])"
        expect bodies "$sent bytes sent: held, at most 64 KiB of worker" \
            "memory a connection" \
            "$(yes_if [ $((rss1 - rss0)) -le $((300 * 64)) ])"
        expect bodies "$sent bytes sent: after close, at most 16 MiB" \
            "above before" \
            "$(yes_if [ $((rss2 - rss0)) -le $((16 * 1024)) ])"
    done
}


# ---------------------------------------------------------- 6. junk

# api_keys scans: every lookup of a credential reads api_keys once
# (db_auth_lookup(), by prefix: an index scan, or a sequential one on
# a small table); read after the sessions that did it have ended
key_scans() {
    psql_crm -tA -c "SELECT coalesce(seq_scan, 0) + coalesce(idx_scan, 0)
                       FROM pg_stat_user_tables WHERE relname = 'api_keys'"
}

scenario_junk() {
    local out=$B/wrk-junk.txt s0 s1 r0 r1 t0 t1 wpid

    echo
    echo "== junk: 20,000 requests, each with a new random" \
         "X-API-Key crmk_<40 hex>, from 127.0.0.1 (wrk -t2 -c16)"
    # the statistics of the sessions so far are written when they end
    r0=$(reload_wait)
    s0=$(key_scans)
    t0=$EPOCHREALTIME
    rm -f "$B/wrk.done"
    FAULT_JUNK=1 FAULT_REQUESTS=10000 FAULT_DONE_FILE=$B/wrk.done \
    wrk -t2 -c16 -d60s --timeout 10s --latency -s "$TOP/bench/fault.lua" \
        "$GET_URL" > "$out" 2>&1 &
    wpid=$!
    # both threads have their 10,000: SIGINT makes wrk stop and report
    while kill -0 "$wpid" 2>/dev/null; do
        if [ "$(wc -l 2>/dev/null < "$B/wrk.done" || echo 0)" -ge 2 ]; then
            kill -INT "$wpid" 2>/dev/null || true
            break
        fi
        sleep 0.05
    done
    wait "$wpid" || true
    t1=$EPOCHREALTIME
    r1=$(reload_wait)
    s1=$(key_scans)

    local st n401 n429 other total lookups secs bound what
    st=$(wrk_field "$out" statuses)
    n401=$(status_count "$st" '^401$')
    n429=$(status_count "$st" '^429$')
    other=$(status_count "$st" '^([^4]|4[^02]|40[^1]|42[^9])')
    total=$((n401 + n429 + other))
    lookups=$((s1 - s0))
    secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
    # crm_auth_fail_limit per_minute=30: a burst of 30, then one every 2 s
    bound=$(awk -v s="$secs" 'BEGIN { printf "%d", 30 + s / 2 + 5 }')

    echo "    $total answers in $secs s ($(wrk_field "$out" rps) req/s):" \
         "401 $n401, 429 $n429, other $other"
    echo "    database lookups: $lookups (scans of api_keys in" \
         "pg_stat_user_tables, read after reloads that ended the sessions:" \
         "$r0 s, $r1 s); $(awk -v l="$lookups" -v t="$total" \
         'BEGIN { printf "%.2f", (t > 0 ? 1000 * l / t : 0) }') per 1000" \
         "requests (without negative caching and crm_auth_fail_limit: 1000)"

    expect junk "20,000 answers ($total)" \
        "$(yes_if [ "$total" -ge 20000 ])"
    expect junk "only 401 and 429 (other: $other)" \
        "$(yes_if [ "$other" = 0 ])"
    what="lookups within crm_auth_fail_limit's budget for $secs s"
    what+=": 30 + 1 every 2 s + 5 ($bound)"
    expect junk "$what" "$(yes_if [ "$lookups" -le "$bound" ])"
}


want resets  && scenario_resets
want restart && scenario_restart
want pool    && scenario_pool
want search  && scenario_search
want bodies  && scenario_bodies
want junk    && scenario_junk

echo
echo "fault: done in $(awk -v a="$T_START" -v b="$EPOCHREALTIME" \
     'BEGIN { printf "%.0f", b - a }') s; raw outputs in $B/"

# what nginx said at alert level or worse, in any scenario
if grep -qE '\[(emerg|alert|crit)\]' "$B/logs/error.log"; then
    n=$(grep -cE '\[(emerg|alert|crit)\]' "$B/logs/error.log")
    loud "$n [emerg], [alert] or [crit] lines in $B/logs/error.log;" \
         "the last ones:" \
         "$(grep -E '\[(emerg|alert|crit)\]' "$B/logs/error.log" | tail -5)"
    FAILED+=("[alert] or worse in the error log")
fi

if [ ${#FAILED[@]} -gt 0 ]; then
    loud "EXPECTATIONS NOT MET:" "${FAILED[@]}"
    exit 1
fi
echo "fault: every scenario met its expectations"
