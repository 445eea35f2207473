#!/usr/bin/env bash
# util/seed-demo.sh: the demo workspace and API key of "make run".
#
# Idempotent: the workspace id and the key are generated once per .run/
# directory and kept in .run/run/demo.workspace and .run/run/demo.key.
#
# Output: .run/run/api-keys.conf, the nginx directives that make the key
# valid; util/stack.sh puts its lines in place of the line holding
# @DEMO_API_KEY@ in nginx.conf.example.  Prints the key.
#
# Today the key is a static key bound to the workspace by the directive
#     crm_api_key <key> <workspace-uuid>;
# (see issue_key_static).  To switch to keys created through the API-keys
# code path, write an issue_key_* function that creates the key in the
# database (or through the API once nginx is up), stores its clear text
# in $KEY_FILE, and writes an empty $KEYS_CONF; then select it below.

set -euo pipefail

# shellcheck source=util/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

instance_init run

WS_FILE=$DIR/demo.workspace
KEY_FILE=$DIR/demo.key
KEYS_CONF=$DIR/api-keys.conf
WS_NAME=Demo

mkdir -p "$DIR"

# ---- the workspace ----------------------------------------------------

if [ ! -s "$WS_FILE" ]; then
    cat /proc/sys/kernel/random/uuid > "$WS_FILE"
fi
ws=$(tr -dc '0-9a-f-' < "$WS_FILE")

psql_crm -c "INSERT INTO workspaces (id, name) VALUES ('$ws', '$WS_NAME')
             ON CONFLICT DO NOTHING" \
    || die "cannot insert the demo workspace (are the migrations applied?)"

# ---- the key ----------------------------------------------------------

# static key: a random secret, valid because nginx.conf says so
issue_key_static() {
    if [ ! -s "$KEY_FILE" ]; then
        (umask 077 && echo "crm_demo_$(random_hex 24)" > "$KEY_FILE")
    fi
    echo "crm_api_key $(cat "$KEY_FILE") $ws;" > "$KEYS_CONF.new"
    chmod 600 "$KEYS_CONF.new"
    mv -f "$KEYS_CONF.new" "$KEYS_CONF"
}

issue_key_static

echo "demo workspace: $WS_NAME $ws"
echo "demo API key:   $(cat "$KEY_FILE")"
