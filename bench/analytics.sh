#!/usr/bin/env bash
# bench/analytics.sh: the latency of the analytics endpoints (issue 12)
# at the size of "make seed N=..." (N=100000: about 1M email events),
# next to baselines measured in the same run: a static nginx response
# and GET of one contact (wrk), and the SQL functions behind the
# endpoints alone (pgbench).  See bench/README, "Analytics".
#
#   make seed N=100000 && bench/analytics.sh
#   BENCH_DURATION=5s BENCH_ONLY="get acontact" bench/analytics.sh
#
# The wrk runs (bench/run.sh in seed mode: its knobs apply; its nginx
# has no crm_redis, so every answer is computed: no cache):
#   static     a static nginx response of the same size as GET by id
#   get        GET /contacts/<id>: the API's baseline
#   aemails    GET /analytics/emails: the workspace, by day, 30 days
#   ahour      GET /analytics/emails?interval=hour&from=<30 days ago>:
#              721 buckets, near the longest series
#   acampaign  GET /analytics/campaigns/<the seed's campaign 1>: totals,
#              a daily series since its start, links, recipients by
#              state (a GROUP BY of its ~N/3 recipients)
#   acontact   GET /analytics/contacts/<the seed's contact 1>
# Then pgbench (-c1: one session; BENCH_PGBENCH_TIME seconds each [5]; 0:
# none)
# of one call of db_analytics_emails() (day, hour), db_analytics_
# campaign() and db_analytics_contact() with the same arguments: what the
# database takes, without HTTP.  Prints each figure, the wrk runs' ratio
# to get, and the number of email events of the seed workspace.  Exit
# status: bench/run.sh's.

set -euo pipefail

TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
PGBENCH_TIME=${BENCH_PGBENCH_TIME:-5}
WS=cccccccc-cccc-4ccc-8ccc-cccccccccccc

# run.sh's exit status (1: a run that was not clean) is this script's
rc=0
BENCH_DATA=seed \
BENCH_ONLY=${BENCH_ONLY:-static get aemails ahour acampaign acontact} \
    "$TOP/bench/run.sh" "$@" || rc=$?

[ "$rc" -le 1 ] || exit "$rc"
[ "$PGBENCH_TIME" != 0 ] || exit "$rc"

# shellcheck source=util/lib.sh
. "$TOP/util/lib.sh"
instance_init run

if ! "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT" -t 2; then
    echo "bench: PostgreSQL of the run stack is down: no pgbench runs"
    exit "$rc"
fi

events=$(psql_crm -tA -c "SELECT count(*) FROM email_events
                           WHERE workspace_id = '$WS'")
echo
echo "bench: pgbench -c1 -T$PGBENCH_TIME of the SQL functions alone" \
     "($events email events in the seed workspace)"

T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT

cat > "$T/aemails.sql" <<EOF
SELECT db_analytics_emails('$WS',
           date_trunc('day', now(), 'UTC') - interval '29 days',
           date_trunc('day', now(), 'UTC') + interval '1 day', 'day', NULL);
EOF
cat > "$T/ahour.sql" <<EOF
SELECT db_analytics_emails('$WS',
           date_trunc('hour', now(), 'UTC') - interval '720 hours',
           date_trunc('hour', now(), 'UTC') + interval '1 hour', 'hour',
           NULL);
EOF
cat > "$T/acampaign.sql" <<EOF
SELECT db_analytics_campaign('$WS', 'cccccccc-0008-4000-8000-000000000001');
EOF
cat > "$T/acontact.sql" <<EOF
SELECT db_analytics_contact('$WS', 'cccccccc-0002-4000-8000-000000000001');
EOF

for name in aemails ahour acampaign acontact; do
    out=$(PGOPTIONS='-c client_min_messages=warning' \
          "$PG_BIN/pgbench" -n -c1 -T"$PGBENCH_TIME" -f "$T/$name.sql" \
          "$PG_DSN" 2>&1) || { echo "$out" >&2; continue; }
    tps=$(echo "$out" | awk '/^tps/ { printf "%.0f", $3; exit }')
    lat=$(echo "$out" | awk '/latency average/ { print $4; exit }')
    printf '  pg %-10s %8s calls/s  latency %s ms\n' "$name" "$tps" "$lat"
done

exit "$rc"
