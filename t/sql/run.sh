#!/usr/bin/env bash
# t/sql/run.sh: the SQL tests of the database functions, as TAP for prove.
#
#   t/sql/run.sh [CONNINFO]          prove t/sql/run.sh  (-v: every line)
#
# CONNINFO defaults to $TEST_NGINX_PG_DSN (make test exports it), else to
# the database of the local "test" instance (util/stack.sh test up).
#
# t/sql/auth.sql runs in one transaction that it rolls back: it leaves
# nothing behind.  Then a concurrency check with committed rows (fixed
# ids, deleted again on exit): 10 parallel wrong logins of one user give
# exactly 4 "invalid" and 6 "locked".  The plan is printed last; an SQL
# error stops the script and fails it.  One run at a time per database
# (make test holds a lock): the concurrency check's rows have fixed ids.
# Last, the fields the descriptors flag never null (listed by
# t/unit/test_schema.t.bin, which make unit builds) must be columns the
# database declares NOT NULL: the planner pages them without their nulls.

set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=util/lib.sh
. "$here/../../util/lib.sh"

if [ $# -ge 1 ]; then
    dsn=$1
elif [ -n "${TEST_NGINX_PG_DSN:-}" ]; then
    dsn=$TEST_NGINX_PG_DSN
else
    instance_init test
    dsn=$PG_DSN
fi

psql_t() {
    PGOPTIONS='-c client_min_messages=warning' \
    "$PG_BIN/psql" -X -q -At -v ON_ERROR_STOP=1 "$dsn" "$@"
}

out=$(mktemp)
trap 'rm -f "$out"' EXIT

# ---- t/sql/auth.sql

# TAP lines as they are, anything else (an error) as a comment
tap() {
    sed -E -e '/^(1\.\.[0-9]+|# [0-9]+ passed, [0-9]+ failed)$/d' \
           -e '/^((not )?ok [0-9]+|#)/!s/^/# /' "$1"
}

if ! psql_t -f "$here/auth.sql" > "$out" 2>&1; then
    tap "$out"
    n=$(grep -cE '^(not )?ok [0-9]+' "$out")
    echo "not ok $((n + 1)) - t/sql/auth.sql ran to its end"
    echo "1..$((n + 1))"
    exit 1
fi

tap "$out"
n=$(grep -cE '^(not )?ok [0-9]+' "$out")
failed=$(grep -cE '^not ok [0-9]+' "$out")

# ---- concurrency: the lockout holds against parallel attempts

ok() {
    n=$((n + 1))
    if [ "$1" = "$2" ]; then
        echo "ok $n - $3"
    else
        echo "not ok $n - $3"
        echo "#   got:      $1"
        echo "#   expected: $2"
        failed=$((failed + 1))
    fi
}

ws=a0000000-0000-4000-8000-0000000000f1
user=a0000000-0000-4000-8000-0000000000f2
email=parallel@authtest.invalid

cleanup() {
    psql_t -c "DELETE FROM sessions WHERE workspace_id = '$ws';
               DELETE FROM users WHERE workspace_id = '$ws';
               DELETE FROM workspaces WHERE id = '$ws'" > /dev/null 2>&1
}
trap 'cleanup; rm -f "$out"' EXIT

cleanup
if ! psql_t -c "INSERT INTO workspaces (id, name) VALUES ('$ws', 'Auth test');
                INSERT INTO users (workspace_id, id, email, password_hash)
                VALUES ('$ws', '$user', '$email',
                        db_password_hash('correct horse battery'))" \
        > "$out" 2>&1; then
    sed "s/^/# /" "$out"
    n=$((n + 1)); failed=$((failed + 1))
    echo "not ok $n - the concurrency fixture"
else
    pids=()
    for i in $(seq 10); do
        psql_t -c "SELECT status FROM db_login('$email', 'wrong $i',
                                                '1 hour')" \
            > "$out.$i" 2>&1 &
        pids+=($!)
    done
    for pid in "${pids[@]}"; do wait "$pid"; done
    got=$(cat "$out".* | sort | uniq -c | awk '{printf "%s %s,", $2, $1}')
    rm -f "$out".*
    ok "$got" "invalid 4,locked 6," \
       "10 parallel wrong logins: 4 invalid, the 5th locks, the rest locked"
    ok "$(psql_t -c "SELECT failed_logins, locked_until > now()
                     FROM users WHERE id = '$user'")" "0|t" \
       "... one lock, the count reset"
    ok "$(psql_t -c "SELECT count(*) FROM sessions WHERE user_id = '$user'")" \
       "0" "... and no session"
fi

# ---- the descriptors' never-null fields are NOT NULL columns

# the planner pages them without their nulls (t/unit/test_schema.c lists
# them; make unit builds it, and make test runs it first)
schema="$here/../unit/test_schema.t.bin"

if [ -x "$schema" ]; then
    pairs=$("$schema" --never-null \
            | awk -v q="'" '{ printf "%s(%s%s%s, %s%s%s)",
                                     (NR > 1 ? "," : ""), q, $1, q, q, $2, q }')
    ok "$([ -n "$pairs" ] && echo listed)" "listed" \
       "the never-null fields of the descriptors are listed"
    ok "$(psql_t -c "SELECT coalesce(string_agg(t || '.' || c, ' '
                                                ORDER BY t, c), 'none')
                     FROM (VALUES $pairs) v(t, c)
                     WHERE NOT EXISTS (
                         SELECT 1 FROM information_schema.columns k
                          WHERE k.table_schema = current_schema()
                            AND k.table_name = v.t AND k.column_name = v.c
                            AND k.is_nullable = 'NO')")" "none" \
       "each is a column its table declares NOT NULL"
else
    echo "# $schema is not built (make unit): never-null columns not checked"
fi

echo "1..$n"
echo "# $((n - failed)) passed, $failed failed"
[ "$failed" -eq 0 ]
