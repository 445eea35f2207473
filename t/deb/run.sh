#!/usr/bin/env bash
# t/deb/run.sh: the Debian package (make deb) installed into the
# system's nginx with dpkg -i, checked, and removed again, as TAP for
# prove; make test runs it.
#
#   prove t/deb/run.sh
#
# Builds the package when it is not up to date (util/deb.sh: lintian
# errors fail it), installs it, and checks what Debian's libnginx-mod-*
# packages provide: the dependencies (the nginx-abi-* the installed
# nginx provides, the libraries), the .so in /usr/lib/nginx/modules,
# mod-http-crm.conf in /usr/share/nginx/modules-available, the
# 50-mod-http-crm.conf link in /etc/nginx/modules-enabled made by the
# maintainer scripts; "nginx -t" of a configuration that loads the
# module through that link (as /etc/nginx/nginx.conf does) and uses its
# directives, which fails before the install and after the removal; the
# system's own configuration still passes "nginx -t" (when it did); the
# migrations and ngx-http-crm-migrate (against a scratch database of the
# test stack's PostgreSQL, when CRM_TEST_PG_PORT is set and it answers).  Then
# dpkg -r (the link set aside as Debian does) and dpkg --purge: nothing
# of the package is left.
#
# CRM_DEB=path/to/the.deb tests that package instead of building one.
#
# Needs root and dpkg; skipped otherwise, and when the package is
# already installed (it is then the administrator's, left alone).  A
# lock (/run/lock/libnginx-mod-http-crm-test.lock) keeps two checkouts
# from running it at once; dpkg's own lock is waited for (60 s).  The
# package is purged on every exit once installed.

set -uo pipefail

TOP=$(cd "$(dirname "$0")/../.." && pwd -P)
PKG=libnginx-mod-http-crm
ENABLED=/etc/nginx/modules-enabled/50-mod-http-crm.conf
AVAILABLE=/usr/share/nginx/modules-available/mod-http-crm.conf
SO=/usr/lib/nginx/modules/ngx_http_crm_module.so
SHARE=/usr/share/ngx-http-crm
MIGRATE=/usr/sbin/ngx-http-crm-migrate
NGINX=${TEST_NGINX_BINARY:-/usr/sbin/nginx}
HTTP_PORT=${TEST_NGINX_SERVER_PORT:-1984}
PG_PORT=${CRM_TEST_PG_PORT:-}
SCRATCH_DB=crm_deb_test

n=0
failed=0

ok() {
    n=$(( n + 1 ))
    echo "ok $n - $1"
}

not_ok() {
    n=$(( n + 1 ))
    failed=$(( failed + 1 ))
    echo "not ok $n - $1"
    shift
    local line
    for line in "$@"; do
        printf '%s\n' "$line" | sed 's/^/#   /'
    done
}

# is DESCRIPTION CMD...: ok when CMD succeeds; its output shown if not
is() {
    local what=$1 out
    shift
    if out=$("$@" 2>&1); then
        ok "$what"
    else
        not_ok "$what" "$out"
    fi
}

skip_all() {
    echo "1..0 # SKIP $1"
    exit 0
}

[ "$(id -u)" -eq 0 ] || skip_all "needs root (dpkg -i)"
command -v dpkg > /dev/null || skip_all "no dpkg"
[ -x "$NGINX" ] || skip_all "no nginx at $NGINX"
if dpkg-query -W -f='${Status}' "$PKG" 2>/dev/null | grep -q installed; then
    skip_all "$PKG is installed already: not touching it"
fi

TMP=$(mktemp -d)
INSTALLED=

cleanup() {
    if [ -n "$INSTALLED" ]; then
        dpkg_wait --purge "$PKG" > /dev/null 2>&1 || true
    fi
    if [ -n "${PG_UP:-}" ]; then
        psql_admin -c "DROP DATABASE IF EXISTS $SCRATCH_DB WITH (FORCE)" \
            > /dev/null 2>&1 || true
    fi
    rm -rf "$TMP"
}
trap cleanup EXIT

# dpkg_wait ARGS...: dpkg ARGS, waiting up to 60 s for dpkg's lock
dpkg_wait() {
    local out rc
    for _ in $(seq 120); do
        out=$(dpkg "$@" 2>&1) && { printf '%s\n' "$out"; return 0; }
        rc=$?
        if ! printf '%s\n' "$out" | grep -q 'lock'; then
            printf '%s\n' "$out"
            return "$rc"
        fi
        sleep 0.5
    done
    printf '%s\n' "$out"
    return "$rc"
}

psql_admin() {
    PGOPTIONS='-c client_min_messages=warning' \
    psql -X -q -v ON_ERROR_STOP=1 \
        "host=127.0.0.1 port=$PG_PORT dbname=postgres user=postgres" "$@"
}

# what the package may touch, to compare before and after
snapshot() {
    local d
    for d in /etc/nginx/modules-enabled /usr/share/nginx/modules-available \
             /usr/lib/nginx/modules "$SHARE" /usr/sbin; do
        if [ -d "$d" ]; then
            find "$d" -maxdepth 1 -mindepth 1 -printf '%p %y %l\n' | sort
        else
            echo "$d absent"
        fi
    done
}

# the configuration of the check: the modules of the system (the
# modules-enabled links, as /etc/nginx/nginx.conf includes them), the
# module's directives; everything nginx writes in $TMP
cat > "$TMP/nginx.conf" <<CONF
include /etc/nginx/modules-enabled/*.conf;

pid        $TMP/nginx.pid;
lock_file  $TMP/nginx.lock;
error_log  $TMP/error.log;

events {
    worker_connections 64;
}

http {
    client_body_temp_path  $TMP/client_body;
    proxy_temp_path        $TMP/proxy;
    fastcgi_temp_path      $TMP/fastcgi;
    uwsgi_temp_path        $TMP/uwsgi;
    scgi_temp_path         $TMP/scgi;
    access_log             off;

    crm_postgres "host=127.0.0.1 port=${PG_PORT:-5432} dbname=crm user=crm";
    crm_postgres_pool_size 4;
    crm_auth_cache zone=crm_auth:1m ttl=30s negative_ttl=5s;

    server {
        listen 127.0.0.1:$HTTP_PORT;

        location /api/v1/ {
            crm_api;
            crm_max_body_size 1m;
        }

        location / {
            crm_json_errors on;
            return 404;
        }
    }
}
CONF

nginx_t() {
    "$NGINX" -t -c "$TMP/nginx.conf" -e "$TMP/error.log"
}

# only one checkout at a time installs the package
mkdir -p /run/lock
exec 9> /run/lock/libnginx-mod-http-crm-test.lock
if ! flock -w 300 9; then
    echo "1..0 # SKIP another checkout's t/deb/run.sh holds the lock"
    exit 0
fi

echo "1..17"

# ---- build ----------------------------------------------------------------

if [ -n "${CRM_DEB:-}" ]; then
    DEB=$CRM_DEB
    ok "# SKIP make deb: testing CRM_DEB=$CRM_DEB"
elif out=$("$TOP/util/deb.sh" 2>&1); then
    DEB=$(printf '%s\n' "$out" | tail -n 1)
    ok "make deb builds $(basename "$DEB")"
else
    not_ok "make deb builds the package" "$(printf '%s\n' "$out" | tail -40)"
    echo "Bail out! no package"
    exit 1
fi

version=$(dpkg-deb -f "$DEB" Version)
arch=$(dpkg-deb -f "$DEB" Architecture)
is "named ${PKG}_<version>_<arch>.deb" \
    test "$(basename "$DEB")" = "${PKG}_${version}_${arch}.deb"

depends=$(dpkg-deb -f "$DEB" Depends)
abi=$(dpkg-query -W -f='${Provides}\n' nginx nginx-core nginx-light \
          nginx-extras nginx-full 2>/dev/null \
      | grep -o 'nginx-abi-[^ ,]*' | head -n 1)
missing=
for d in "$abi" libpq5 libhiredis libjansson libcurl libgmime-3.0 libssl; do
    case ", $depends" in
        *", $d"*) ;;
        *) missing="$missing $d" ;;
    esac
done
if [ -n "$abi" ] && [ -z "$missing" ]; then
    ok "depends on $abi (the installed nginx's ABI) and the libraries"
else
    not_ok "depends on the nginx ABI (${abi:-none found}) and the libraries" \
        "missing:$missing" "Depends: $depends"
fi

# ---- before ---------------------------------------------------------------

before=$(snapshot)
system_ok=
if "$NGINX" -t -q > /dev/null 2>&1; then
    system_ok=1
fi

out=$(nginx_t 2>&1) && rc=0 || rc=$?
if [ "$rc" -ne 0 ] && printf '%s\n' "$out" | grep -q 'unknown directive "crm_'; then
    ok "before the install, nginx -t refuses the crm directives"
else
    not_ok "before the install, nginx -t refuses the crm directives" "$out"
fi

# ---- install --------------------------------------------------------------

if out=$(dpkg_wait -i "$DEB"); then
    INSTALLED=1
    ok "dpkg -i installs it"
else
    not_ok "dpkg -i installs it" "$out"
    INSTALLED=1
    echo "Bail out! not installed"
    exit 1
fi

is "the module is $SO" test -s "$SO"
is "$AVAILABLE loads it" \
    grep -qx 'load_module modules/ngx_http_crm_module.so;' "$AVAILABLE"
is "$ENABLED links to it" test "$(readlink "$ENABLED")" = "$AVAILABLE"

nsql=$(find "$TOP/sql" -maxdepth 1 -name '[0-9]*_*.sql' | wc -l)
is "the $nsql migrations are in $SHARE/sql, with $MIGRATE" \
    bash -c "[ \$(find $SHARE/sql -name '[0-9]*_*.sql' | wc -l) = $nsql ] \
             && [ -x $MIGRATE ]"

out=$(nginx_t 2>&1) && rc=0 || rc=$?
if [ "$rc" -eq 0 ] && printf '%s\n' "$out" | grep -q 'test is successful'; then
    ok "nginx -t: the module loads through the link, its directives pass"
else
    not_ok "nginx -t: the module loads through the link, its directives pass" \
        "$out"
fi

if [ -n "$system_ok" ]; then
    is "nginx -t of /etc/nginx/nginx.conf still passes" "$NGINX" -t -q
else
    ok "# SKIP /etc/nginx/nginx.conf did not pass nginx -t before"
fi

# ---- the migration tool ---------------------------------------------------

if [ -n "$PG_PORT" ] && command -v psql > /dev/null \
   && psql_admin -c 'SELECT 1' > /dev/null 2>&1; then
    PG_UP=1
    psql_admin -c "DROP DATABASE IF EXISTS $SCRATCH_DB WITH (FORCE)" \
        > /dev/null 2>&1
    psql_admin -c "CREATE DATABASE $SCRATCH_DB OWNER crm" > /dev/null 2>&1
    dsn="host=127.0.0.1 port=$PG_PORT dbname=$SCRATCH_DB user=crm"
    out=$("$MIGRATE" "$dsn" 2>&1 < /dev/null)
    applied=$(printf '%s\n' "$out" | grep -c '^migrate: applied ')
    if [ "$applied" -eq "$nsql" ]; then
        ok "ngx-http-crm-migrate applies the $nsql migrations"
    else
        not_ok "ngx-http-crm-migrate applies the $nsql migrations" \
            "applied $applied:" "$out"
    fi
    out=$("$MIGRATE" "$dsn" 2>&1 < /dev/null) && rc=0 || rc=$?
    if [ "$rc" -eq 0 ] && [ -z "$out" ]; then
        ok "ngx-http-crm-migrate again: up to date, silent"
    else
        not_ok "ngx-http-crm-migrate again: up to date, silent" "$out"
    fi
    psql_admin -c "DROP DATABASE IF EXISTS $SCRATCH_DB WITH (FORCE)" \
        > /dev/null 2>&1
else
    ok "# SKIP no PostgreSQL at CRM_TEST_PG_PORT (make test starts it)"
    ok "# SKIP no PostgreSQL at CRM_TEST_PG_PORT (make test starts it)"
fi

# ---- remove, purge --------------------------------------------------------

is "dpkg -r removes it" dpkg_wait -r "$PKG"
if [ ! -e "$SO" ] && [ ! -e "$ENABLED" ] && [ -L "$ENABLED.removed" ]; then
    ok "dpkg -r: the module is gone, the link set aside (.removed)"
else
    not_ok "dpkg -r: the module is gone, the link set aside (.removed)" \
        "$(ls -l "$SO" "$ENABLED" "$ENABLED.removed" 2>&1)"
fi

out=$(nginx_t 2>&1) && rc=0 || rc=$?
if [ "$rc" -ne 0 ] && printf '%s\n' "$out" | grep -q 'unknown directive "crm_'; then
    ok "after dpkg -r, nginx -t refuses the crm directives again"
else
    not_ok "after dpkg -r, nginx -t refuses the crm directives again" "$out"
fi

if out=$(dpkg_wait --purge "$PKG"); then
    INSTALLED=
    after=$(snapshot)
    if [ "$before" = "$after" ]; then
        ok "dpkg --purge leaves the system as it was"
    else
        not_ok "dpkg --purge leaves the system as it was" \
            "$(diff <(printf '%s\n' "$before") <(printf '%s\n' "$after"))"
    fi
else
    not_ok "dpkg --purge leaves the system as it was" "$out"
fi

[ "$failed" -eq 0 ]
