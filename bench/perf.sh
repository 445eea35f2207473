#!/usr/bin/env bash
# bench/perf.sh: where the time of a request goes.  GET by id, a list of
# 50 at a random depth and a create under wrk, next to nginx static and to
# pgbench running the same statements alone, in one run; per request the
# CPU of the nginx workers, PostgreSQL, Redis and the load generator (wrk
# or pgbench), from /proc/<pid>/stat utime + stime deltas.  See
# bench/README ("Where the time goes").
#
#   bench/perf.sh                        100000 contacts, 10 s a run
#   BENCH_DURATION=20s bench/perf.sh
#   PERF_MODULE=/path/ngx_http_crm_module.so bench/perf.sh   another build
#
# Environment (defaults in brackets):
#   BENCH_ROWS         contacts seeded in the bench workspace [100000]
#   BENCH_PORT         port of the bench nginx on 127.0.0.1 [8093]
#   BENCH_DURATION     wrk -d / pgbench -T per run [10s]
#   BENCH_CONNECTIONS  wrk -c [64]
#   BENCH_THREADS      wrk -t, pgbench -j [2]
#   BENCH_WORKERS      nginx worker_processes [2]
#   BENCH_POOL         crm_postgres_pool_size per worker [8]; pgbench
#                      runs with workers x pool clients, the connections
#                      the module has
#   BENCH_ONLY         subset of: static get list create pg_get pg_list
#                      pg_insert [all]
#   BENCH_SKIP_SEED    1: keep the bench workspace as it is [0]
#   PERF_MODULE        the module to load [build/ngx_http_crm_module.so]
#   CRM_PG_PORT, CRM_REDIS_PORT   the run stack's, when .run/run/ports does
#                      not say [54320, 63790]
#
# The nginx is configured as "make run" is: the access log on, a
# cluster-wide rate limit in Redis (limits high enough never to refuse),
# auth by API key.  The run stack's PostgreSQL and Redis are used
# (started when down, stopped again at the end).

set -euo pipefail

TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
ME=bench/perf.sh
TAG=perf
# shellcheck source=bench/lib.sh
. "$TOP/bench/lib.sh"

ROWS=${BENCH_ROWS:-100000}
DURATION=${BENCH_DURATION:-10s}
CONNS=${BENCH_CONNECTIONS:-64}
THREADS=${BENCH_THREADS:-2}
WORKERS=${BENCH_WORKERS:-2}
POOL=${BENCH_POOL:-8}
ONLY=${BENCH_ONLY:-static get list create pg_get pg_list pg_insert}
B=$TOP/.run/perf
PORT=${BENCH_PORT:-8093}
MODULE_SO=${PERF_MODULE:-$MODULE_SO}
WS=bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb
BASE=http://127.0.0.1:$PORT
SECS=${DURATION%s}
export BENCH_ROWS=$ROWS

numbers ROWS PORT CONNS THREADS WORKERS POOL SECS

for tool in wrk curl "$NGINX_BIN" "$PG_BIN/psql" "$PG_BIN/pgbench" \
            redis-cli; do
    command -v "$tool" > /dev/null || die "missing $tool"
done

build "${BENCH_SKIP_MAKE:-0}"

PG_PORT=$(run_port PG_PORT "${CRM_PG_PORT:-54320}")
REDIS_PORT=$(run_port REDIS_PORT "${CRM_REDIS_PORT:-63790}")
PG_DSN="host=127.0.0.1 port=$PG_PORT dbname=crm user=crm"
PG_STARTED=
NGINX_PID=
REDIS_STARTED=

cleanup() {
    local status=$?
    trap - EXIT INT TERM
    nginx_stop
    if [ -n "$REDIS_STARTED" ]; then
        "$TOP/util/stack.sh" run redis-stop || true
    fi
    if [ "$PG_STARTED" = pg ]; then
        "$TOP/util/stack.sh" run pg-stop || true
    elif [ "$PG_STARTED" = stack ]; then
        "$TOP/util/stack.sh" run down || true
    fi
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

pg_up
"$TOP/util/migrate.sh" run || die "util/migrate.sh run failed"
if ! redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping > /dev/null 2>&1; then
    REDIS_STARTED=1
    "$TOP/util/stack.sh" run redis-start || die "cannot start Redis"
fi
REDIS_PIDFILE=$TOP/.run/run/redis/redis.pid


# -------------------------------------------------------------------- seed

psql_crm <<EOF || die "cannot define the workspace"
INSERT INTO workspaces (id, name) VALUES ('$WS', 'Bench')
    ON CONFLICT (id) DO NOTHING;
INSERT INTO custom_fields (workspace_id, object, name, type)
VALUES ('$WS', 'contacts', 'n', 'number'),
       ('$WS', 'contacts', 'thread', 'number')
    ON CONFLICT (workspace_id, object, name) WHERE deleted_at IS NULL
    DO NOTHING;
EOF

if [ "${BENCH_SKIP_SEED:-0}" != 1 ]; then
    echo "perf: seeding workspace $WS with $ROWS contacts"
    psql_crm -1 <<EOF || die "seeding failed"
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

if [ ! -s "$B/perf.key" ]; then
    (umask 077 && echo "crm_perf_$(od -An -N16 -tx1 /dev/urandom \
                                   | tr -d ' \n')" > "$B/perf.key")
fi
KEY=$(cat "$B/perf.key")

STATIC_BODY='{"data":{"id":"bbbbbbbb-0000-4000-8000-000000000001","firstName":"First1","lastName":"Last1","email":"bench1@bench.example","phone":"+15550000001","title":"Engineer","companyId":null,"ownerId":null,"status":"active","source":"bench","tags":["bench"],"customFields":{"n": 1},"createdAt":"2025-12-31T23:59:59.000Z","updatedAt":"2026-01-01T00:00:00.000Z"},"meta":{"requestId":"req_0123456789abcdef01234567","timestamp":"2026-01-01T00:00:00.000Z"}}'

user_line=
if is_root; then
    user_line="user nobody nogroup;"
    chown nobody "$B/temp" 2>/dev/null || true
fi

cat > "$B/conf/nginx.conf.new" <<EOF
load_module $MODULE_SO;
$user_line
worker_processes $WORKERS;
pid        logs/nginx.pid;
lock_file  logs/nginx.lock;
error_log  logs/error.log warn;

events {
    worker_connections 4096;
}

http {
    default_type  application/json;
    server_tokens off;

    client_body_temp_path  $B/temp/client_body;
    proxy_temp_path        $B/temp/proxy;
    fastcgi_temp_path      $B/temp/fastcgi;
    uwsgi_temp_path        $B/temp/uwsgi;
    scgi_temp_path         $B/temp/scgi;

    crm_postgres "$PG_DSN";
    crm_postgres_pool_size $POOL;
    crm_redis 127.0.0.1:$REDIS_PORT;
    crm_cursor_secret perf-cursor-secret-not-for-production-0123456789;
    crm_api_key $KEY $WS;

    # as make run: a cluster-wide limit (high enough never to refuse)
    crm_rate_limit zone=crm_limit:10m per_minute=100000000
                   per_hour=1000000000 cluster;

    log_format crm '\$remote_addr [\$time_local] "\$request" \$status '
                   '\$body_bytes_sent \$request_time';
    access_log logs/access.log crm buffer=64k;

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
chmod 600 "$B/conf/nginx.conf.new"
mv -f "$B/conf/nginx.conf.new" "$B/conf/nginx.conf"
: > "$B/logs/access.log"

nginx_start
echo "perf: nginx (pid $NGINX_PID) on $BASE, module $MODULE_SO"

check() {
    local want=$1 what=$2 got
    shift 2
    got=$(curl -s -o "$B/preflight.body" -w '%{http_code}' "$@") || got=000
    if [ "$got" != "$want" ]; then
        echo "perf: preflight $what: HTTP $got, expected $want:" >&2
        head -c 600 "$B/preflight.body" >&2; echo >&2
        tail -20 "$B/logs/error.log" >&2
        die "preflight failed"
    fi
}
check 200 static "$BASE/static.json"
check 200 get -H "X-API-Key: $KEY" \
    "$BASE/api/v1/contacts/bbbbbbbb-0000-4000-8000-000000000001"
check 200 list -H "X-API-Key: $KEY" \
    "$BASE/api/v1/contacts?limit=50&created_before=2025-12-31T12:00:00Z"


# ------------------------------------------------------------- accounting

HZ=$(getconf CLK_TCK)
redis_pids() { tr -dc '0-9\n' < "$REDIS_PIDFILE" 2>/dev/null || true; }
snap() {
    nginx_pids | ticks > "$B/cpu-nginx.$1"
    pg_pids | ticks > "$B/cpu-pg.$1"
    redis_pids | ticks > "$B/cpu-redis.$1"
}

declare -A RPS US_NGX US_PG US_REDIS US_GEN
ROWS_OUT=()
FAILED=()

# account NAME REQS LOADGEN_USER LOADGEN_SYS: the CPU between the
# snapshots 0 and 1, per request
account() {
    local name=$1 reqs=$2 gu=$3 gs=$4 n p r
    n=$(ticks_delta "$B/cpu-nginx.0" "$B/cpu-nginx.1")
    p=$(ticks_delta "$B/cpu-pg.0" "$B/cpu-pg.1")
    r=$(ticks_delta "$B/cpu-redis.0" "$B/cpu-redis.1")
    read -r US_NGX[$name] US_PG[$name] US_REDIS[$name] US_GEN[$name] \
        <<< "$(awk -v n="$n" -v p="$p" -v r="$r" -v hz="$HZ" -v q="$reqs" \
                   -v g="$gu" -v s="$gs" 'BEGIN {
            if (q <= 0) q = 1
            printf "%.1f %.1f %.1f %.1f\n", n / hz * 1e6 / q,
                   p / hz * 1e6 / q, r / hz * 1e6 / q, (g + s) * 1e6 / q }')"
}

# wrk_run NAME URL [wrk args]
wrk_run() {
    local name=$1 url=$2 out=$B/wrk-$1.txt status=0 reqs wu ws non2xx
    shift 2
    wrk "-t$THREADS" "-c$CONNS" -d2s -H "X-API-Key: $KEY" "$@" "$url" \
        > "$B/wrk-$name-warmup.txt" 2>&1 || true
    snap 0
    local TIMEFORMAT='%U %S'
    { time wrk "-t$THREADS" "-c$CONNS" "-d$DURATION" --latency \
          -H "X-API-Key: $KEY" "$@" "$url" > "$out" 2>&1 || status=$?; } \
        2> "$B/wrk-$name.time"
    snap 1
    if [ "$status" -ne 0 ]; then
        cat "$out" >&2
        FAILED+=("$name: wrk failed")
        return 0
    fi
    reqs=$(wrk_field "$out" reqs)
    RPS[$name]=$(wrk_field "$out" rps)
    non2xx=$(awk '/Non-2xx or 3xx responses:/ { print $NF }' "$out")
    if [ -n "$non2xx" ] || [ -n "$(wrk_field "$out" sockerr)" ]; then
        FAILED+=("$name: ${non2xx:-0} non-2xx, socket errors:" \
                 "$(wrk_field "$out" sockerr)")
    fi
    read -r wu ws < "$B/wrk-$name.time"
    account "$name" "${reqs:-0}" "$wu" "$ws"
    echo "perf: $name ${RPS[$name]} req/s"
}

# pg_run NAME SCRIPT: pgbench -M prepared with the module's connections
pg_run() {
    local name=$1 script=$2 out=$B/pgbench-$1.txt status=0 reqs wu ws
    local pgb=("$PG_BIN/pgbench" -n -M prepared -D "rows=$ROWS"
               -c "$((WORKERS * POOL))" -j "$THREADS" -f "$script"
               -h 127.0.0.1 -p "$PG_PORT" -U crm crm)
    "${pgb[@]}" -T 2 > "$B/pgbench-$name-warmup.txt" 2>&1 || true
    snap 0
    local TIMEFORMAT='%U %S'
    { time "${pgb[@]}" -T "$SECS" > "$out" 2>&1 || status=$?; } \
        2> "$B/pgbench-$name.time"
    snap 1
    if [ "$status" -ne 0 ]; then
        cat "$out" >&2
        FAILED+=("$name: pgbench failed")
        return 0
    fi
    reqs=$(awk '/number of transactions actually processed:/ {
                    split($NF, a, "/"); print a[1] }' "$out")
    RPS[$name]=$(awk '/^tps = / { print $3; exit }' "$out")
    read -r wu ws < "$B/pgbench-$name.time"
    account "$name" "${reqs:-0}" "$wu" "$ws"
    echo "perf: $name ${RPS[$name]} tx/s"
}

for name in $ONLY; do
    case $name in
        static) wrk_run static "$BASE/static.json" ;;
        get)    wrk_run get "$BASE/" -s "$TOP/bench/perf_get.lua" ;;
        list)   wrk_run list "$BASE/" -s "$TOP/bench/perf_list.lua" ;;
        create) wrk_run create "$BASE/api/v1/contacts" \
                    -s "$TOP/bench/create.lua" ;;
        pg_get)    pg_run pg_get "$TOP/bench/pgbench_get.sql" ;;
        pg_list)   pg_run pg_list "$TOP/bench/pgbench_list.sql" ;;
        pg_insert) pg_run pg_insert "$TOP/bench/pgbench_insert.sql" ;;
        *) die "BENCH_ONLY: unknown run '$name'" ;;
    esac
done

# the contacts the create runs made
psql_crm -c "DELETE FROM contacts WHERE workspace_id = '$WS'
             AND email NOT LIKE 'bench%@bench.example'" > /dev/null || true


# ------------------------------------------------------------------ report

echo
echo "perf: $(nproc) cores, wrk -t$THREADS -c$CONNS -d$DURATION," \
     "pgbench -c$((WORKERS * POOL)) -j$THREADS -M prepared, $ROWS contacts"
printf '%-10s %10s | %28s\n' "" "" "CPU per request (us)"
printf '%-10s %10s | %7s %7s %7s %7s\n' run "req/s" nginx postgres redis \
       loadgen
for name in $ONLY; do
    [ -n "${RPS[$name]:-}" ] || continue
    printf '%-10s %10.0f | %7s %7s %7s %7s\n' "$name" "${RPS[$name]}" \
           "${US_NGX[$name]}" "${US_PG[$name]}" "${US_REDIS[$name]}" \
           "${US_GEN[$name]}"
done

ratio() {
    local what=$1 a=$2 b=$3 goal=$4
    if [ -n "${RPS[$a]:-}" ] && [ -n "${RPS[$b]:-}" ]; then
        awk -v a="${RPS[$a]}" -v b="${RPS[$b]}" -v w="$what" -v g="$goal" \
            -v pa="${US_PG[$a]}" -v pb="${US_PG[$b]}" 'BEGIN {
            printf "  %-28s %5.2fx  (goal %s)   postgres per request" \
                   " %.2fx\n", w, (b > 0 ? a / b : 0), g,
                   (pb > 0 ? pa / pb : 0) }'
    fi
}
echo
echo "ratios (same run):"
ratio "GET / static" get static "-" | sed "s/   postgres per request.*//"
ratio "GET / pgbench lookup" get pg_get ">= 0.5"
ratio "list 50 / pgbench page" list pg_list ">= 0.7"
ratio "create / pgbench insert" create pg_insert ">= 0.6"

if grep -qE '\[(emerg|alert|crit)\]' "$B/logs/error.log"; then
    FAILED+=("alerts in $B/logs/error.log")
fi
if [ ${#FAILED[@]} -gt 0 ]; then
    loud "NOT A CLEAN RUN:" "${FAILED[@]}"
    exit 1
fi
