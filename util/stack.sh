#!/usr/bin/env bash
# util/stack.sh: the local stack of one instance ("run" or "test").
#
#   util/stack.sh NAME up         start (or reuse) PostgreSQL, Redis and the
#                                 SMTP sink, create role "crm" and the
#                                 database, apply
#                                 sql/ migrations; for "run" also seed the
#                                 demo workspace and key and (re)start nginx
#   util/stack.sh NAME down       stop what "up" started
#   util/stack.sh NAME status     say what is running
#   util/stack.sh NAME reset-db   like up (without seed and nginx), but with
#                                 the database dropped and created anew
#                                 before the migrations (make test does this)
#   util/stack.sh NAME pg-stop    stop PostgreSQL only (fast shutdown)
#   util/stack.sh NAME pg-start   start PostgreSQL again
#   util/stack.sh NAME redis-stop stop Redis only
#   util/stack.sh NAME redis-start start Redis again
#   util/stack.sh NAME sink-stop  stop the SMTP sink only (a relay that is
#                                 down: connections are refused)
#   util/stack.sh NAME sink-start start the SMTP sink again
#   util/stack.sh NAME nginx      render nginx.conf and (re)start nginx
#   util/stack.sh NAME wipe       down, then delete .run/NAME
#
# Layout of .run/NAME/ (git-ignored):
#   ports                 the ports the instance was brought up with
#   pg/data               PostgreSQL cluster (owned by postgres)
#   pg/postgresql.log     PostgreSQL server log
#   redis/                Redis pid file and log (no persistence)
#   mail/                 what the SMTP sink (util/smtp_sink.py) received:
#                         <seq>-<rcpt>.eml and log.jsonl, one JSON line
#                         each; emptied by "test reset-db" (make test)
#   smtp/                 the SMTP sink's pid file and log
#   tls/                  TLS files of the test servers (the SMTP sink's
#                         relay listeners, t/'s HTTPS webhook receiver),
#                         made once by openssl: ca.pem (a CA of its own,
#                         to trust), server.pem and server.key (127.0.0.1
#                         and localhost, signed by it), other-ca.pem (a
#                         CA that signed nothing)
#   nginx/                nginx prefix (run only): conf/ logs/ temp/
#   demo.workspace, demo.key, demo.password, cursor.secret   (run only)
#
# PostgreSQL and the nginx workers do not run as root.  When the checkout
# is in a directory those users cannot enter (e.g. under /root), their
# directories are placed under /var/tmp/ngx-crm-<hash>/ and .run/NAME/pg
# resp. .run/NAME/nginx/temp are symlinks to them.
#
# Quiet on success, but for "run up" (make run), which says what it does
# at each step and how long it took; on failure the end of the relevant
# log is printed.

set -euo pipefail

# shellcheck source=util/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() {
    awk 'NR > 1 && /^# Layout/ { exit } NR > 1 { sub(/^# ?/, ""); print }' \
        "$0" >&2
    exit 2
}

[ $# -eq 2 ] || usage
name=$1 cmd=$2

case $cmd in
    up|reset-db) instance_init "$name" save ;;
    *)  instance_init "$name" ;;
esac

is_root() { [ "$(id -u)" -eq 0 ]; }

# run a command as the postgres user (PostgreSQL refuses root), from /
# so that an unreachable working directory does not cause warnings
as_pg() {
    if is_root; then
        (cd / && runuser -u postgres -- "$@")
    else
        (cd / && "$@")
    fi
}

# where the directories of this checkout go when .run/ is unreachable
alt_base() {
    echo "/var/tmp/ngx-crm-$(printf %s "$TOP" | md5sum | cut -c1-12)"
}

# reach_dir USER SUB: prints a directory for .run/NAME/SUB that USER can
# enter, relocating it under /var/tmp when .run/NAME is not reachable.
reach_dir() {
    local user=$1 sub=$2 link=$DIR/$2 alt

    if [ -L "$link" ]; then
        alt=$(readlink "$link")
        mkdir -p "$alt"
        echo "$alt"
        return
    fi

    mkdir -p "$link"
    if ! is_root || runuser -u "$user" -- test -x "$link" 2>/dev/null \
       || [ -n "$(ls -A "$link")" ]; then
        echo "$link"
        return
    fi

    alt=$(alt_base)/$INSTANCE/$sub
    mkdir -p "$alt"
    rmdir "$link"
    ln -s "$alt" "$link"
    echo "$alt"
}


# ---------------------------------------------------------------- PostgreSQL

pg_paths() {
    if [ -n "${1:-}" ]; then
        PGD=$(reach_dir postgres pg)
        is_root && chown postgres:postgres "$PGD"
    else
        PGD=$DIR/pg
        [ -L "$PGD" ] && PGD=$(readlink "$PGD")
    fi
    PGDATA=$PGD/data
    PGLOG=$PGD/postgresql.log
}

# the postmaster's pid, if it runs; it works in its data directory, which
# tells it apart from a process that got a recycled pid
pg_pid() {
    local pid cwd
    pid=$(pid_alive "$PGDATA/postmaster.pid" postgres) || return 1
    if cwd=$(readlink "/proc/$pid/cwd" 2>/dev/null); then
        [ "$cwd" = "$(cd "$PGDATA" && pwd -P)" ] || return 1
    fi
    echo "$pid"
}

pg_init() {
    [ -s "$PGDATA/PG_VERSION" ] && return 0

    rm -rf "$PGDATA"
    if ! as_pg "$PG_BIN/initdb" -D "$PGDATA" -U postgres -A trust \
              -E UTF8 --locale=C.UTF-8 > "$PGD/initdb.log" 2>&1; then
        show_log "$PGD/initdb.log"
        die "initdb failed"
    fi

    # Local development/test stack only: trust authentication for
    # 127.0.0.1, no password.  Acceptable because the server listens on
    # 127.0.0.1 only, has no unix socket, and holds throwaway data.
    # Never use this pg_hba.conf for a real server.
    as_pg tee "$PGDATA/pg_hba.conf" > /dev/null <<'EOF'
# written by util/stack.sh: local dev/test stack, trust on 127.0.0.1 only
host    all     all     127.0.0.1/32    trust
EOF
    echo "include_if_exists = 'crm.conf'" \
        | as_pg tee -a "$PGDATA/postgresql.conf" > /dev/null
}

pg_conf() {
    {
        echo "# written by util/stack.sh on every start: do not edit"
        echo "listen_addresses = '127.0.0.1'"
        echo "port = $PG_PORT"
        echo "unix_socket_directories = ''"
        echo "max_connections = 200"
        echo "log_line_prefix = '%m [%p] %q%u@%d '"
        echo "log_min_messages = warning"
        if [ "$INSTANCE" = test ]; then
            # throwaway data: durability costs time and buys nothing
            echo "fsync = off"
            echo "synchronous_commit = off"
            echo "full_page_writes = off"
            # t/033-plans.t counts how often the module's statements
            # are planned
            echo "shared_preload_libraries = 'pg_stat_statements'"
            echo "pg_stat_statements.track_planning = on"
        fi
    } | as_pg tee "$PGDATA/crm.conf" > /dev/null
}

# the test database's pg_stat_statements (t/033-plans.t)
pg_test_stats() {
    PGOPTIONS='-c client_min_messages=warning' \
    "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 \
        "host=127.0.0.1 port=$PG_PORT dbname=$PG_DB user=postgres" \
        -c "CREATE EXTENSION IF NOT EXISTS pg_stat_statements"
}

pg_start() {
    local pid
    if pid=$(pg_pid); then
        # running: reuse it if it answers on the configured port and
        # has no setting of crm.conf waiting for a restart
        if "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT" -t 5; then
            as_pg "$PG_BIN/pg_ctl" -D "$PGDATA" -s reload > /dev/null 2>&1 \
                || true
            sleep 0.2
            if [ "$(psql_admin -tAc "SELECT count(*) FROM pg_settings
                                     WHERE pending_restart")" = 0 ]; then
                return 0
            fi
        fi
        pg_stop
    fi

    # a postmaster.pid left by a crash or a reboot blocks the start
    rm -f "$PGDATA/postmaster.pid"

    if port_busy "$PG_PORT"; then
        die "port 127.0.0.1:$PG_PORT is in use by another program" \
            "(set ${PG_PORT_VAR} to another port)"
    fi

    if ! daemon as_pg "$PG_BIN/pg_ctl" -D "$PGDATA" -l "$PGLOG" -w -t 60 \
              -s start > "$PGD/pg_ctl.log" 2>&1; then
        cat "$PGD/pg_ctl.log" >&2
        show_log "$PGLOG"
        die "PostgreSQL did not start (127.0.0.1:$PG_PORT)"
    fi
}

pg_stop() {
    [ -d "$PGDATA" ] || return 0
    pg_pid > /dev/null || { rm -f "$PGDATA/postmaster.pid"; return 0; }
    if ! as_pg "$PG_BIN/pg_ctl" -D "$PGDATA" -m fast -w -t 60 -s \
              stop > "$PGD/pg_ctl.log" 2>&1; then
        cat "$PGD/pg_ctl.log" >&2
        show_log "$PGLOG"
        die "PostgreSQL did not stop"
    fi
}

pg_ensure_db() {
    if [ -z "$(psql_admin -tAc \
               "SELECT 1 FROM pg_roles WHERE rolname = '$PG_USER'")" ]; then
        psql_admin -c "CREATE ROLE $PG_USER LOGIN"
    fi
    if [ -z "$(psql_admin -tAc \
               "SELECT 1 FROM pg_database WHERE datname = '$PG_DB'")" ]; then
        psql_admin -c "CREATE DATABASE $PG_DB OWNER $PG_USER"
    fi
}

pg_reset_db() {
    psql_admin -c "DROP DATABASE IF EXISTS $PG_DB WITH (FORCE)"
    psql_admin -c "CREATE DATABASE $PG_DB OWNER $PG_USER"
}


# --------------------------------------------------------------------- Redis

redis_pid() {
    pid_alive "$DIR/redis/redis.pid" redis-server
}

redis_start() {
    local pid
    mkdir -p "$DIR/redis"
    if pid=$(redis_pid); then
        if tr '\0' ' ' < "/proc/$pid/cmdline" \
           | grep -qF "127.0.0.1:$REDIS_PORT"; then
            return 0
        fi
        redis_stop
    fi
    rm -f "$DIR/redis/redis.pid"

    if port_busy "$REDIS_PORT"; then
        die "port 127.0.0.1:$REDIS_PORT is in use by another program" \
            "(set ${REDIS_PORT_VAR} to another port)"
    fi

    : > "$DIR/redis/redis.log"
    if ! daemon redis-server --bind 127.0.0.1 --port "$REDIS_PORT" \
            --daemonize yes --dir "$DIR/redis" \
            --pidfile "$DIR/redis/redis.pid" \
            --logfile "$DIR/redis/redis.log" \
            --save '' --appendonly no > /dev/null 2>&1; then
        show_log "$DIR/redis/redis.log"
        die "Redis did not start"
    fi
    for _ in $(seq 50); do
        if redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null \
           | grep -q PONG; then
            return 0
        fi
        sleep 0.1
    done
    show_log "$DIR/redis/redis.log"
    die "Redis does not answer on 127.0.0.1:$REDIS_PORT"
}

# pid_gone PID: the process has exited; a zombie counts (a daemon's
# parent is init, which in a container may reap it only seconds later)
pid_gone() {
    local state
    kill -0 "$1" 2>/dev/null || return 0
    state=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -c1)
    [ "$state" = Z ]
}

# stop_pid PID WHAT: SIGTERM, wait up to 10 s, then SIGKILL
stop_pid() {
    local pid=$1 what=$2
    kill -TERM "$pid" 2>/dev/null || return 0
    for _ in $(seq 200); do
        pid_gone "$pid" && return 0
        sleep 0.05
    done
    echo "${0##*/}: $what (pid $pid) ignored SIGTERM, killing it" >&2
    kill -KILL "$pid" 2>/dev/null || true
}

redis_stop() {
    local pid
    if pid=$(redis_pid); then
        stop_pid "$pid" Redis
    fi
    rm -f "$DIR/redis/redis.pid"
}


# ----------------------------------------------------------------- SMTP sink

# Debian's python3-aiosmtpd is for Debian's python, whatever python3 is
# first in PATH
SINK_PYTHON=${SINK_PYTHON:-/usr/bin/python3}

sink_pid() {
    pid_alive "$DIR/smtp/sink.pid" smtp_sink.py
}

# The sink's relay listeners as a real relay is: STARTTLS on SMTP_PORT + 1
# and TLS from the start (smtps://) on SMTP_PORT + 2, both requiring AUTH
# as SINK_USER with SINK_PASSWORD (t/lib/CRM/Test.pm says the same)
SINK_USER=crm
SINK_PASSWORD=sink-password

# the CA and the servers' certificate: made once, kept with the instance
tls_files() {
    local d=$DIR/tls

    [ -s "$d/server.pem" ] && [ -s "$d/other-ca.pem" ] && return 0

    rm -rf "$d"
    mkdir -p "$d"
    if ! {
        openssl req -x509 -newkey rsa:2048 -nodes -days 3650 \
            -subj "/CN=crm test CA" -keyout "$d/ca.key" -out "$d/ca.pem" \
        && openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" \
            -keyout "$d/server.key" -out "$d/server.csr" \
        && printf '%s\n' "subjectAltName=IP:127.0.0.1,DNS:localhost" \
            "extendedKeyUsage=serverAuth" > "$d/server.ext" \
        && openssl x509 -req -in "$d/server.csr" -CA "$d/ca.pem" \
            -CAkey "$d/ca.key" -CAcreateserial -days 3650 \
            -extfile "$d/server.ext" -out "$d/server.pem" \
        && openssl req -x509 -newkey rsa:2048 -nodes -days 3650 \
            -subj "/CN=crm other CA" -keyout "$d/other-ca.key" \
            -out "$d/other-ca.pem"
    } > "$d/openssl.log" 2>&1; then
        show_log "$d/openssl.log"
        die "openssl could not make the test certificates"
    fi
    chmod 644 "$d"/*.pem
}

sink_start() {
    local pid p
    mkdir -p "$DIR/smtp" "$MAIL_DIR"
    tls_files
    if pid=$(sink_pid); then
        if tr '\0' ' ' < "/proc/$pid/cmdline" \
           | grep -qF -- "--port $SMTP_PORT --dir $MAIL_DIR --starttls-port"
        then
            return 0
        fi
        sink_stop
    fi
    rm -f "$DIR/smtp/sink.pid"

    for p in "$SMTP_PORT" $((SMTP_PORT + 1)) $((SMTP_PORT + 2)); do
        if port_busy "$p"; then
            die "port 127.0.0.1:$p is in use by another program" \
                "(set ${SMTP_PORT_VAR} to another port: the sink takes" \
                "it and the next two)"
        fi
    done

    : > "$DIR/smtp/sink.log"
    if ! daemon "$SINK_PYTHON" "$TOP/util/smtp_sink.py" --daemon \
            --port "$SMTP_PORT" --dir "$MAIL_DIR" \
            --starttls-port $((SMTP_PORT + 1)) \
            --smtps-port $((SMTP_PORT + 2)) \
            --tls-cert "$DIR/tls/server.pem" \
            --tls-key "$DIR/tls/server.key" \
            --auth "$SINK_USER:$SINK_PASSWORD" \
            --pidfile "$DIR/smtp/sink.pid" \
            --log "$DIR/smtp/sink.log" > /dev/null 2>&1; then
        show_log "$DIR/smtp/sink.log"
        die "the SMTP sink did not start"
    fi
    # the pid file is written once it listens
    for _ in $(seq 100); do
        if sink_pid > /dev/null && port_busy "$SMTP_PORT" \
           && port_busy $((SMTP_PORT + 2)); then
            return 0
        fi
        sleep 0.05
    done
    show_log "$DIR/smtp/sink.log"
    die "the SMTP sink does not answer on 127.0.0.1:$SMTP_PORT"
}

sink_stop() {
    local pid
    if pid=$(sink_pid); then
        stop_pid "$pid" "SMTP sink"
    fi
    rm -f "$DIR/smtp/sink.pid"
}

# what the sink received so far, gone (the sink goes on numbering)
sink_wipe() {
    [ -d "$MAIL_DIR" ] || return 0
    find "$MAIL_DIR" -mindepth 1 -maxdepth 1 \
        \( -name '*.eml' -o -name '.tmp-*' -o -name log.jsonl \) -delete
}


# --------------------------------------------------------------------- nginx

NGX=$DIR/nginx

nginx_pid() {
    pid_alive "$NGX/logs/nginx.pid" "$NGX/"
}

# render nginx.conf.example into .run/NAME/nginx/conf/nginx.conf
nginx_render() {
    local tmpl=$TOP/nginx.conf.example temp secret

    [ -r "$tmpl" ] || die "missing $tmpl"
    [ -r "$MODULE_SO" ] || die "missing $MODULE_SO: build it with 'make'"

    mkdir -p "$NGX/conf" "$NGX/logs"
    temp=$(reach_dir nobody nginx/temp)

    if [ ! -s "$DIR/cursor.secret" ]; then
        (umask 077 && random_hex 32 > "$DIR/cursor.secret")
    fi
    secret=$(cat "$DIR/cursor.secret")

    if [ ! -s "$DIR/tracking.secret" ]; then
        (umask 077 && random_hex 32 > "$DIR/tracking.secret")
    fi

    awk -v module="$MODULE_SO" -v http_port="$HTTP_PORT" \
        -v pg_port="$PG_PORT" -v pg_db="$PG_DB" \
        -v redis_port="$REDIS_PORT" -v smtp_port="$SMTP_PORT" \
        -v secret="$secret" \
        -v tracking="$(cat "$DIR/tracking.secret")" \
        -v temp="$temp" '
        NR == 1 {
            print "# rendered by util/stack.sh from nginx.conf.example:" \
                  " edit that file and run make run again"
        }
        /^[ \t]*#/ { print; next }
        /_temp_path[ \t]/ { sub(/[ \t]temp\//, " " temp "/") }
        {
            gsub(/@MODULE_PATH@/, module)
            gsub(/@HTTP_PORT@/, http_port)
            gsub(/@PG_PORT@/, pg_port)
            gsub(/@PG_DB@/, pg_db)
            gsub(/@REDIS_PORT@/, redis_port)
            gsub(/@SMTP_PORT@/, smtp_port)
            gsub(/@CURSOR_SECRET@/, secret)
            gsub(/@TRACKING_SECRET@/, tracking)
            print
        }' "$tmpl" > "$NGX/conf/nginx.conf.new"

    if grep -v '^[[:space:]]*#' "$NGX/conf/nginx.conf.new" \
       | grep '@[A-Z_]*@' >&2; then
        die "unsubstituted placeholders in $NGX/conf/nginx.conf.new"
    fi
    chmod 600 "$NGX/conf/nginx.conf.new"   # holds the secrets
    mv -f "$NGX/conf/nginx.conf.new" "$NGX/conf/nginx.conf"
}

ngx() {
    "$NGINX_BIN" -p "$NGX/" -c conf/nginx.conf -e logs/error.log "$@"
}

nginx_start() {
    nginx_render
    if ! ngx -t -q > "$NGX/logs/nginx-t.log" 2>&1; then
        cat "$NGX/logs/nginx-t.log" >&2
        die "nginx -t failed for $NGX/conf/nginx.conf"
    fi

    # restart rather than reload: a rebuilt module is only picked up by
    # a new master process
    nginx_stop

    if port_busy "$HTTP_PORT"; then
        die "port 127.0.0.1:$HTTP_PORT is in use by another program" \
            "(set CRM_HTTP_PORT to another port)"
    fi

    : > "$NGX/logs/error.log"
    if ! daemon ngx > "$NGX/logs/nginx-start.log" 2>&1; then
        cat "$NGX/logs/nginx-start.log" >&2
        show_log "$NGX/logs/error.log"
        die "nginx did not start"
    fi
    for _ in $(seq 50); do
        if nginx_pid > /dev/null && port_busy "$HTTP_PORT"; then
            return 0
        fi
        sleep 0.1
    done
    show_log "$NGX/logs/error.log"
    die "nginx does not listen on 127.0.0.1:$HTTP_PORT"
}

nginx_stop() {
    local pid
    if pid=$(nginx_pid); then
        stop_pid "$pid" nginx
    fi
    rm -f "$NGX/logs/nginx.pid"
}


# ------------------------------------------------------------------ commands

if [ "$INSTANCE" = run ]; then
    PG_PORT_VAR=CRM_PG_PORT REDIS_PORT_VAR=CRM_REDIS_PORT
    SMTP_PORT_VAR=CRM_SMTP_PORT
else
    PG_PORT_VAR=CRM_TEST_PG_PORT REDIS_PORT_VAR=CRM_TEST_REDIS_PORT
    SMTP_PORT_VAR=CRM_TEST_SMTP_PORT
fi

status_line() {
    local what=$1 pid=$2 where=$3
    if [ -n "$pid" ]; then
        printf '%-11s running  pid %-7s %s\n' "$what" "$pid" "$where"
    else
        printf '%-11s stopped\n' "$what"
    fi
}

# say WHAT CMD...: for the run instance (make run), CMD as a step of
# util/lib.sh (says what is being done and how long it took, in a
# subshell); for the test instance, CMD quietly
say() {
    if [ "$INSTANCE" = run ]; then
        step "$@"
    else
        shift
        "$@"
    fi
}

pg_up() {
    pg_init
    pg_conf
    pg_start
}

case $cmd in
    up)
        pg_paths create
        if [ -s "$PGDATA/PG_VERSION" ]; then
            what="PostgreSQL 127.0.0.1:$PG_PORT"
        else
            what="PostgreSQL 127.0.0.1:$PG_PORT (new cluster: initdb)"
        fi
        say "$what" pg_up
        say "role $PG_USER and database $PG_DB" pg_ensure_db
        say "Redis 127.0.0.1:$REDIS_PORT" redis_start
        say "SMTP sink 127.0.0.1:$SMTP_PORT" sink_start
        say "migrations (util/migrate.sh)" "$TOP/util/migrate.sh" "$INSTANCE"
        if [ "$INSTANCE" = run ]; then
            say "demo workspace and key (util/seed-demo.sh)" \
                "$TOP/util/seed-demo.sh"
            say "nginx 127.0.0.1:$HTTP_PORT" nginx_start
            key=$(cat "$DIR/demo.key")
            echo "crm: PostgreSQL 127.0.0.1:$PG_PORT (db $PG_DB)," \
                 "Redis 127.0.0.1:$REDIS_PORT, nginx 127.0.0.1:$HTTP_PORT"
            echo "mail: the SMTP sink on 127.0.0.1:$SMTP_PORT keeps every" \
                 "message in $MAIL_DIR/ (ls it)"
            echo "try:"
            echo "  curl -s -H 'X-API-Key: $key'" \
                 "http://127.0.0.1:$HTTP_PORT/api/v1/contacts"
            echo "send an email (the sink keeps it: ls $MAIL_DIR/):"
            echo "  curl -s -H 'X-API-Key: $key'" \
                 "-H 'Content-Type: application/json'" \
                 "-d '{\"to\":\"ada@example.org\",\"subject\":\"Hello\"," \
                 "\"text\":\"Hi from the CRM\"}'" \
                 "http://127.0.0.1:$HTTP_PORT/api/v1/emails/send"
            echo "webhooks: start a receiver (it logs every delivery to" \
                 "$DIR/hooks/log.jsonl), subscribe it (the answer shows" \
                 "the signing secret once), then write a contact:"
            echo "  python3 $TOP/util/webhook_sink.py --port 9000" \
                 "--dir $DIR/hooks &"
            echo "  curl -s -H 'X-API-Key: $key'" \
                 "-H 'Content-Type: application/json'" \
                 "-d '{\"url\":\"http://127.0.0.1:9000/ok\"," \
                 "\"events\":[\"*\"]}'" \
                 "http://127.0.0.1:$HTTP_PORT/api/v1/webhooks"
            echo "  (README: \"Webhooks can be tried\" verifies the" \
                 "signatures with that secret)"
            echo "stop with: make stop"
        fi
        ;;
    down)
        [ "$INSTANCE" = run ] && nginx_stop
        sink_stop
        redis_stop
        pg_paths
        pg_stop
        ;;
    status)
        pg_paths
        status_line postgresql "$(pg_pid || true)" \
            "127.0.0.1:$PG_PORT db $PG_DB ($PGDATA)"
        status_line redis "$(redis_pid || true)" "127.0.0.1:$REDIS_PORT"
        status_line smtp-sink "$(sink_pid || true)" \
            "127.0.0.1:$SMTP_PORT ($MAIL_DIR)"
        if [ "$INSTANCE" = run ]; then
            status_line nginx "$(nginx_pid || true)" \
                "http://127.0.0.1:$HTTP_PORT/ ($NGX)"
        fi
        ;;
    reset-db)
        pg_paths create
        pg_init
        pg_conf
        pg_start
        pg_ensure_db
        pg_reset_db
        redis_start
        sink_start
        sink_wipe
        "$TOP/util/migrate.sh" "$INSTANCE"
        if [ "$INSTANCE" = test ]; then
            pg_test_stats
        fi
        ;;
    pg-stop)
        pg_paths
        pg_stop
        ;;
    pg-start)
        pg_paths
        [ -s "$PGDATA/PG_VERSION" ] \
            || die "no cluster in $PGDATA: run 'util/stack.sh $name up'"
        pg_conf
        pg_start
        ;;
    redis-stop)
        redis_stop
        ;;
    redis-start)
        redis_start
        ;;
    sink-stop)
        sink_stop
        ;;
    sink-start)
        sink_start
        ;;
    nginx)
        [ "$INSTANCE" = run ] || die "nginx is started by the tests"
        nginx_start
        ;;
    wipe)
        "$0" "$name" down
        rm -rf "${DIR:?}" "$(alt_base)/${INSTANCE:?}"
        rmdir "$(alt_base)" 2> /dev/null || true
        ;;
    *)
        usage
        ;;
esac
