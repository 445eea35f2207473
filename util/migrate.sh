#!/usr/bin/env bash
# util/migrate.sh: apply the sql/NNN_name.sql migrations in order, each
# at most once, each in its own transaction.
#
#   util/migrate.sh run|test            the database of a local instance
#   util/migrate.sh 'host=... dbname=...'   any database (libpq conninfo)
#
# Applied versions (the NNN prefix) are recorded in
#   schema_migrations(version text primary key, applied_at timestamptz)
# in the same transaction as the migration itself, so a failed migration
# leaves nothing behind and is tried again next time.  A migration file
# must therefore not contain BEGIN/COMMIT of its own.  An applied
# migration is never re-applied, even if its file changed: to start over,
# reset the database (make test always does; for make run:
# make stop && rm -rf .run/run).
#
# Prints one line per applied migration, with how far the run is (the
# count, the percentage, the time so far and an estimate of the time
# left); nothing when up to date.  A migration that runs for more than
# two seconds is reported while it runs (util/lib.sh, progress_watch).
# Environment: MIGRATIONS_DIR (default: sql/ of this checkout), PG_BIN.
# The Debian package installs this script as
# /usr/share/ngx-http-crm/migrate.sh, run by ngx-http-crm-migrate.

set -euo pipefail

# shellcheck source=util/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

[ $# -eq 1 ] || die "usage: $0 run|test|CONNINFO"
case $1 in
    *=*|postgres://*|postgresql://*) dsn=$1 ;;
    *)   instance_init "$1"; dsn=$PG_DSN ;;
esac

dir=${MIGRATIONS_DIR:-$TOP/sql}

psql_m() {
    PGOPTIONS='-c client_min_messages=warning' \
    "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 "$dsn" "$@"
}

psql_m -c "CREATE TABLE IF NOT EXISTS schema_migrations (
               version    text PRIMARY KEY,
               applied_at timestamptz NOT NULL DEFAULT now())" \
    || die "cannot reach the database ($dsn)"

applied=" $(psql_m -tA -c 'SELECT version FROM schema_migrations' \
            | tr '\n' ' ') "

shopt -s nullglob
files=()
while IFS= read -r f; do
    if [ -n "$f" ]; then files+=("$f"); fi
done < <(cd "$dir" && printf '%s\n' [0-9]*_*.sql | LC_ALL=C sort)

# the migrations to apply, checked first
seen=" "
todo=()
for f in "${files[@]}"; do
    v=${f%%_*}
    case $v in *[!0-9]*) die "bad migration name: $dir/$f" ;; esac
    case $seen in
        *" $v "*) die "two migrations numbered $v in $dir" ;;
    esac
    seen="$seen$v "

    case $applied in *" $v "*) continue ;; esac
    todo+=("$f")
done

start=$(clock_ms)
k=0
for f in "${todo[@]}"; do
    v=${f%%_*}
    t0=$(clock_ms)
    psql_m -1 -f "$dir/$f" \
        -c "INSERT INTO schema_migrations (version) VALUES ('$v')" &
    pid=$!
    # shellcheck disable=SC2016   # the counter is evaluated while it runs
    progress_watch "migrate: $f running;" "${#todo[@]}" migrations \
        'echo "$k"' "$pid"
    if ! wait "$pid"; then
        die "migration $f failed; nothing of it was applied"
    fi
    k=$(( k + 1 ))
    echo "migrate: applied $f in $(fmt_ms $(( $(clock_ms) - t0 )))" \
         "($(progress_line "$k" "${#todo[@]}" migrations "$start"))"
done
