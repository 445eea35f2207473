#!/usr/bin/env bash
# util/seed-demo.sh: the demo workspace, owner and API key of "make run".
#
# Idempotent: generated once per .run/ directory and kept in .run/run/:
#   demo.workspace   the workspace id
#   demo.password    the password of the owner demo@example.com
#                    (POST /auth/login)
#   demo.key         the owner's API key, every scope
# A later run reuses them while they still work: the key is made anew
# when it was revoked, has expired or is not in the database (e.g. an old
# static key), and earlier demo keys are revoked then; the password is
# set anew when it no longer matches.
#
# The key is made by db_api_key_create() (sql/002_auth.sql), the code
# path of POST /api-keys and of db_bootstrap(); the database keeps only
# its prefix and hash.  Nothing goes into nginx.conf: the module finds
# the key in PostgreSQL.  Prints the workspace, the owner and the key.

set -euo pipefail

# shellcheck source=util/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

instance_init run

WS_FILE=$DIR/demo.workspace
PW_FILE=$DIR/demo.password
KEY_FILE=$DIR/demo.key
WS_NAME=Demo
EMAIL=demo@example.com

mkdir -p "$DIR"

# a static key directive of earlier versions: no longer used
rm -f "$DIR/api-keys.conf"

# psql_q VAR=VALUE... <<< SQL: one value (or none), with the values passed
# as psql variables (:'var'), never spliced into the SQL text
psql_q() {
    local args=()
    while [ $# -gt 0 ]; do
        args+=(-v "$1")
        shift
    done
    psql_crm -tA "${args[@]}"
}

# ---- the workspace ----------------------------------------------------

if [ ! -s "$WS_FILE" ]; then
    cat /proc/sys/kernel/random/uuid > "$WS_FILE"
fi
ws=$(tr -dc '0-9a-f-' < "$WS_FILE")

if ! psql_q "ws=$ws" "name=$WS_NAME" > /dev/null <<'EOF'
INSERT INTO workspaces (id, name) VALUES (:'ws', :'name')
    ON CONFLICT DO NOTHING;
EOF
then
    die "cannot insert the demo workspace (are the migrations applied?)"
fi

# ---- the owner --------------------------------------------------------

pw=
if [ -s "$PW_FILE" ]; then
    pw=$(tr -dc '0-9a-f' < "$PW_FILE")
fi

# the owner's id when the password in $PW_FILE is still theirs
user=$(psql_q "ws=$ws" "email=$EMAIL" "pw=$pw" <<'EOF'
SELECT id FROM users
 WHERE workspace_id = :'ws' AND lower(email) = lower(:'email')
   AND deleted_at IS NULL
   AND password_hash IS NOT NULL
   AND crypt(:'pw', password_hash) = password_hash;
EOF
) || die "cannot read the demo owner"

if [ -z "$user" ]; then
    pw=$(random_hex 12)
    user=$(psql_q "ws=$ws" "email=$EMAIL" "pw=$pw" <<'EOF'
WITH updated AS (
    UPDATE users
       SET password_hash = db_password_hash(:'pw'), role = 'owner',
           failed_logins = 0, locked_until = NULL, updated_at = now()
     WHERE workspace_id = :'ws' AND lower(email) = lower(:'email')
       AND deleted_at IS NULL
    RETURNING id
), inserted AS (
    INSERT INTO users (workspace_id, email, name, role, password_hash)
    SELECT :'ws', :'email', 'Demo Owner', 'owner', db_password_hash(:'pw')
     WHERE NOT EXISTS (SELECT 1 FROM updated)
    RETURNING id
)
SELECT id FROM updated UNION ALL SELECT id FROM inserted;
EOF
    ) || die "cannot create the demo owner $EMAIL" \
             "(does another workspace have a user with that email?)"
    (umask 077 && echo "$pw" > "$PW_FILE.new")
    mv -f "$PW_FILE.new" "$PW_FILE"
fi

# ---- the key ----------------------------------------------------------

key=
if [ -s "$KEY_FILE" ]; then
    key=$(tr -dc 'a-z0-9_' < "$KEY_FILE")
fi

live=$(psql_q "ws=$ws" "key=$key" <<'EOF'
SELECT 1 FROM api_keys
 WHERE prefix = left(:'key', 16) AND deleted_at IS NULL
   AND workspace_id = :'ws'
   AND secret_hash = digest(:'key', 'sha256')
   AND (expires_at IS NULL OR expires_at > now());
EOF
) || die "cannot check the demo key"

if [ "$live" != 1 ]; then
    # earlier demo keys are revoked: nobody holds them any more
    key=$(psql_q "ws=$ws" "user=$user" <<'EOF'
BEGIN;
UPDATE api_keys SET deleted_at = now(), updated_at = now()
 WHERE workspace_id = :'ws' AND name = 'demo' AND deleted_at IS NULL;
SELECT key FROM db_api_key_create(:'ws', 'demo', '{*}', NULL, :'user');
COMMIT;
EOF
    ) || die "cannot create the demo key"
    [ -n "$key" ] || die "db_api_key_create() returned no key"
    (umask 077 && echo "$key" > "$KEY_FILE.new")
    mv -f "$KEY_FILE.new" "$KEY_FILE"
fi

echo "demo workspace: $WS_NAME $ws"
echo "demo owner:     $EMAIL  password: $pw"
echo "demo API key:   $key"
