#!/usr/bin/env bash
# The rate limiter's cost per request: the same GET of one contact by id,
# through an nginx without crm_rate_limit and then with it (local zone,
# a limit that never refuses; then cluster mode, counted in Redis), one
# run after the other.  Uses the "make run" stack (its database, Redis,
# demo key); starts its own nginx on BENCH_PORT (8092).  Prints req/s and
# latency per variant; asserts nothing.
#
#   make run && bench/limit.sh

set -euo pipefail

cd "$(dirname "$0")/.."
top=$(pwd)

port=${BENCH_PORT:-8092}
dur=${BENCH_DURATION:-10s}
conns=${BENCH_CONNECTIONS:-64}
dir=$top/.run/bench-limit
conf=$top/.run/run/nginx/conf/nginx.conf
key=$(cat "$top/.run/run/demo.key" 2>/dev/null || true)

if [ ! -f "$conf" ] || [ -z "$key" ]; then
    echo "bench/limit.sh: run 'make run' first" >&2
    exit 1
fi

command -v wrk > /dev/null || { echo "bench/limit.sh: wrk is missing" >&2; exit 1; }

# one contact to fetch, made in the demo workspace directly (the demo
# key's own budget may be spent: the cluster run below counts in Redis)
# shellcheck disable=SC1091
. "$top/.run/run/ports"
ws=$(cat "$top/.run/run/demo.workspace")
id=$(psql "host=127.0.0.1 port=$PG_PORT dbname=crm user=crm" -XAtq -c \
     "INSERT INTO contacts (workspace_id, email) VALUES ('$ws',
      'bench-limit-' || gen_random_uuid() || '@example.com') RETURNING id")

if [ -z "$id" ]; then
    echo "bench/limit.sh: could not create a contact" >&2
    exit 1
fi

# a fresh budget in Redis for the demo key
redis-cli -h 127.0.0.1 -p "$REDIS_PORT" --scan --pattern 'crm:rl:*' \
    | xargs -r redis-cli -h 127.0.0.1 -p "$REDIS_PORT" DEL > /dev/null

run() {
    local name=$1 limit=$2 out
    rm -rf "$dir"
    mkdir -p "$dir/conf" "$dir/logs"
    # make run's configuration, on another port, with the limit replaced
    sed -e "s/listen 127.0.0.1:[0-9]*;/listen 127.0.0.1:$port;/" \
        -e '/^ *crm_rate_limit /d' \
        -e "s|^\( *crm_session_ttl .*\)$|\1\n    $limit|" \
        -e "s|^pid .*|pid $dir/logs/nginx.pid;|" \
        -e 's|^\( *access_log\) .*|\1 off;|' \
        -e '/^ *location \/v1\//,/^ *}/d' \
        "$conf" > "$dir/conf/nginx.conf"
    # temp paths and logs stay in the run prefix; only the pid moves
    nginx -p "$top/.run/run/nginx/" -c "$dir/conf/nginx.conf" \
          -e "$dir/logs/error.log"
    sleep 0.5
    wrk -t2 -c"$conns" -d2s "http://127.0.0.1:$port/api/v1/contacts/$id" \
        -H "X-API-Key: $key" > /dev/null
    out=$(wrk -t2 -c"$conns" -d"$dur" --latency \
              -H "X-API-Key: $key" \
              "http://127.0.0.1:$port/api/v1/contacts/$id")
    kill -QUIT "$(cat "$dir/logs/nginx.pid")"
    sleep 0.5
    printf '%-10s %10s req/s   p50 %8s   p99 %8s   non-2xx %s\n' "$name" \
        "$(echo "$out" | awk '/Requests\/sec/ {print $2}')" \
        "$(echo "$out" | awk '$1 == "50%" {print $2}')" \
        "$(echo "$out" | awk '$1 == "99%" {print $2}')" \
        "$(echo "$out" | awk '/Non-2xx/ {print $5}' | grep . || echo 0)"
}

echo "bench/limit.sh: $(date -u '+%F %H:%M') UTC, GET /api/v1/contacts/:id," \
     "wrk -t2 -c$conns -d$dur, $(nproc) cores shared with PostgreSQL and Redis"
run "none"    "# no crm_rate_limit"
run "local"   "crm_rate_limit zone=bench_limit:10m per_minute=100000000 per_hour=1000000000;"
run "cluster" "crm_rate_limit zone=bench_limit:10m per_minute=100000000 per_hour=1000000000 cluster;"
