#!/usr/bin/env bash
# bench/perf.sh: where the time of a request goes.  GET by id, a list of
# 50 at a random depth and a create under wrk, next to nginx static and to
# pgbench running the same statements alone, in one run; per request the
# CPU of the nginx workers, PostgreSQL, Redis and the load generator (wrk
# or pgbench), from /proc/<pid>/stat utime + stime deltas, and what the
# rest of the machine took ("other": other processes, irq and softirq,
# steal) and left ("idle", of all cores), from /proc/stat: a run with
# "other" or "idle" well above the others' was disturbed or not
# saturated, and its ratio is not comparable.  Then issue 15's goals,
# each "met" or "MISSED", and how many were met.  See bench/README
# ("Where the time goes").
#
#   bench/perf.sh                        100000 contacts, 10 s a run
#   BENCH_DURATION=20s bench/perf.sh
#   PERF_MODULE=/path/ngx_http_crm_module.so bench/perf.sh   another build
#   BENCH_ONLY="deep rss" bench/perf.sh  the cursor depth, worker RSS
#
# Two more runs (see bench/README): "deep" compares a cursor page
# BENCH_DEEP_PAGE (10000) deep with the first page of the same list, and
# "rss" samples the VmRSS of each worker over BENCH_RSS_REQUESTS (1M)
# mixed requests (bench/perf_mixed.lua).
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
#   BENCH_PIPELINE     crm_postgres_pipeline [4], as make run's
#                      nginx.conf.example
#   BENCH_ONLY         subset of: static get pg_get list pg_list create
#                      pg_insert deep rss [all], run in that order
#   BENCH_ROUNDS       how many times get, pg_get, list, pg_list, create
#                      and pg_insert run, in turn [5]: each round's
#                      ratios and their median are printed (PostgreSQL's
#                      own CPU per request drifts by up to +-25% over
#                      minutes; a module run and its pgbench run are
#                      next to each other in every round)
#   BENCH_DEEP_PAGE    the deep page of "deep" [10000]; its pages hold
#                      (contacts - 1) / BENCH_DEEP_PAGE rows, at most 50
#   BENCH_DEEP_CONNECTIONS  wrk -c of "deep" [4]
#   BENCH_RSS_REQUESTS the mixed requests of "rss" [1000000], sampled
#                      every tenth of them
#   BENCH_SKIP_SEED    1: keep the bench workspace as it is [0]
#   BENCH_PG_OPTIONS   PGOPTIONS of the pgbench runs [-c plan_cache_mode=
#                      force_generic_plan: the module's ordinary pool
#                      plans its statements once, so pgbench does too];
#                      empty: PostgreSQL's own choice, which replans a
#                      list's page at every execution on some days
#                      (bench/README, "Planned once")
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
PIPELINE=${BENCH_PIPELINE:-4}
ONLY=${BENCH_ONLY:-static get pg_get list pg_list create pg_insert deep rss}
ROUNDS=${BENCH_ROUNDS:-5}
DEEP_PAGE=${BENCH_DEEP_PAGE:-10000}
DEEP_CONNS=${BENCH_DEEP_CONNECTIONS:-4}
RSS_REQUESTS=${BENCH_RSS_REQUESTS:-1000000}
PG_OPTIONS=${BENCH_PG_OPTIONS--c plan_cache_mode=force_generic_plan}
B=$TOP/.run/perf
PORT=${BENCH_PORT:-8093}
MODULE_SO=${PERF_MODULE:-$MODULE_SO}
WS=bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb
BASE=http://127.0.0.1:$PORT
SECS=${DURATION%s}
export BENCH_ROWS=$ROWS

numbers ROWS PORT CONNS THREADS WORKERS POOL PIPELINE SECS DEEP_PAGE \
    RSS_REQUESTS ROUNDS DEEP_CONNS

for tool in wrk curl "$NGINX_BIN" "$PG_BIN/psql" "$PG_BIN/pgbench" \
            redis-cli python3; do
    command -v "$tool" > /dev/null || die "missing $tool"
done

build "${BENCH_SKIP_MAKE:-0}"

PG_PORT=$(run_port PG_PORT "${CRM_PG_PORT:-54320}")
REDIS_PORT=$(run_port REDIS_PORT "${CRM_REDIS_PORT:-63790}")
PG_DSN="host=127.0.0.1 port=$PG_PORT dbname=crm user=crm"
PG_STARTED=
NGINX_PID=
REDIS_STARTED=
AUTOVACUUM_OFF=

cleanup() {
    local status=$?
    trap - EXIT INT TERM
    nginx_stop
    if [ -n "$AUTOVACUUM_OFF" ]; then
        psql_crm -c "ALTER TABLE contacts RESET (autovacuum_enabled)" \
                 -c "ALTER TABLE events RESET (autovacuum_enabled)" \
            > /dev/null || echo "perf: autovacuum of contacts and events" \
                                "left off: ALTER TABLE ... RESET" \
                                "(autovacuum_enabled)" >&2
    fi
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
-- what the searches of "rss" find (bench/perf_mixed.lua): a last name
-- of eight letters that no contact above has (d j k o q u v w y z for
-- the digits of n * 2654435761 mod 10^8): few trigrams in common;
-- older than every contact above
INSERT INTO contacts (workspace_id, id, first_name, last_name, email,
                      status, source, tags, created_at, updated_at)
SELECT '$WS',
       ('bbbbbbbb-0000-4000-a000-' || lpad(to_hex(g), 12, '0'))::uuid,
       'Search',
       translate(lpad(((g::bigint * 2654435761) % 100000000)::text, 8,
                      '0'),
                 '0123456789', 'djkoquvwyz'),
       'search' || g || '@bench.example', 'active', 'bench',
       ARRAY['bench'],
       timestamptz '2025-01-01 00:00:00+00' - g * interval '1 second',
       timestamptz '2025-01-01 00:00:00+00'
  FROM generate_series(1, 1000) AS g;
EOF
    psql_crm -c "VACUUM ANALYZE contacts" || die "VACUUM ANALYZE failed"
fi


# ------------------------------------------------------------------- nginx

KEY=$(bench_key "$B/perf.key" crm_perf)

STATIC_BODY='{"data":{"id":"bbbbbbbb-0000-4000-8000-000000000001","firstName":"First1","lastName":"Last1","email":"bench1@bench.example","phone":"+15550000001","title":"Engineer","companyId":null,"ownerId":null,"status":"active","source":"bench","tags":["bench"],"customFields":{"n": 1},"createdAt":"2025-12-31T23:59:59.000Z","updatedAt":"2026-01-01T00:00:00.000Z"},"meta":{"requestId":"req_0123456789abcdef01234567","timestamp":"2026-01-01T00:00:00.000Z"}}'

cat > "$B/conf/nginx.conf.new" <<EOF
$(nginx_main 4096)

http {
    default_type  application/json;
    server_tokens off;

$(nginx_temp_paths)

    crm_postgres "$PG_DSN";
    crm_postgres_pool_size $POOL;
    crm_postgres_pipeline $PIPELINE;
    crm_redis 127.0.0.1:$REDIS_PORT;
    crm_cursor_secret perf-cursor-secret-not-for-production-0123456789;
    crm_api_key $KEY $WS;

    # one workspace makes all the load here: the default share of the
    # expensive pool (workspace=1) would answer most of the concurrent
    # searches of "rss" 429
    crm_postgres_heavy pool_size=2 queue=32 workspace=34;

    # as make run: a cluster-wide limit (high enough never to refuse)
    crm_rate_limit zone=crm_limit:10m per_minute=100000000
                   per_hour=1000000000 cluster;

    log_format crm '\$remote_addr [\$time_local] "\$request" \$status '
                   '\$body_bytes_sent \$request_time '
                   'ws=\$crm_workspace who=\$crm_principal '
                   'budget=\$crm_ratelimit_remaining';
    access_log logs/access.log crm buffer=64k flush=1s;

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
    machine_ticks > "$B/cpu-machine.$1"
}

declare -A RPS US_NGX US_PG US_REDIS US_GEN US_OTHER IDLE
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
            US_OTHER[$name] IDLE[$name] \
        <<< "$(awk -v n="$n" -v p="$p" -v r="$r" -v hz="$HZ" -v q="$reqs" \
                   -v g="$gu" -v s="$gs" -v m0="$(cat "$B/cpu-machine.0")" \
                   -v m1="$(cat "$B/cpu-machine.1")" 'BEGIN {
            if (q <= 0) q = 1
            split(m0, a, " "); split(m1, b, " ")
            busy = (b[1] - a[1]) + (b[2] - a[2]) + (b[3] - a[3])
            total = b[5] - a[5]
            # everything else: other processes, irq and softirq, steal
            o = busy - n - p - r - (g + s) * hz
            if (o < 0) o = 0
            printf "%.1f %.1f %.1f %.1f %.1f %.0f\n", n / hz * 1e6 / q,
                   p / hz * 1e6 / q, r / hz * 1e6 / q, (g + s) * 1e6 / q,
                   o / hz * 1e6 / q,
                   (total > 0 ? (b[4] - a[4]) * 100 / total : 0) }')"
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
# and the plan_cache_mode of its ordinary pool (PG_OPTIONS)
pg_run() {
    local name=$1 script=$2 out=$B/pgbench-$1.txt status=0 reqs wu ws
    local pgb=("$PG_BIN/pgbench" -n -M prepared -D "rows=$ROWS" -D "ws=$WS"
               -c "$((WORKERS * POOL))" -j "$THREADS" -f "$script"
               -h 127.0.0.1 -p "$PG_PORT" -U crm crm)
    PGOPTIONS=$PG_OPTIONS "${pgb[@]}" -T 2 \
        > "$B/pgbench-$name-warmup.txt" 2>&1 || true
    snap 0
    local TIMEFORMAT='%U %S'
    { time PGOPTIONS=$PG_OPTIONS "${pgb[@]}" -T "$SECS" > "$out" 2>&1 \
          || status=$?; } 2> "$B/pgbench-$name.time"
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

# to_us 1.23ms: wrk's latency in microseconds
to_us() {
    awk -v v="$1" 'BEGIN {
        n = v + 0; u = v; sub(/^[0-9.]+/, "", u)
        if (u == "ms") n *= 1000; else if (u == "s") n *= 1000000
        else if (u == "m") n *= 60000000
        printf "%.0f\n", n }'
}

# deep: the first page of GET /contacts?limit=L and the page DEEP_PAGE of
# the same list (its cursor walked to by bench/perf_walk.py), one after
# the other: a keyset page should cost what the first one costs
DEEP_LIMIT=
DEEP_PG=
deep_run() {
    local n cursor r

    n=$(psql_crm -tAc "SELECT count(*) FROM contacts
                       WHERE workspace_id = '$WS' AND deleted_at IS NULL")
    DEEP_LIMIT=$(( (n - 1) / DEEP_PAGE ))
    [ "$DEEP_LIMIT" -le 50 ] || DEEP_LIMIT=50
    if [ "$DEEP_LIMIT" -lt 1 ]; then
        FAILED+=("deep: $n contacts are too few for page $DEEP_PAGE")
        return 0
    fi

    echo "perf: walking to page $DEEP_PAGE of $DEEP_LIMIT"
    if ! cursor=$(python3 "$TOP/bench/perf_walk.py" "$PORT" "$KEY" \
                      "$DEEP_LIMIT" "$DEEP_PAGE"); then
        FAILED+=("deep: the walk to page $DEEP_PAGE failed")
        return 0
    fi

    # in turn, ROUNDS times (PostgreSQL's CPU per request drifts), with
    # DEEP_CONNS connections: every request reads the very same rows, and
    # 64 at once contend for the same buffers (idle CPU, the ratio of a
    # pair anywhere from 1.1 to 1.5); the cost of a page is what this
    # compares
    for r in $(seq 1 "$ROUNDS"); do
        CONNS=$DEEP_CONNS wrk_run first \
            "$BASE/api/v1/contacts?limit=$DEEP_LIMIT"
        CONNS=$DEEP_CONNS wrk_run deep \
            "$BASE/api/v1/contacts?limit=$DEEP_LIMIT&cursor=$cursor"
        DEEP_PG+=" $(awk -v d="${US_PG[deep]}" -v f="${US_PG[first]}" \
                         'BEGIN { printf "%.3f", (f > 0 ? d / f : 0) }')"
    done
    P50[first]=$(to_us "$(wrk_field "$B/wrk-first.txt" p50)")
    P50[deep]=$(to_us "$(wrk_field "$B/wrk-deep.txt" p50)")
}

# rss: RSS_REQUESTS mixed requests (bench/perf_mixed.lua) in wrk runs
# that each aim at the next tenth; the VmRSS and RssAnon of every worker
# (/proc/<pid>/status) after a warm-up and after each tenth
declare -A P50 RSS_FIRST RSS_LAST RSS_STATUS
RSS_ROWS=()
RSS_DONE=0
RSS_SECS=0
WORKER_PIDS=
rss_mixed() {
    BENCH_KEY=$KEY BENCH_ROWS=$ROWS \
    wrk "-t$THREADS" "-c$CONNS" "-d$1" -s "$TOP/bench/perf_mixed.lua" \
        "$BASE/" > "$2" 2>&1
}
rss_sample() {
    local pid vm anon line
    line=$(printf '  %10s' "$1")
    for pid in $WORKER_PIDS; do
        read -r vm anon < <(awk '/^VmRSS:/ { v = $2 } /^RssAnon:/ { a = $2 }
                                 END { print v + 0, a + 0 }' \
                                "/proc/$pid/status" 2>/dev/null \
                            || echo "0 0")
        [ -n "${RSS_FIRST[$pid]:-}" ] || RSS_FIRST[$pid]="$vm $anon"
        RSS_LAST[$pid]="$vm $anon"
        line+=$(printf ' %10s %10s' "$vm" "$anon")
    done
    RSS_ROWS+=("$line")
}
rss_run() {
    local out=$B/wrk-rss step next rate secs i=0 reqs st code n t0 t1
    local TIMEFORMAT='%U %S' gu=0 gs=0 wu ws

    step=$(( RSS_REQUESTS / 10 ))
    [ "$step" -ge 1 ] || step=1
    WORKER_PIDS=$(pgrep -P "$NGINX_PID" | sort -n | tr '\n' ' ')

    echo "perf: rss: warm-up (10 s of the mix)"
    rss_mixed 10s "$out-warmup.txt" || true
    rate=$(awk '{ printf "%d\n", $1 }' <<< \
               "$(wrk_field "$out-warmup.txt" rps)")
    [ "${rate:-0}" -ge 1 ] || rate=1

    rss_sample 0
    snap 0
    t0=$(date +%s.%N)
    next=$step
    while [ "$RSS_DONE" -lt "$RSS_REQUESTS" ]; do
        secs=$(( (next - RSS_DONE + rate - 1) / rate ))
        [ "$secs" -ge 1 ] || secs=1
        i=$((i + 1))
        { time rss_mixed "${secs}s" "$out-$i.txt" || true; } \
            2> "$out-$i.time"
        read -r wu ws < "$out-$i.time"
        gu=$(awk -v a="$gu" -v b="$wu" 'BEGIN { print a + b }')
        gs=$(awk -v a="$gs" -v b="$ws" 'BEGIN { print a + b }')
        reqs=$(wrk_field "$out-$i.txt" reqs)
        if [ -z "$reqs" ] || [ "$reqs" -eq 0 ]; then
            cat "$out-$i.txt" >&2
            FAILED+=("rss: wrk run $i failed")
            break
        fi
        RSS_DONE=$((RSS_DONE + reqs))
        rate=$(( reqs / secs ))
        [ "$rate" -ge 1 ] || rate=1
        for st in $(wrk_field "$out-$i.txt" statuses); do
            code=${st%%=*}
            n=${st#*=}
            RSS_STATUS[$code]=$(( ${RSS_STATUS[$code]:-0} + n ))
        done
        if [ "$RSS_DONE" -ge "$next" ] || [ "$RSS_DONE" -ge "$RSS_REQUESTS" ]
        then
            rss_sample "$RSS_DONE"
            while [ "$next" -le "$RSS_DONE" ]; do next=$((next + step)); done
        fi
    done
    t1=$(date +%s.%N)
    snap 1
    RSS_SECS=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.0f\n", b - a }')
    account rss "$RSS_DONE" "$gu" "$gs"
    RPS[rss]=$(awk -v n="$RSS_DONE" -v s="$RSS_SECS" \
                   'BEGIN { printf "%.0f\n", (s > 0 ? n / s : 0) }')

    for code in "${!RSS_STATUS[@]}"; do
        case $code in
            200|201|401|404) ;;
            *) FAILED+=("rss: ${RSS_STATUS[$code]} answers $code") ;;
        esac
    done
    if [ "$(pgrep -P "$NGINX_PID" | sort -n | tr '\n' ' ')" != "$WORKER_PIDS" ]
    then
        FAILED+=("rss: the workers changed during the run")
    fi
    echo "perf: rss $RSS_DONE requests in $RSS_SECS s"
}

# settle: every run starts from the same table and with PostgreSQL idle:
# the contacts (and events) an earlier create, pg_insert or rss run made
# deleted and vacuumed away, and no autovacuum of them under way, whose
# CPU the next run would count as its own (and whose dead rows and GIN
# pending list it would pay for); the indexes rebuilt: VACUUM frees the
# dead entries but not the pages, and the inserts of every run before
# (of earlier benches too) had grown contacts' indexes to 1.1 GB for
# 103,000 rows, eight times shared_buffers, where rebuilt they are 56 MB.
# And a checkpoint, between the VACUUM and the REINDEX: a create writes
# 4-5 kB of WAL (its GIN entries), so with max_wal_size 1GB a checkpoint
# started every 30-40 s of writes, inside a create or pg_insert run or
# not, by chance, and its writes and full-page images were that run's;
# from here the 540 MB that start the next one hold more than a run's
# WAL.  CHECKPOINT needs a superuser: the run stack's postgres (trust on
# loopback); another server's refusal is said once, and the runs go on.
# Only after a run that wrote: a read leaves the table as it found it.
DIRTY=1
CHECKPOINTS=1
settle() {
    local i

    [ "$DIRTY" = 1 ] || return 0
    DIRTY=0

    psql_crm -c "DELETE FROM contacts WHERE workspace_id = '$WS'
                 AND email NOT LIKE 'bench%@bench.example'
                 AND email NOT LIKE 'search%@bench.example'" \
             -c "VACUUM contacts" \
             -c "DELETE FROM events WHERE workspace_id = '$WS'" \
             -c "VACUUM events" > /dev/null \
        || die "settling the bench workspace failed"

    if [ "$CHECKPOINTS" = 1 ] \
       && ! "$PG_BIN/psql" -X -q -h 127.0.0.1 -p "$PG_PORT" -U postgres \
                -d crm -c CHECKPOINT > "$B/checkpoint.log" 2>&1
    then
        echo "perf: no CHECKPOINT before the runs that write" \
             "($(head -1 "$B/checkpoint.log"))" >&2
        CHECKPOINTS=0
    fi

    psql_crm -c "REINDEX TABLE contacts" -c "REINDEX TABLE events" \
             -c "ANALYZE contacts, events" > /dev/null \
        || die "settling the bench workspace failed"

    for i in $(seq 1 60); do
        [ "$(psql_crm -tAc "SELECT count(*) FROM pg_stat_activity
                            WHERE backend_type = 'autovacuum worker'")" \
              = 0 ] && return 0
        sleep 0.5
    done
}

# No autovacuum of contacts and events while the runs go: a create run
# inserts 30,000-40,000 rows and a pg_insert run 50,000-60,000, past the
# 21,000 that start one (1000 + 0.2 x 103,000), so one began inside a
# write run when the launcher's turn fell there, by chance on one side of
# a pair, and its CPU (the GIN pending lists merged, seven indexes
# vacuumed) counted as that run's.  settle() vacuums both tables before
# every run that follows one that wrote; cleanup() turns it on again.
psql_crm -c "ALTER TABLE contacts SET (autovacuum_enabled = off)" \
         -c "ALTER TABLE events SET (autovacuum_enabled = off)" > /dev/null \
    || die "cannot turn autovacuum off for contacts and events"
AUTOVACUUM_OFF=1

# static first; the runs of the ratios, again in each round (their
# figures kept as "<name>.<round>" too); deep and rss after the rounds
for round in 0 $(seq 1 "$ROUNDS") last; do
    for name in $ONLY; do
        case $round:$name in
            0:static|last:deep|last:rss) ;;
            0:*|last:*) continue ;;
            *:static|*:deep|*:rss) continue ;;
        esac
        settle
        case $name in
            static) wrk_run static "$BASE/static.json" ;;
            get)    wrk_run get "$BASE/" -s "$TOP/bench/perf_get.lua" ;;
            list)   wrk_run list "$BASE/" -s "$TOP/bench/perf_list.lua" ;;
            create) BENCH_STATUSES=0 wrk_run create \
                        "$BASE/api/v1/contacts" -s "$TOP/bench/create.lua" ;;
            pg_get)    pg_run pg_get "$TOP/bench/pgbench_get.sql" ;;
            pg_list)   pg_run pg_list "$TOP/bench/pgbench_list.sql" ;;
            pg_insert) pg_run pg_insert "$TOP/bench/pgbench_insert.sql" ;;
            deep)   deep_run ;;
            rss)    rss_run ;;
            *) die "BENCH_ONLY: unknown run '$name'" ;;
        esac
        case $name in
            create|pg_insert|rss) DIRTY=1 ;;
        esac
        if [ "$round" != 0 ] && [ "$round" != last ] \
           && [ -n "${RPS[$name]:-}" ]; then
            RPS[$name.$round]=${RPS[$name]}
            US_NGX[$name.$round]=${US_NGX[$name]}
            US_PG[$name.$round]=${US_PG[$name]}
            US_REDIS[$name.$round]=${US_REDIS[$name]}
            US_GEN[$name.$round]=${US_GEN[$name]}
            US_OTHER[$name.$round]=${US_OTHER[$name]}
            IDLE[$name.$round]=${IDLE[$name]}
        fi
    done
done

# the contacts the create and rss runs made, their events
psql_crm -c "DELETE FROM contacts WHERE workspace_id = '$WS'
             AND email NOT LIKE 'bench%@bench.example'
             AND email NOT LIKE 'search%@bench.example'" > /dev/null || true
psql_crm -c "DELETE FROM events WHERE workspace_id = '$WS'" > /dev/null \
    || true


# ------------------------------------------------------------------ report

echo
echo "perf: $(nproc) cores, wrk -t$THREADS -c$CONNS -d$DURATION," \
     "pgbench -c$((WORKERS * POOL)) -j$THREADS -M prepared, $ROWS contacts"
printf '%-10s %10s | %36s | %s\n' "" "" "CPU per request (us)" \
       "machine"
printf '%-10s %10s | %7s %7s %7s %7s %7s | %5s\n' run "req/s" nginx \
       postgres redis loadgen other "idle"
# "deep" is two rows: its first page, then the deep one; the runs of the
# ratios a row a round (get.1, get.2, ...)
names=" $ONLY "
for name in ${names/ deep / first deep }; do
    if [ -n "${RPS[$name.1]:-}" ]; then
        keys=$(seq -f "$name.%g" 1 "$ROUNDS")
    else
        keys=$name
    fi
    for key in $keys; do
        [ -n "${RPS[$key]:-}" ] || continue
        printf '%-10s %10.0f | %7s %7s %7s %7s %7s | %4s%%\n' "$key" \
               "${RPS[$key]}" "${US_NGX[$key]}" "${US_PG[$key]}" \
               "${US_REDIS[$key]}" "${US_GEN[$key]}" "${US_OTHER[$key]}" \
               "${IDLE[$key]}"
    done
done

# the median of a list of numbers, for awk
MEDIAN='
    function median(list, a, n, i, j, t) {
        n = split(list, a, " ")
        for (i = 1; i <= n; i++)
            for (j = i + 1; j <= n; j++)
                if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t }
        return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
    }
    function verdict(x, op, g) {
        return ((op == ">=" && x >= g) || (op == "<=" && x <= g)) \
               ? "met" : "MISSED"
    }'

# the goals met, of those measured (a median at three decimals, so that
# 0.695 is not read as 0.70)
GOALS_MET=0
GOALS=0
# goal_count LINE: LINE (a verdict, or the line that holds one) says met
goal_count() {
    GOALS=$((GOALS + 1))
    case $1 in
        *MISSED*) ;;
        *) GOALS_MET=$((GOALS_MET + 1)) ;;
    esac
}

# ratio WHAT A B OP GOAL: A's req/s over B's in each round (the module's
# run and the pgbench run next to it), then their median and whether it
# is OP (">=", "<=") GOAL; PostgreSQL's CPU per request likewise
ratio() {
    local what=$1 a=$2 b=$3 op=$4 goal=$5 r rs="" ps="" out
    for r in $(seq 1 "$ROUNDS"); do
        [ -n "${RPS[$a.$r]:-}" ] && [ -n "${RPS[$b.$r]:-}" ] || continue
        rs+=" $(awk -v x="${RPS[$a.$r]}" -v y="${RPS[$b.$r]}" \
                    'BEGIN { printf "%.3f", (y > 0 ? x / y : 0) }')"
        ps+=" $(awk -v x="${US_PG[$a.$r]}" -v y="${US_PG[$b.$r]}" \
                    'BEGIN { printf "%.2f", (y > 0 ? x / y : 0) }')"
    done
    [ -n "$rs" ] || return 0
    out=$(awk -v w="$what" -v op="$op" -v g="$goal" -v rs="$rs" \
              -v ps="$ps" "$MEDIAN"'
        BEGIN {
            printf "  %-24s %6.3fx  %-6s (goal %s %s; rounds:%s)\n", w,
                   median(rs), verdict(median(rs), op, g), op, g, rs
            printf "  %-24s %6.2fx  (rounds:%s)\n",
                   "  postgres per request", median(ps), ps
        }')
    echo "$out"
    goal_count "${out%%$'\n'*}"
}
echo
echo "ratios (same run; each round's module run against the pgbench run" \
     "next to it, and the median of the $ROUNDS rounds):"
if [ -n "${RPS[get.1]:-}" ] && [ -n "${RPS[static]:-}" ]; then
    awk -v a="${RPS[get.1]}" -v b="${RPS[static]}" 'BEGIN {
        printf "  %-24s %5.2fx  (round 1)\n", "GET / static",
               (b > 0 ? a / b : 0) }'
fi
ratio "GET / pgbench lookup" get pg_get ">=" 0.5
ratio "list 50 / pgbench page" list pg_list ">=" 0.7
ratio "create / pgbench insert" create pg_insert ">=" 0.6

if [ -n "${RPS[deep]:-}" ] && [ -n "${RPS[first]:-}" ]; then
    echo
    echo "cursor depth: GET /contacts?limit=$DEEP_LIMIT, page $DEEP_PAGE" \
         "(by cursor) against page 1, same run, $ROUNDS pairs," \
         "wrk -c$DEEP_CONNS:"
    out=$(awk -v pd="${US_PG[deep]}" -v pf="${US_PG[first]}" \
        -v ld="${P50[deep]}" -v lf="${P50[first]}" \
        -v rd="${RPS[deep]}" -v rf="${RPS[first]}" -v rs="$DEEP_PG" \
        "$MEDIAN"'
        BEGIN {
        printf "  postgres per request  %6.3fx  %-6s (median; goal <= 1.2;" \
               " pairs:%s)\n", median(rs), verdict(median(rs), "<=", 1.2), rs
        printf "  the last pair: postgres per request %s vs %s us\n", pd, pf
        printf "  the last pair: latency p50 %5.2fx  (%s vs %s us)\n",
               (lf > 0 ? ld / lf : 0), ld, lf
        printf "  the last pair: req/s       %5.2fx  (%.0f vs %.0f)\n",
               (rf > 0 ? rd / rf : 0), rd, rf }')
    echo "$out"
    goal_count "${out%%$'\n'*}"
fi

if [ ${#RSS_ROWS[@]} -gt 0 ]; then
    echo
    echo "worker RSS over $RSS_DONE mixed requests (bench/perf_mixed.lua)" \
         "in $RSS_SECS s, ${RPS[rss]} req/s; statuses:" \
         "$(for c in "${!RSS_STATUS[@]}"; do
                echo "$c=${RSS_STATUS[$c]}"
            done | sort | tr '\n' ' ')"
    line=$(printf '  %10s' requests)
    for pid in $WORKER_PIDS; do
        line+=$(printf ' %10s %10s' "$pid:VmRSS" "RssAnon")
    done
    echo "$line (kB)"
    printf '%s\n' "${RSS_ROWS[@]}"
    line=$(printf '  %10s' growth)
    for pid in $WORKER_PIDS; do
        line+=$(awk -v a="${RSS_FIRST[$pid]}" -v b="${RSS_LAST[$pid]}" '
            function pct(x, y) { return x > 0 ? (y - x) * 100 / x : 0 }
            BEGIN { split(a, x, " "); split(b, y, " ")
                    printf " %+9.1f%% %+9.1f%%", pct(x[1], y[1]),
                           pct(x[2], y[2]) }')
    done
    # met when every worker's VmRSS and RssAnon grew (or shrank) by 5%
    # at most
    r=$(echo "$line" | awk '{ v = "met"
                              for (i = 2; i <= NF; i++) {
                                  x = $i; sub(/%/, "", x); x += 0
                                  if (x > 5 || x < -5) v = "MISSED" }
                              print v }')
    echo "$line   $r (goal: VmRSS within 5%)"
    goal_count "$r"
fi

if [ "$GOALS" -gt 0 ]; then
    echo
    echo "goals met: $GOALS_MET of $GOALS"
fi

if grep -qE '\[(emerg|alert|crit)\]' "$B/logs/error.log"; then
    FAILED+=("alerts in $B/logs/error.log")
fi
if [ ${#FAILED[@]} -gt 0 ]; then
    loud "NOT A CLEAN RUN:" "${FAILED[@]}"
    exit 1
fi
