#!/usr/bin/env bash
# bench/webhooks.sh: what events and webhooks cost (issue 13), each
# figure next to a baseline measured in the same run.  See bench/README,
# "Webhooks".
#
#   bench/webhooks.sh                      emit, deliver
#   BENCH_ONLY=emit bench/webhooks.sh
#
# The runs:
#   emit     what emitting an event costs a create.  The module has no
#            switch to turn events off (an event exists if and only if
#            its change committed), so pgbench runs the planner's contact
#            INSERT as the module sends it, for BENCH_DURATION each:
#              plain   INSERT ... RETURNING <row JSON> (no event)
#              event   WITH w AS (that INSERT), e AS (INSERT INTO events
#                      ...) SELECT ...: the statement of a create, no
#                      subscription
#              hooked  the same with one matching subscription: the
#                      fan-out trigger makes a delivery row
#            and prints the tps of each and the ratios event/plain and
#            hooked/plain.
#   deliver  events per second from writes to a receiver on loopback: a
#            bench nginx (crm_webhooks on, BENCH_WORKERS workers) and
#            util/webhook_sink.py on 127.0.0.1:BENCH_HOOK_PORT; wrk
#            creates contacts (a first name, a title, a unique email) for BENCH_DURATION with
#            one subscription to contact.created, then the script waits
#            until every delivery succeeded.  Printed: writes/s (wrk),
#            deliveries/s from the first event to the last delivery, the
#            lag of the last one after the writes ended, and p50/p99 of
#            (delivered at - event created at).  Baseline: wrk POSTing
#            the same body straight to the receiver for as long (its
#            capacity: the ceiling of any sender).
#
# Environment (defaults in brackets):
#   BENCH_ONLY         runs, a subset of: emit deliver [both]
#   BENCH_PG_DSN       the database [the run stack's: host=127.0.0.1
#                      port=<.run/run/ports PG_PORT or CRM_PG_PORT,
#                      54320> dbname=crm user=crm]
#   BENCH_PORT         port of the bench nginx on 127.0.0.1 [8095]
#   BENCH_HOOK_PORT    port of the receiver on 127.0.0.1 [8096]
#   BENCH_DURATION     pgbench -T and wrk -d of each measured run [8s]
#   BENCH_PGBENCH      pgbench -c [4]
#   BENCH_CONNECTIONS  wrk -c [16]
#   BENCH_WORKERS      nginx worker_processes [2]
#   BENCH_CONCURRENCY  crm_webhook_concurrency [10]
#   BENCH_SKIP_MAKE    1: do not run make [0]
#
# Its own workspace (abababab-abab-4bab-8bab-abababababab) is emptied at
# the start and the end; its nginx, receiver log and raw outputs are in
# .run/bench-webhooks/ (git-ignored).  Another nginx delivering webhooks
# from the same database would take some deliveries: the script refuses
# to run while one listens (pg_stat_activity: LISTEN crm_jobs).
#
# Exit status: 0 when every write got a 201 and every event was
# delivered; 1 otherwise; 2 on a setup failure.

set -euo pipefail

TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
ME=bench/webhooks.sh
TAG=bench
# shellcheck source=bench/lib.sh
. "$TOP/bench/lib.sh"

ONLY=${BENCH_ONLY:-emit deliver}
PORT=${BENCH_PORT:-8095}
HOOK_PORT=${BENCH_HOOK_PORT:-8096}
DURATION=${BENCH_DURATION:-8s}
PGCLIENTS=${BENCH_PGBENCH:-4}
CONNS=${BENCH_CONNECTIONS:-16}
WORKERS=${BENCH_WORKERS:-2}
CONC=${BENCH_CONCURRENCY:-10}

B=$TOP/.run/bench-webhooks
BASE=http://127.0.0.1:$PORT
WS=abababab-abab-4bab-8bab-abababababab
APP=crm_bench_webhooks
PY=/usr/bin/python3
STATUS=0
SINK_PID=

numbers PORT HOOK_PORT PGCLIENTS CONNS WORKERS CONC
for name in $ONLY; do
    case $name in
        emit|deliver) ;;
        *) die "BENCH_ONLY: unknown run '$name' (emit deliver)" ;;
    esac
done
case $DURATION in
    *[!0-9s]*|'') die "BENCH_DURATION: seconds, e.g. 8s" ;;
esac
SECS=${DURATION%s}

for tool in wrk "$NGINX_BIN" "$PG_BIN/psql" "$PG_BIN/pgbench" "$PY"; do
    command -v "$tool" > /dev/null || die "missing $tool (run util/deps.sh)"
done

build "${BENCH_SKIP_MAKE:-0}"
rm -f "$B"/pgbench-* "$B"/wrk-* "$B"/*.sql
mkdir -p "$B/hooks"

if [ -n "${BENCH_PG_DSN:-}" ]; then
    PG_DSN=$BENCH_PG_DSN
else
    PG_PORT=$(run_port PG_PORT "${CRM_PG_PORT:-54320}")
    PG_DSN="host=127.0.0.1 port=$PG_PORT dbname=crm user=crm"
fi
psql_crm -c 'SELECT 1' > /dev/null \
    || die "cannot reach the database ($PG_DSN): make run, or BENCH_PG_DSN"

wipe() {
    psql_crm <<EOF
DELETE FROM webhook_deliveries WHERE workspace_id = '$WS';
DELETE FROM webhooks WHERE workspace_id = '$WS';
DELETE FROM events WHERE workspace_id = '$WS';
DELETE FROM contacts WHERE workspace_id = '$WS';
EOF
}

cleanup() {
    nginx_stop
    if [ -n "$SINK_PID" ]; then
        stop_pid "$SINK_PID"
    fi
    wipe > /dev/null 2>&1 || true
}
trap cleanup EXIT

n=$(psql_crm -tA -c "SELECT count(*) FROM pg_stat_activity
                      WHERE query = 'LISTEN crm_jobs'
                        AND application_name <> '$APP'")
if [ "$n" != 0 ] && want deliver; then
    die "$n job sessions of another nginx use this database: they would" \
        "deliver the bench's webhooks; stop that nginx first"
fi

wipe > /dev/null || die "cannot empty the bench workspace"
psql_crm -c "INSERT INTO workspaces (id, name) VALUES ('$WS',
             'Bench webhooks') ON CONFLICT (id) DO NOTHING" > /dev/null \
    || die "cannot make the bench workspace"

# ratio A B: A / B with two decimals
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b ? a / b : 0 }'; }


# ------------------------------------------------------------------- emit

# the planner's contact INSERT (src/model/crm_sql.c), first name and
# email set; $1 the workspace
ROW="json_build_object('id', id, 'firstName', first_name, 'lastName',
 last_name, 'email', email, 'phone', phone, 'title', title, 'companyId',
 company_id, 'ownerId', owner_id, 'status', status, 'source', source,
 'tags', tags, 'customFields', custom_fields, 'createdAt',
 to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'),
 'updatedAt', to_char(updated_at AT TIME ZONE 'UTC',
 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'))::text"
INS="INSERT INTO contacts (workspace_id, first_name, email)
 VALUES ('$WS'::uuid, 'Bench'::text,
 (gen_random_uuid()::text || '@bench.example')::text)"

pgb() {
    local name=$1
    "$PG_BIN/pgbench" -n -M simple -c "$PGCLIENTS" -j 2 -T "$SECS" \
        -f "$B/$name.sql" "$PG_DSN" > "$B/pgbench-$name.txt" 2>&1 \
        || { cat "$B/pgbench-$name.txt" >&2; die "pgbench $name failed"; }
    awk '/^tps = / { printf "%d", $3; exit }' "$B/pgbench-$name.txt"
}

if want emit; then
    echo "$INS RETURNING $ROW AS crm_row, version::text;" \
        | tr '\n' ' ' > "$B/plain.sql"
    echo "WITH w AS ($INS RETURNING $ROW AS crm_row, id AS crm_rid,
          version::text), e AS (INSERT INTO events (workspace_id, type,
          record_id, data) SELECT '$WS'::uuid, 'contact.created',
          crm_rid, jsonb_build_object('object', crm_row::jsonb) FROM w)
          SELECT crm_row, version FROM w;" | tr '\n' ' ' > "$B/event.sql"
    cp "$B/event.sql" "$B/hooked.sql"

    echo "bench: emit: pgbench -c $PGCLIENTS -T $SECS of the contact" \
         "INSERT (plain, with its event, with a subscription)"
    plain=$(pgb plain)
    event=$(pgb event)
    psql_crm -c "INSERT INTO webhooks (workspace_id, url, events, secret)
                 VALUES ('$WS', 'http://127.0.0.1:9/none', '{contact.*}',
                 'whsec_' || encode(gen_random_bytes(24), 'base64'))" \
        > /dev/null
    hooked=$(pgb hooked)
    wipe > /dev/null

    printf '  %-8s %8s tps\n' plain "$plain" event "$event" hooked "$hooked"
    echo "  event/plain $(ratio "$event" "$plain")," \
         "hooked/plain $(ratio "$hooked" "$plain")" \
         "(the share of creates per second left with events)"
fi


# ---------------------------------------------------------------- deliver

if want deliver; then
    KEY=$(bench_key "$B/bench.key" crm_bench)
    cat > "$B/conf/nginx.conf" <<EOF
$(nginx_main 4096)
http {
    access_log off;
$(nginx_temp_paths)
    crm_postgres "$PG_DSN application_name=$APP";
    crm_postgres_pool_size 8;
    crm_cursor_secret bench-cursor-secret-not-for-production-0123456789;
    crm_api_key $KEY $WS;
    crm_webhooks on;
    crm_webhook_concurrency $CONC;
    crm_jobs_interval 100ms;
    crm_outbound_allow 127.0.0.1;
    server {
        listen 127.0.0.1:$PORT;
        location /api/v1/ { crm_api; }
    }
}
EOF
    chmod 600 "$B/conf/nginx.conf"

    port_busy "$HOOK_PORT" && die "port 127.0.0.1:$HOOK_PORT is in use"
    rm -f "$B/hooks/log.jsonl"
    "$PY" "$TOP/util/webhook_sink.py" --port "$HOOK_PORT" \
        --dir "$B/hooks" > "$B/hooks/sink.out" 2>&1 &
    SINK_PID=$!
    for _ in $(seq 50); do port_busy "$HOOK_PORT" && break; sleep 0.1; done

    # the baseline: the receiver's own capacity, the body of an event
    body=$(printf '{"id":"evt_%032d","type":"contact.created",%s}' 0 \
           '"data":{"object":{"firstName":"Bench","title":"Load test"}}')
    cat > "$B/post.lua" <<EOF
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '$body'
EOF
    wrk -t 2 -c "$CONC" -d "$DURATION" -s "$B/post.lua" \
        "http://127.0.0.1:$HOOK_PORT/ok" > "$B/wrk-sink.txt" 2>&1 || true
    sink_rps=$(wrk_field "$B/wrk-sink.txt" rps)
    rm -f "$B/hooks/log.jsonl"

    nginx_start
    psql_crm -c "INSERT INTO webhooks (workspace_id, url, events, secret)
                 VALUES ('$WS', 'http://127.0.0.1:$HOOK_PORT/ok',
                 '{contact.created}',
                 'whsec_' || encode(gen_random_bytes(24), 'base64'))" \
        > /dev/null

    # a contact with a unique email a request (no custom fields)
    cat > "$B/create.lua" <<'EOF'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local ids = 0
function setup(thread)
    ids = ids + 1
    thread:set("id", ids)
end
function init(args)
    math.randomseed(os.time() * 1000 + id)
    run = string.format("%08x", math.random(0, 0x7fffffff))
    n = 0
end
function request()
    n = n + 1
    return wrk.format(nil, nil, nil, string.format(
        '{"firstName":"Bench","title":"Load test",'
        .. '"email":"w%s-%d-%d@bench.example"}', run, id, n))
end
EOF

    echo "bench: deliver: wrk -c $CONNS -d $DURATION creating contacts," \
         "one subscription, the receiver on 127.0.0.1:$HOOK_PORT"
    wrk -t 2 -c "$CONNS" -d "$DURATION" -s "$B/create.lua" \
        -H "X-API-Key: $KEY" "$BASE/api/v1/contacts" \
        > "$B/wrk-create.txt" 2>&1 || true
    for _ in $(seq 600); do
        left=$(psql_crm -tA -c "SELECT count(*) FROM webhook_deliveries
                                 WHERE workspace_id = '$WS'
                                   AND status <> 'succeeded'")
        [ "$left" = 0 ] && break
        sleep 0.5
    done
    # counted once drained: a create wrk gave up on when it stopped may
    # commit (with its event and delivery) after that
    writes=$(psql_crm -tA -c "SELECT count(*) FROM events
                               WHERE workspace_id = '$WS'")
    psql_crm -tA -F ' ' > "$B/deliver.txt" <<EOF
SELECT count(*),
       round(count(*) / extract(epoch FROM max(d.delivered_at)
                                           - min(e.created_at))),
       round(extract(epoch FROM max(d.delivered_at) - max(e.created_at))
             * 1000),
       round(1000 * extract(epoch FROM percentile_cont(0.5) WITHIN GROUP
             (ORDER BY d.delivered_at - e.created_at))),
       round(1000 * extract(epoch FROM percentile_cont(0.99) WITHIN GROUP
             (ORDER BY d.delivered_at - e.created_at)))
  FROM webhook_deliveries d
  JOIN events e ON e.workspace_id = d.workspace_id AND e.id = d.event_id
 WHERE d.workspace_id = '$WS' AND d.status = 'succeeded';
EOF
    read -r done dps lag p50 p99 < "$B/deliver.txt"
    got=$(wc -l < "$B/hooks/log.jsonl")
    create_rps=$(wrk_field "$B/wrk-create.txt" rps)
    if grep -q 'Non-2xx' "$B/wrk-create.txt"; then
        echo "bench: some creates did not answer 201:" \
             "$B/wrk-create.txt" >&2
        STATUS=1
    fi

    printf '  writes      %8s /s (wrk, %s events)\n' "$create_rps" "$writes"
    printf '  delivered   %8s /s (first event to last delivery;' "$dps"
    printf ' %s of %s, receiver got %s)\n' "$done" "$writes" "$got"
    printf '  lag         %8s ms after the last write;' "$lag"
    printf ' event to delivery p50 %s ms, p99 %s ms\n' "$p50" "$p99"
    printf '  receiver    %8s /s (its own capacity, wrk -c %s)\n' \
           "$sink_rps" "$CONC"
    echo "  delivered/writes $(ratio "$dps" "$create_rps")," \
         "delivered/receiver $(ratio "$dps" "$sink_rps")"
    if [ "$done" != "$writes" ] || [ "$got" -lt "$writes" ]; then
        echo "bench: NOT every event was delivered" >&2
        STATUS=1
    fi
fi

exit $STATUS
