#!/usr/bin/env bash
# bench/insert_cost.sh: where the PostgreSQL time of one contact create
# goes (issue 15, direction 2).  See bench/README, "The insert path".
#
# A scratch database (crm_insert_cost) on the run stack's PostgreSQL gets
# the sql/ migrations and BENCH_ROWS contacts; then bench/insert_cost.py
# runs, per variant, EXPLAIN ANALYZE of one statement that creates
# BENCH_N contacts (as bench/create.lua's), in a transaction that is
# rolled back with the DDL the variant needs, BENCH_ROUNDS times:
#
#   before       the create as it was before sql/056: the event's data
#                the row's JSON text parsed again, the old fan-out
#                trigger, events_age back
#   api          the planner's create as the module sends it (WITH w AS
#                (INSERT ... RETURNING the row's JSON and its jsonb), e AS
#                (INSERT INTO events ...) SELECT ...), every trigger and
#                index on
#   api-text     "api" with the event's data the row's JSON text parsed
#                again (before sql/056)
#   +evage       "api" with events_age back (dropped by sql/056)
#   +oldfanout   "api" with the fan-out trigger of sql/018
#   -fanout      "api" without the events' fan-out trigger (events_fanout)
#   -evindex     "api" without events_created and events_type (the primary
#                key and events_seq stay)
#   api-noevent  the same INSERT ... RETURNING the row's JSON, no event
#   plain        INSERT INTO contacts (...) SELECT ...: no RETURNING
#   then "plain" without one thing:
#   -trgm        the GIN trigram search index (contacts_search)
#   -fts         the GIN tsvector search index (contacts_fts)
#   -search      both
#   -trigger     the custom-field trigger (contacts_custom_fields)
#   -unique      the unique index on the live email (contacts_email_live)
#   bare         all of these dropped: the table, its primary key and its
#                b-tree indexes
#
# A statement of many rows leaves out what one create pays once per
# statement (parse, bind, executor start, commit): bench/run.sh's
# create and pginsert runs measure that side.
#
#   BENCH_ONLY="api plain" bench/insert_cost.sh
#
# Environment: BENCH_ROWS [100000], BENCH_N [2000], BENCH_ROUNDS [5],
# BENCH_ONLY [all], CRM_PG_PORT when .run/run/ports does not say,
# BENCH_KEEP_DB=1 keeps the scratch database.

set -euo pipefail

TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
ME=bench/insert_cost.sh
TAG=cost
B=$TOP/.run/insert-cost
# shellcheck source=bench/lib.sh
. "$TOP/bench/lib.sh"

ROWS=${BENCH_ROWS:-100000}
N=${BENCH_N:-2000}
ROUNDS=${BENCH_ROUNDS:-5}
ONLY=${BENCH_ONLY:-}
numbers ROWS N ROUNDS

WS=bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb
DB=crm_insert_cost
mkdir -p "$B"

PG_PORT=$(run_port PG_PORT "${CRM_PG_PORT:-54320}")
PG_DSN="host=127.0.0.1 port=$PG_PORT dbname=$DB user=crm"
ADMIN="host=127.0.0.1 port=$PG_PORT dbname=postgres user=postgres"
"$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT" -t 2 \
    || die "no PostgreSQL on 127.0.0.1:$PG_PORT (make run, or" \
           "util/stack.sh run up)"

admin() {
    PGOPTIONS='-c client_min_messages=warning' \
    "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 "$ADMIN" "$@"
}

admin -c "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB OWNER crm"
if [ "${BENCH_KEEP_DB:-0}" != 1 ]; then
    trap 'admin -c "DROP DATABASE IF EXISTS $DB" || true' EXIT
fi
"$TOP/util/migrate.sh" "$PG_DSN" > /dev/null || die "migrations failed"

echo "cost: seeding $ROWS contacts"
psql_crm -1 <<EOF || die "seeding failed"
INSERT INTO workspaces (id, name) VALUES ('$WS', 'Bench');
INSERT INTO custom_fields (workspace_id, object, name, type)
VALUES ('$WS', 'contacts', 'n', 'number'),
       ('$WS', 'contacts', 'thread', 'number');
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
# no autovacuum in the middle of a run (every variant rolls back)
psql_crm -c "VACUUM ANALYZE contacts" \
         -c "ALTER TABLE contacts SET (autovacuum_enabled = off)" \
         -c "ALTER TABLE events SET (autovacuum_enabled = off)" \
    || die "VACUUM failed"

# EXPLAIN ANALYZE of one statement of BENCH_N rows per variant, rolled
# back (the DDL that drops what a variant leaves out too), in rounds
python3 "$TOP/bench/insert_cost.py" "$PG_DSN" "$N" "$ROUNDS" "$ONLY" \
    || die "bench/insert_cost.py failed"
