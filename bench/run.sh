#!/usr/bin/env bash
# bench/run.sh: throughput and latency of the CRM API under wrk, next to
# a static nginx response of the same size (the ceiling).  See bench/README.
#
#   bench/run.sh                      all four runs, 10 s each
#   BENCH_DURATION=30s bench/run.sh   longer runs
#   BENCH_ONLY="static get" bench/run.sh
#
# Environment (defaults in brackets):
#   BENCH_ROWS         contacts seeded in the bench workspace [10000]
#   BENCH_PORT         port of the bench nginx on 127.0.0.1 [8091;
#                      seed: 8092]
#   BENCH_DURATION     wrk -d per run [10s]
#   BENCH_CONNECTIONS  wrk -c [64; seed: 64, but 4 for q and search and
#                      8 for bulk, which take ~0.1-2 s a request at 1M]
#   BENCH_TIMEOUT      wrk --timeout: slower responses count as socket
#                      errors [2s, wrk's default; seed: 10s]
#   BENCH_THREADS      wrk -t [2]
#   BENCH_WARMUP       unreported wrk run before each run [2s]; 0: none
#   BENCH_WORKERS      nginx worker_processes [2]
#   BENCH_POOL         crm_postgres_pool_size, per worker [8]
#   BENCH_LIMITS       none: no crm_rate_limit, no access log (the API's
#                      own figures); cluster: as "make run" has it,
#                      crm_rate_limit ... cluster on the run stack's Redis
#                      (started when down; limits that never refuse) and
#                      the access log on, with Redis' CPU in the table
#                      [none]
#   BENCH_ONLY         subset of: static get list create pginsert pgbare
#                      (the last two: pgbench's plain insert of a
#                      contact, create's baselines), and with
#                      BENCH_DATA=seed: filter deals deep q search bulk
#                      aemails ahour acampaign acontact (analytics:
#                      bench/analytics.sh) [static get list create
#                      pginsert pgbare; seed: the six]
#   BENCH_DATA         bench: the script's own workspace of BENCH_ROWS
#                      contacts, seeded every run [bench]; seed: the
#                      workspace of "make seed N=..." (not seeded here;
#                      bench/scale.sh sets this), with its own nginx
#                      prefix .run/bench-scale/
#   BENCH_KEEP_PG      1: leave the run stack's PostgreSQL up even when
#                      this script started it [0]
#   BENCH_SKIP_MAKE    1: do not run "make" (use build/ as it is) [0]
#   BENCH_MODULE       the module to load, e.g. another build's, for a
#                      before/after [build/ngx_http_crm_module.so]
#   CRM_PG_PORT        PostgreSQL of the run stack, when .run/run/ports
#                      does not say [54320]
#
# It uses the PostgreSQL of the "make run" stack (starting it when it is
# down, and stopping it again at the end), seeds a dedicated workspace
# (bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb) and starts its own nginx from
# .run/bench/ (git-ignored): the nginx of "make run" is not touched.
# Raw wrk output and the nginx logs stay in .run/bench/ (seed mode:
# .run/bench-scale/).  What it shares with bench/fault.sh (starting the
# run stack's PostgreSQL and its nginx, reading wrk's output) is in
# bench/lib.sh.
#
# Exit status: 0 when every run got only 2xx responses and no socket
# errors, 1 otherwise (after all runs) or when the seed workspace is
# empty, 2 on a setup failure.

set -euo pipefail

TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
ME=bench/run.sh
TAG=bench
# shellcheck source=bench/lib.sh
. "$TOP/bench/lib.sh"

ROWS=${BENCH_ROWS:-10000}
DURATION=${BENCH_DURATION:-10s}
CONNS=${BENCH_CONNECTIONS:-64}
THREADS=${BENCH_THREADS:-2}
WARMUP=${BENCH_WARMUP:-2s}
WORKERS=${BENCH_WORKERS:-2}
POOL=${BENCH_POOL:-8}
DATA=${BENCH_DATA:-bench}
LIMITS=${BENCH_LIMITS:-none}
case $LIMITS in
    none|cluster) ;;
    *) echo "bench: BENCH_LIMITS is none or cluster" >&2; exit 2 ;;
esac
# the bench nginx's prefix (config, logs, raw wrk output) and port
case $DATA in
    bench) ONLY=${BENCH_ONLY:-static get list create pginsert pgbare}
           B=$TOP/.run/bench
           PORT=${BENCH_PORT:-8091}
           TIMEOUT=${BENCH_TIMEOUT:-2s} ;;
    seed)  ONLY=${BENCH_ONLY:-filter deals deep q search bulk}
           B=$TOP/.run/bench-scale
           PORT=${BENCH_PORT:-8092}
           TIMEOUT=${BENCH_TIMEOUT:-10s} ;;
    *)     echo "bench: BENCH_DATA is bench or seed" >&2; exit 2 ;;
esac

WS=bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb
# seeded contact n has the id bbbbbbbb-0000-4000-8000-<n as 12 hex digits>
CONTACT_ID=bbbbbbbb-0000-4000-8000-000000000001
if [ "$DATA" = seed ]; then
    # util/seed.sh's workspace and ids
    WS=cccccccc-cccc-4ccc-8ccc-cccccccccccc
    CONTACT_ID=cccccccc-0002-4000-8000-000000000001
fi
BASE=http://127.0.0.1:$PORT

numbers ROWS PORT CONNS THREADS WORKERS POOL
[ "$ROWS" -ge 1 ] || die "BENCH_ROWS must be at least 1"
for name in $ONLY; do
    case $name in
        static|get|list|create|pginsert|pgbare) ;;
        filter|deals|deep|q|search|bulk|aemails|ahour|acampaign|acontact)
            [ "$DATA" = seed ] \
                || die "BENCH_ONLY: '$name' runs on the seed workspace" \
                       "(bench/scale.sh)" ;;
        *) die "BENCH_ONLY: unknown run '$name' (static get list create" \
               "pginsert pgbare;" \
               "bench/scale.sh: filter deals deep q search bulk)" ;;
    esac
done

# conns_of NAME: wrk -c of the run NAME.  At scale, q and search take
# 0.1-2 s a request: 64 connections would only queue past the timeouts
conns_of() {
    if [ -n "${BENCH_CONNECTIONS:-}" ] || [ "$DATA" != seed ]; then
        echo "$CONNS"
        return
    fi
    case $1 in
        q|search) echo 4 ;;
        bulk)     echo 8 ;;
        *)        echo "$CONNS" ;;
    esac
}

# drop NAME: the run NAME is not to be made (want NAME: it is)
drop() { ONLY=$(echo " $ONLY " | sed "s/ $1 / /; s/^ *//; s/ *$//"); }


# ------------------------------------------------------------ prerequisites

if ! command -v wrk > /dev/null; then
    if is_root && command -v apt-get > /dev/null; then
        echo "bench: installing wrk"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q wrk > /dev/null \
            || { apt-get update -q > /dev/null \
                 && DEBIAN_FRONTEND=noninteractive \
                    apt-get install -y -q wrk > /dev/null; } \
            || die "cannot install wrk"
    else
        die "wrk is missing: apt-get install wrk (or run util/deps.sh)"
    fi
fi
tools=(curl "$NGINX_BIN" "$PG_BIN/psql" "$PG_BIN/pg_isready")
if want pginsert || want pgbare; then
    tools+=("$PG_BIN/pgbench")
fi
for tool in "${tools[@]}"; do
    command -v "$tool" > /dev/null || die "missing $tool (run util/deps.sh)"
done

build "${BENCH_SKIP_MAKE:-0}"


# ----------------------------------------------- PostgreSQL of the run stack

PG_PORT=$(run_port PG_PORT "${CRM_PG_PORT:-54320}")
[ -n "$PG_PORT" ] || die "no PG_PORT in .run/run/ports"
PG_DSN="host=127.0.0.1 port=$PG_PORT dbname=crm user=crm"

PG_STARTED=        # what this script started: "", "pg" or "stack"
NGINX_PID=
REDIS_STARTED=
REDIS_PORT=$(run_port REDIS_PORT "${CRM_REDIS_PORT:-63790}")

cleanup() {
    local status=$?
    trap - EXIT INT TERM
    nginx_stop
    if [ -n "$REDIS_STARTED" ] && [ "$PG_STARTED" != stack ]; then
        "$TOP/util/stack.sh" run redis-stop \
            && echo "bench: stopped Redis of the run stack again"
    fi
    if [ -n "$PG_STARTED" ]; then
        if [ "${BENCH_KEEP_PG:-0}" = 1 ]; then
            echo "bench: PostgreSQL of the run stack (127.0.0.1:$PG_PORT)" \
                 "was started by this script and is left up (BENCH_KEEP_PG=1);" \
                 "stop it with: make stop"
        elif [ "$PG_STARTED" = pg ]; then
            "$TOP/util/stack.sh" run pg-stop \
                && echo "bench: stopped PostgreSQL of the run stack again"
        else
            "$TOP/util/stack.sh" run down \
                && echo "bench: stopped the run stack again (make run had" \
                        "not been up)"
        fi
    fi
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

pg_up
if [ "$LIMITS" = cluster ]; then
    [ -n "$REDIS_PORT" ] || die "no REDIS_PORT in .run/run/ports"
    if ! redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null \
            | grep -q PONG; then
        echo "bench: starting Redis of the run stack" \
             "(util/stack.sh run redis-start)"
        REDIS_STARTED=1
        "$TOP/util/stack.sh" run redis-start || die "cannot start Redis"
    fi
fi
# the schema as make run has it (quiet when up to date)
"$TOP/util/migrate.sh" run || die "util/migrate.sh run failed"


# -------------------------------------------------------------------- seed

if [ "$DATA" = seed ]; then
    seeded=$(psql_crm -tA -c "SELECT count(*) FROM contacts
                               WHERE workspace_id = '$WS'") \
        || die "cannot count the seed workspace's contacts"
    if [ "${seeded:-0}" -eq 0 ]; then
        echo "bench: the seed workspace $WS is empty:" \
             "run make seed N=1000000 first" >&2
        exit 1
    fi
    echo "bench: the seed workspace $WS holds $seeded contacts"
fi

# bench_rows_out: deletes the contacts the bulk run and the preflight
# made in the seed workspace (emails @bench.example; the seed's are
# @example.com), so that every scale run sees the seed as make seed left
# it: they are the newest contacts, and a list ordered by createdAt
# would walk past them first
bench_rows_out() {
    local gone
    gone=$(psql_crm -tA <<EOF
WITH d AS (DELETE FROM contacts
            WHERE workspace_id = '$WS' AND email LIKE '%@bench.example'
           RETURNING 1)
SELECT count(*) FROM d;
EOF
    ) || die "cannot delete the rows of earlier bulk runs"
    if [ "${gone:-0}" -gt 0 ]; then
        psql_crm -c "VACUUM (ANALYZE) contacts" || die "VACUUM failed"
        echo "bench: deleted the $gone contacts bulk runs had created"
    fi
}
if [ "$DATA" = seed ]; then
    bench_rows_out
fi

# the custom fields the seed below and bench/create.lua write
psql_crm <<EOF || die "cannot define the custom fields"
INSERT INTO workspaces (id, name) VALUES ('$WS', 'Bench')
    ON CONFLICT (id) DO NOTHING;
INSERT INTO custom_fields (workspace_id, object, name, type)
VALUES ('$WS', 'contacts', 'n', 'number'),
       ('$WS', 'contacts', 'thread', 'number')
    ON CONFLICT (workspace_id, object, name) WHERE deleted_at IS NULL
    DO NOTHING;
EOF

if [ "$DATA" = bench ]; then
echo "bench: seeding workspace $WS with $ROWS contacts"
psql_crm -1 <<EOF || die "seeding failed"
INSERT INTO workspaces (id, name) VALUES ('$WS', 'Bench')
    ON CONFLICT (id) DO NOTHING;
DELETE FROM contacts WHERE workspace_id = '$WS';
INSERT INTO contacts (workspace_id, id, first_name, last_name, email, phone,
                      title, status, source, tags, custom_fields,
                      created_at, updated_at)
SELECT '$WS',
       ('bbbbbbbb-0000-4000-8000-' || lpad(to_hex(g), 12, '0'))::uuid,
       'First' || g, 'Last' || g, 'bench' || g || '@bench.example',
       '+1555' || lpad(g::text, 7, '0'), 'Engineer', 'active', 'bench',
       ARRAY['bench'], jsonb_build_object('n', g),
       timestamptz '2026-01-01 00:00:00+00' - g * interval '1 second',
       timestamptz '2026-01-01 00:00:00+00'
  FROM generate_series(1, $ROWS) AS g;
EOF
psql_crm -c "VACUUM ANALYZE contacts" || die "VACUUM ANALYZE failed"
fi


# ------------------------------------------------------------------- nginx

KEY=$(bench_key "$B/bench.key" crm_bench)

# the ceiling: a fixed body shaped and sized like GET /contacts/{id}
STATIC_BODY='{"data":{"id":"bbbbbbbb-0000-4000-8000-000000000001","firstName":"First1","lastName":"Last1","email":"bench1@bench.example","phone":"+15550000001","title":"Engineer","companyId":null,"ownerId":null,"status":"active","source":"bench","tags":["bench"],"customFields":{"n":1},"createdAt":"2025-12-31T23:59:59.000Z","updatedAt":"2026-01-01T00:00:00.000Z"},"meta":{"requestId":"req_0123456789abcdef01234567","timestamp":"2026-01-01T00:00:00.000Z"}}'

if [ "$LIMITS" = cluster ]; then
    # make run's limits and access log; limits that never refuse
    LIMIT_CONF="    crm_redis 127.0.0.1:$REDIS_PORT;
    crm_rate_limit zone=bench_limit:10m per_minute=100000000
                   per_hour=1000000000 cluster;"
    LOG_FORMAT="    log_format crm '\$remote_addr [\$time_local] \"\$request\" \$status '
                   '\$body_bytes_sent \$request_time '
                   'ws=\$crm_workspace who=\$crm_principal '
                   'budget=\$crm_ratelimit_remaining';"
    ACCESS_LOG="logs/access.log crm"
    echo "bench: BENCH_LIMITS=cluster: cluster rate limits on Redis" \
         "127.0.0.1:$REDIS_PORT, access log on"
else
    LIMIT_CONF="    # no crm_rate_limit: nothing is counted or refused, the
    # figures are the API's own"
    LOG_FORMAT=
    ACCESS_LOG=off
fi

cat > "$B/conf/nginx.conf.new" <<EOF
$(nginx_main 4096)

http {
    default_type  application/json;
$LOG_FORMAT
    access_log    $ACCESS_LOG;
    server_tokens off;

$(nginx_temp_paths)

    crm_postgres "$PG_DSN";
    crm_postgres_pool_size $POOL;
    crm_cursor_secret bench-cursor-secret-not-for-production-0123456789;
    crm_api_key $KEY $WS;
$LIMIT_CONF

    server {
        listen 127.0.0.1:$PORT;
        server_name localhost;

        location /api/v1/ {
            crm_api;
        }

        location = /static.json {
            default_type application/json;
            return 200 '$STATIC_BODY';
        }
    }
}
EOF
chmod 600 "$B/conf/nginx.conf.new"     # holds the key
mv -f "$B/conf/nginx.conf.new" "$B/conf/nginx.conf"

nginx_start
echo "bench: nginx (pid $NGINX_PID) on $BASE, config $B/conf/nginx.conf"


# --------------------------------------------------------------- preflight

# check STATUS WHAT REQUEST... : curl's status must be STATUS
check() {
    local want=$1 what=$2 got
    shift 2
    got=$(curl -s -o "$B/preflight.body" -w '%{http_code}' "$@") || got=000
    if [ "$got" != "$want" ]; then
        echo "bench: preflight $what: HTTP $got, expected $want:" >&2
        head -c 600 "$B/preflight.body" >&2; echo >&2
        tail -20 "$B/logs/error.log" >&2
        die "preflight failed"
    fi
}

# probe NAME STATUS REQUEST... : like check, for an endpoint that may not
# be in this build yet: a 404 prints "NAME: not available" and drops the
# run NAME
probe() {
    local name=$1 want=$2 got
    shift 2
    got=$(curl -s -o "$B/preflight.body" -w '%{http_code}' "$@") || got=000
    if [ "$got" = 404 ]; then
        echo "$name: not available (HTTP 404: not in this build)"
        drop "$name"
    elif [ "$got" != "$want" ]; then
        echo "bench: preflight $name: HTTP $got, expected $want:" >&2
        head -c 600 "$B/preflight.body" >&2; echo >&2
        tail -20 "$B/logs/error.log" >&2
        die "preflight failed"
    fi
}

# url_of NAME: the URL of a scale run
url_of() {
    case $1 in
        filter) echo "$FILTER_URL" ;;
        deals)  echo "$DEALS_URL" ;;
        deep)   echo "$DEEP_URL" ;;
        q)      echo "$Q_URL" ;;
        search) echo "$SEARCH_URL" ;;
        aemails)   echo "$BASE/api/v1/analytics/emails" ;;
        ahour)     echo "$BASE/api/v1/analytics/emails?interval=hour&from=$(date -u -d '-30 days' +%Y-%m-%dT%H:%M:%SZ)" ;;
        acampaign) echo "$BASE/api/v1/analytics/campaigns/cccccccc-0008-4000-8000-000000000001" ;;
        acontact)  echo "$BASE/api/v1/analytics/contacts/$CONTACT_ID" ;;
    esac
}

check 200 static "$BASE/static.json"
static_size=$(wc -c < "$B/preflight.body")
check 200 "GET by id" -H "X-API-Key: $KEY" "$BASE/api/v1/contacts/$CONTACT_ID"
get_size=$(wc -c < "$B/preflight.body")
check 200 list -H "X-API-Key: $KEY" "$BASE/api/v1/contacts?limit=50"
list_size=$(wc -c < "$B/preflight.body")
if [ "$DATA" = bench ]; then
check 201 create -H "X-API-Key: $KEY" -H 'Content-Type: application/json' \
    --data "{\"email\":\"preflight-$(date +%s%N)@bench.example\"}" \
    "$BASE/api/v1/contacts"
fi
echo "bench: response bodies: static $static_size B, GET by id $get_size B," \
     "list of 50 $list_size B"

# the URLs of the scale runs (BENCH_DATA=seed)
FILTER_URL="$BASE/api/v1/contacts?status=customer&sort=-createdAt&limit=50"
DEALS_URL="$BASE/api/v1/deals?amount%5Bgte%5D=50000&status=open&limit=50"
Q_URL="$BASE/api/v1/contacts?q=smith&limit=20"
SEARCH_URL="$BASE/api/v1/search?q=jonson&types=contacts,companies,deals&limit=20"
DEEP_URL=
if [ "$DATA" = seed ]; then
    # a cursor half-way through the workspace: the newest contact created
    # before the middle of the seed's two years, as a created_before
    # filter's first page hands it out (meta.cursor.next)
    if want deep; then
        half=$(date -u -d '-365 days' +%Y-%m-%dT%H:%M:%SZ)
        check 200 "deep cursor" -H "X-API-Key: $KEY" \
            "$BASE/api/v1/contacts?limit=50&created_before=$half"
        next=$(sed -n 's/.*"next":"\([^"]*\)".*/\1/p' "$B/preflight.body")
        [ -n "$next" ] || die "no cursor in the deep page's answer"
        DEEP_URL="$BASE/api/v1/contacts?limit=50&created_before=$half&cursor=$next"
    fi
    for name in filter deals q deep; do
        if want $name; then
            url=$(url_of $name)
            check 200 "$name $url" -H "X-API-Key: $KEY" "$url"
        fi
    done

    # endpoints that may not be in this build yet
    if want search; then
        probe search 200 -H "X-API-Key: $KEY" "$SEARCH_URL"
    fi
    # analytics (sql/021), when in this build
    for name in aemails ahour acampaign acontact; do
        if want $name; then
            probe $name 200 -H "X-API-Key: $KEY" "$(url_of $name)"
        fi
    done
    if want bulk; then
        probe bulk 200 -H "X-API-Key: $KEY" \
            -H 'Content-Type: application/json' \
            --data "{\"operations\":[{\"method\":\"create\",\"data\":
                    {\"email\":\"preflight-$(date +%s%N)@bench.example\",
                     \"firstName\":\"x\"}}],\"atomic\":false}" \
            "$BASE/api/v1/contacts/bulk"
    fi
fi


# -------------------------------------------------------------- accounting

HZ=$(getconf CLK_TCK)

# ---------------------------------------------------------------- the runs

declare -A RPS
FAILED=()
NOISY=()
RESULTS=()

# run NAME URL [wrk options...]
run() {
    local name=$1 url=$2 out=$B/wrk-$1.txt wrk_lua='' conns
    shift 2
    case " $* " in *" -s "*) wrk_lua=1 ;; esac
    conns=$(conns_of "$name")
    local wrk=(wrk "-t$THREADS" "-c$conns" -d"$DURATION" --latency
               --timeout "$TIMEOUT" -H "X-API-Key: $KEY" "$@" "$url")

    if [ "$WARMUP" != 0 ]; then
        wrk "-t$THREADS" "-c$conns" -d"$WARMUP" --timeout "$TIMEOUT" \
            -H "X-API-Key: $KEY" \
            "$@" "$url" > "$B/wrk-$name-warmup.txt" 2>&1 || true
    fi

    local m0 m1 n p rd wu ws other status=0
    nginx_pids | ticks > "$B/cpu-nginx.0"
    pg_pids | ticks > "$B/cpu-pg.0"
    redis_pids | ticks > "$B/cpu-redis.0"
    m0=$(machine_ticks)

    # a snapshot of top from 1 s to 3 s into the run, for the record
    ( sleep 1; top -b -d 2 -n 2 -w 200 2>/dev/null \
          | awk '/^top -/ { n++ } n == 2' | head -45 > "$B/top-$name.txt" ) &
    local top_pid=$!

    local TIMEFORMAT='%U %S'
    { time "${wrk[@]}" > "$out" 2>&1 || status=$?; } 2> "$B/wrk-$name.time"

    nginx_pids | ticks > "$B/cpu-nginx.1"
    pg_pids | ticks > "$B/cpu-pg.1"
    redis_pids | ticks > "$B/cpu-redis.1"
    m1=$(machine_ticks)
    n=$(ticks_delta "$B/cpu-nginx.0" "$B/cpu-nginx.1")
    p=$(ticks_delta "$B/cpu-pg.0" "$B/cpu-pg.1")
    rd=$(ticks_delta "$B/cpu-redis.0" "$B/cpu-redis.1")
    wait "$top_pid" || true

    if [ "$status" -ne 0 ]; then
        cat "$out" >&2
        loud "$name: wrk failed (exit $status)"
        FAILED+=("$name: wrk failed")
        return 0
    fi

    local rps p50 p99 non2xx reqs sockerr
    rps=$(wrk_field "$out" rps)
    p50=$(wrk_field "$out" p50)
    p99=$(wrk_field "$out" p99)
    non2xx=$(awk '/Non-2xx or 3xx responses:/ { print $NF }' "$out")
    non2xx=${non2xx:-0}
    reqs=$(wrk_field "$out" reqs)
    sockerr=$(wrk_field "$out" sockerr)
    RPS[$name]=${rps:-0}

    local line
    line=$(printf '%-8s %10s req/s   p50 %9s   p99 %9s   non-2xx %s' \
           "$name" "${rps:-?}" "${p50:-?}" "${p99:-?}" "$non2xx")
    if [ "$conns" != "$CONNS" ]; then
        line+="   (-c$conns)"
    fi
    if [ "$non2xx" != 0 ] || [ -n "$sockerr" ]; then
        line+="   <== NOT CLEAN"
    fi
    echo "$line"
    RESULTS+=("$line")

    # where the CPU went: seconds of CPU per second of wall time (1.00 =
    # one core busy), and microseconds of CPU per request
    read -r wu ws < "$B/wrk-$name.time"
    awk -v n="$n" -v p="$p" -v rd="$rd" -v hz="$HZ" \
        -v wu="$wu" -v ws="$ws" -v m0="$m0" -v m1="$m1" \
        -v reqs="${reqs:-0}" -v ncpu="$(nproc)" '
        BEGIN {
            split(m0, a, " "); split(m1, b, " ")
            for (i = 1; i <= 5; i++) d[i] = (b[i] - a[i]) / hz
            wall = d[5] / ncpu
            ng = n / hz; pg = p / hz; re = rd / hz; wr = wu + ws
            other = d[1] - ng - pg - re - wr; if (other < 0) other = 0
            printf "         cpu (cores): nginx %.2f  postgres %.2f  redis" \
                   " %.2f  wrk %.2f  irq %.2f  other %.2f  steal %.2f" \
                   "  idle %.2f  of %d\n",
                   ng / wall, pg / wall, re / wall, wr / wall, d[2] / wall,
                   other / wall, d[3] / wall, d[4] / wall, ncpu
            if (reqs > 0)
                printf "         cpu per request: nginx %.0f us  postgres" \
                       " %.0f us  redis %.1f us  wrk %.0f us\n",
                       ng * 1e6 / reqs, pg * 1e6 / reqs, re * 1e6 / reqs,
                       wr * 1e6 / reqs
            printf "%.2f\n", other / wall > "/dev/stderr"
        }' 2> "$B/cpu-other"
    other=$(cat "$B/cpu-other")
    if awk -v o="$other" 'BEGIN { exit !(o > 0.2) }'; then
        echo "         WARNING: other processes used $other cores during" \
             "this run: the machine was not quiet, the figures are too low"
        NOISY+=("$name: other processes used $other cores")
    fi

    if [ -n "$sockerr" ]; then
        loud "$name: socket errors: $sockerr"
        FAILED+=("$name: socket errors ($sockerr)")
    fi
    if [ "$non2xx" != 0 ]; then
        # what went wrong: the statuses counted by a Lua script, or else
        # one request made again with curl
        local why
        why=$(grep -h '^statuses:' "$out" || true)
        if [ -z "$why" ] && [ -z "$wrk_lua" ]; then
            why="a request again: HTTP $(curl -s -o "$B/sample.body" \
                 -w '%{http_code}' -H "X-API-Key: $KEY" "$url" || true)"
            why+=" $(head -c 200 "$B/sample.body" 2>/dev/null || true)"
        fi
        loud "$name: $non2xx NON-2xx RESPONSES of ${reqs:-?} requests:" \
             "the figures of this run are not valid" \
             "${why:-(no sample)}" \
             "see $out and $B/logs/error.log"
        FAILED+=("$name: $non2xx non-2xx of ${reqs:-?}")
    fi
}

count_contacts() {
    psql_crm -tA -c "SELECT count(*) FROM contacts WHERE workspace_id = '$WS'"
}

# no figures of an earlier run mixed into this one
rm -f "$B"/wrk-*.txt "$B"/wrk-*.time "$B"/top-*.txt "$B"/cpu-*

echo
echo "bench: $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores" \
     "(nginx, PostgreSQL and wrk share them), nginx $WORKERS workers," \
     "pool $POOL per worker"
echo "bench: wrk -t$THREADS -c$CONNS -d$DURATION --latency" \
     "--timeout $TIMEOUT (warm-up ${WARMUP} before each run)"
if [ "$DATA" = seed ] && [ -z "${BENCH_CONNECTIONS:-}" ]; then
    echo "bench: -c4 for q and search, -c8 for bulk (BENCH_CONNECTIONS" \
         "sets all)"
fi
echo

want static && run static "$BASE/static.json"
want get    && run get    "$BASE/api/v1/contacts/$CONTACT_ID"
want list   && run list   "$BASE/api/v1/contacts?limit=50"
want filter && run filter "$FILTER_URL"
want deals  && run deals  "$DEALS_URL"
want deep   && run deep   "$DEEP_URL"
want q      && run q      "$Q_URL"
want search && run search "$SEARCH_URL"
for name in aemails ahour acampaign acontact; do
    if want $name; then run $name "$(url_of $name)"; fi
done
if want bulk; then
    before=$(count_contacts)
    BENCH_BATCH=100 run bulk "$BASE/api/v1/contacts/bulk" \
        -s "$TOP/bench/create.lua"
    after=$(count_contacts)
    statuses=$(grep -h '^statuses:' "$B/wrk-bulk.txt" || echo 'statuses: ?')
    echo "         rows created: $((after - before)) (100 per request," \
         "warm-up included; $statuses)"
    awk -v r="${RPS[bulk]:-0}" 'BEGIN { printf "         = %.0f rows/s\n", r * 100 }'
    # 207: some operations of a request failed (wrk counts it as 2xx)
    case " ${statuses#statuses: } " in
        *" 207="*)
            loud "bulk: some operations failed (207): rows/s is too high"
            FAILED+=("bulk: 207 responses") ;;
    esac
    bench_rows_out
fi
if want create; then
    before=$(count_contacts)
    run create "$BASE/api/v1/contacts" -s "$TOP/bench/create.lua"
    after=$(count_contacts)
    reqs=$(wrk_field "$B/wrk-create.txt" reqs)
    warm=$(awk '/ requests in / { print $1; exit }' \
               "$B/wrk-create-warmup.txt" 2>/dev/null || true)
    echo "         rows created: $((after - before)) (wrk counted" \
         "${reqs:-?} requests, ${warm:-0} more in the warm-up;" \
         "$(grep -h '^statuses:' "$B/wrk-create.txt" || echo 'statuses: ?'))"
fi

# pgrun NAME SCRIPT WHAT: pgbench -M prepared of SCRIPT (a plain insert
# of a contact), as many clients as the bench nginx has PostgreSQL
# connections, the same duration as wrk; the create run's baselines
pgrun() {
    local name=$1 script=$2 what=$3 pgc=$((WORKERS * POOL)) secs
    local m0 m1 p tps done_n line
    secs=${DURATION%s}
    pg_pids | ticks > "$B/cpu-pg.0"
    m0=$(machine_ticks)
    "$PG_BIN/pgbench" -n -M prepared -c "$pgc" -j "$THREADS" -T "$secs" \
        -D ws="$WS" -f "$script" "$PG_DSN" > "$B/pgbench-$name.txt" 2>&1 \
        || { cat "$B/pgbench-$name.txt" >&2; die "pgbench $name failed"; }
    pg_pids | ticks > "$B/cpu-pg.1"
    m1=$(machine_ticks)
    tps=$(awk '/^tps = / { printf "%.2f", $3; exit }' "$B/pgbench-$name.txt")
    done_n=$(awk '/actually processed:/ { print $NF; exit }' \
                 "$B/pgbench-$name.txt")
    p=$(ticks_delta "$B/cpu-pg.0" "$B/cpu-pg.1")
    RPS[$name]=$tps
    line=$(printf '%-8s %10s tx/s    pgbench -M prepared -c%s: %s' \
           "$name" "$tps" "$pgc" "$what")
    echo "$line"
    RESULTS+=("$line")
    awk -v p="$p" -v hz="$HZ" -v n="${done_n:-0}" -v m0="$m0" -v m1="$m1" \
        -v ncpu="$(nproc)" 'BEGIN {
            split(m0, a, " "); split(m1, b, " ")
            wall = (b[5] - a[5]) / hz / ncpu
            printf "         cpu (cores): postgres %.2f  other %.2f" \
                   "  idle %.2f  of %d\n", p / hz / wall,
                   ((b[1] - a[1]) - p) / hz / wall, (b[4] - a[4]) / hz / wall,
                   ncpu
            if (n > 0)
                printf "         cpu per insert: postgres %.0f us\n",
                       p * 1e6 / hz / n }'
}

if want pginsert; then
    pgrun pginsert "$TOP/bench/pginsert.sql" \
        "INSERT INTO contacts, every index and trigger"
    psql_crm -c "DELETE FROM contacts WHERE workspace_id = '$WS'
                   AND email LIKE '%@pginsert.bench.example'" \
        || die "cannot delete pgbench's contacts"
fi
if want pgbare; then
    psql_crm <<EOF || die "cannot make bench_bare_contacts"
DROP TABLE IF EXISTS bench_bare_contacts;
CREATE TABLE bench_bare_contacts (LIKE contacts INCLUDING DEFAULTS);
ALTER TABLE bench_bare_contacts ADD PRIMARY KEY (workspace_id, id);
CREATE UNIQUE INDEX ON bench_bare_contacts (workspace_id, lower(email))
    WHERE deleted_at IS NULL;
CREATE INDEX ON bench_bare_contacts (workspace_id, created_at, id);
CREATE INDEX ON bench_bare_contacts (workspace_id, company_id);
CREATE INDEX ON bench_bare_contacts (workspace_id, owner_id);
EOF
    pgrun pgbare "$TOP/bench/pgbare.sql" \
        "the same INSERT into a bare copy of contacts"
    psql_crm -c "DROP TABLE bench_bare_contacts" \
        || die "cannot drop bench_bare_contacts"
fi

echo
echo "summary (wrk -t$THREADS -c$CONNS -d$DURATION):"
printf '  %s\n' "${RESULTS[@]}"
for name in aemails ahour acampaign acontact; do
    if [ -n "${RPS[$name]:-}" ] && [ -n "${RPS[get]:-}" ]; then
        awk -v a="${RPS[$name]}" -v g="${RPS[get]}" -v n="$name" 'BEGIN {
            if (g > 0) printf "%s = %.1f%% of GET by id (%s / %s req/s)\n",
                              n, 100 * a / g, a, g }'
    fi
done
for name in pginsert pgbare; do
    if [ -n "${RPS[create]:-}" ] && [ -n "${RPS[$name]:-}" ]; then
        awk -v c="${RPS[create]}" -v p="${RPS[$name]}" -v n="$name" 'BEGIN {
            if (p > 0) printf "create = %.2fx %s (%s req/s / %s tx/s)\n",
                              c / p, n, c, p }'
    fi
done
if [ -n "${RPS[static]:-}" ] && [ -n "${RPS[get]:-}" ]; then
    awk -v g="${RPS[get]}" -v s="${RPS[static]}" 'BEGIN {
        if (s > 0) printf "GET by id = %.1f%% of the static ceiling" \
                          " (%s / %s req/s)\n", 100 * g / s, g, s }'
fi

# what nginx complained about during the runs
if grep -qE '\[(emerg|alert|crit|error)\]' "$B/logs/error.log"; then
    loud "errors in $B/logs/error.log ($(grep -cE \
          '\[(emerg|alert|crit|error)\]' "$B/logs/error.log") lines):" \
         "$(grep -E '\[(emerg|alert|crit|error)\]' "$B/logs/error.log" \
            | tail -5)"
    FAILED+=("errors in the nginx error log")
elif [ -s "$B/logs/error.log" ]; then
    echo "bench: $(wc -l < "$B/logs/error.log") warnings in" \
         "$B/logs/error.log"
fi

if [ ${#NOISY[@]} -gt 0 ]; then
    echo
    echo "bench: WARNING: the machine was busy with other work during" \
         "some runs (see top): ${NOISY[*]}"
fi

if [ ${#FAILED[@]} -gt 0 ]; then
    loud "NOT A CLEAN RUN:" "${FAILED[@]}"
    exit 1
fi
echo "bench: all runs got only 2xx responses; raw wrk output in $B/"
