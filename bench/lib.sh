# bench/lib.sh: what the bench scripts (run.sh, perf.sh, fault.sh,
# email.sh, campaign.sh, webhooks.sh, ...) share (sourced by each;
# bench/scale.sh runs run.sh).  Not a script of its own.
#
# The sourcing script sets, before it sources this:
#   TOP    the top of the source tree
#   ME     its name in die's messages (bench/run.sh)
#   TAG    the prefix of its messages and the name of its nginx (bench,
#          fault); ${TAG^^}_ is the prefix of its knobs (BENCH_, FAULT_)
# and before it calls the functions that use them:
#   B      the prefix of its nginx (config, logs, raw outputs)
#   PORT   the port of its nginx on 127.0.0.1
#   ONLY   the runs or scenarios to make (want)
# It sets PG_BIN and NGINX_BIN (unless the environment does) and
# MODULE_SO; the functions set or read PG_PORT, PG_DSN, PG_STARTED and
# NGINX_PID as named below; the accounting at the end reads CPU ticks
# from /proc (ticks, ticks_delta, nginx_pids, pg_pids, machine_ticks).

# shellcheck shell=bash

PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
NGINX_BIN=${NGINX_BIN:-/usr/sbin/nginx}
MODULE_SO=${BENCH_MODULE:-$TOP/build/ngx_http_crm_module.so}

die() {
    echo "$ME: $*" >&2
    exit 2
}

loud() {
    {
        echo
        echo "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!"
        for line in "$@"; do echo "!!! $line"; done
        echo "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!"
        echo
    } >&2
}

# numbers NAME...: each variable NAME (the knob ${TAG^^}_NAME) holds a
# number
numbers() {
    local v
    for v in "$@"; do
        case ${!v} in
            ''|*[!0-9]*) die "${TAG^^}_$v must be a number, not '${!v}'" ;;
        esac
    done
}

# want NAME: the run or scenario NAME is in ONLY
want() { case " $ONLY " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }

is_root() { [ "$(id -u)" -eq 0 ]; }

port_busy() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# build SKIP: make (unless SKIP is 1); the module must be there; makes
# $B's directories
build() {
    if [ "$1" != 1 ]; then
        make -s -C "$TOP" all || die "make failed"
    fi
    [ -r "$MODULE_SO" ] || die "missing $MODULE_SO: run make"

    mkdir -p "$B/conf" "$B/logs" "$B/temp"
}


# ----------------------------------------------------------- the run stack

# run_port NAME DEFAULT: the port NAME (PG_PORT, REDIS_PORT) the run stack
# was brought up with, as util/lib.sh reads it from .run/run/ports (empty
# when it does not say), or DEFAULT when there is no such file
run_port() {
    if [ -r "$TOP/.run/run/ports" ]; then
        sed -n "s/^$1=\\([0-9]*\\)\$/\\1/p" "$TOP/.run/run/ports"
    else
        echo "$2"
    fi
}

psql_crm() {
    PGOPTIONS='-c client_min_messages=warning' \
    "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 "$PG_DSN" "$@"
}

pg_ready() {
    "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT" -U crm -d crm -t 2
}

# shellcheck disable=SC2034  # PG_STARTED: read by the scripts' cleanup
# pg_up: PostgreSQL of the run stack up: reused, or started (PG_STARTED=pg),
# or the whole run stack brought up when there is none (PG_STARTED=stack)
pg_up() {
    if pg_ready; then
        echo "$TAG: reusing PostgreSQL of the run stack on" \
             "127.0.0.1:$PG_PORT"
    elif [ -s "$TOP/.run/run/pg/data/PG_VERSION" ]; then
        echo "$TAG: starting PostgreSQL of the run stack" \
             "(util/stack.sh run pg-start)"
        PG_STARTED=pg
        "$TOP/util/stack.sh" run pg-start || die "cannot start PostgreSQL"
    else
        echo "$TAG: no run stack yet: util/stack.sh run up"
        PG_STARTED=stack
        "$TOP/util/stack.sh" run up > "$B/stack-up.log" \
            || { cat "$B/stack-up.log" >&2;
                 die "util/stack.sh run up failed"; }
    fi
}


# ------------------------------------------------------------------- nginx

ngx() {
    "$NGINX_BIN" -p "$B/" -c conf/nginx.conf -e logs/error.log "$@"
}

# bench_key FILE PREFIX: the API key of the bench nginx, made once into
# FILE (PREFIX_ and 32 random hex digits) and printed
bench_key() {
    if [ ! -s "$1" ]; then
        (umask 077 && echo "$2_$(od -An -N16 -tx1 /dev/urandom \
                                 | tr -d ' \n')" > "$1")
    fi
    cat "$1"
}

# nginx_main CONNECTIONS: the start of a bench nginx's configuration, up
# to its http block: the module, WORKERS workers (as nobody when run as
# root, who then owns $B/temp), its pid, lock and error log under $B,
# CONNECTIONS worker_connections
nginx_main() {
    local user=
    if is_root; then
        user="user nobody nogroup;"
        chown nobody "$B/temp" 2>/dev/null || true
    fi
    cat <<EOF
# rendered by $ME on every run: edit that script instead
load_module $MODULE_SO;
$user
worker_processes $WORKERS;
pid        logs/nginx.pid;
lock_file  logs/nginx.lock;
error_log  logs/error.log warn;

events {
    worker_connections $1;
}
EOF
}

# nginx_temp_paths: the http block's temporary files, under $B/temp
nginx_temp_paths() {
    cat <<EOF
    client_body_temp_path  $B/temp/client_body;
    proxy_temp_path        $B/temp/proxy;
    fastcgi_temp_path      $B/temp/fastcgi;
    uwsgi_temp_path        $B/temp/uwsgi;
    scgi_temp_path         $B/temp/scgi;
EOF
}

# stop_pid PID: SIGTERM, and waits up to 10 s for PID to exit
stop_pid() {
    kill -TERM "$1" 2>/dev/null || true
    for _ in $(seq 100); do
        kill -0 "$1" 2>/dev/null || break
        sleep 0.1
    done
}

# nginx_start: tests $B/conf/nginx.conf, stops an nginx of $B left
# behind by a killed run, starts nginx and waits until it listens on
# PORT; sets NGINX_PID
nginx_start() {
    local old

    if ! ngx -t -q > "$B/logs/nginx-t.log" 2>&1; then
        cat "$B/logs/nginx-t.log" >&2
        die "nginx -t failed for $B/conf/nginx.conf"
    fi

    # a $TAG nginx left behind by a killed run
    if [ -r "$B/logs/nginx.pid" ]; then
        old=$(tr -dc '0-9' < "$B/logs/nginx.pid")
        if [ -n "$old" ] && tr '\0' ' ' < "/proc/$old/cmdline" 2>/dev/null \
                            | grep -qF -- "$B/"; then
            echo "$TAG: stopping a $TAG nginx left from an earlier run" \
                 "($old)"
            stop_pid "$old"
        fi
        rm -f "$B/logs/nginx.pid"
    fi

    if port_busy "$PORT"; then
        die "port 127.0.0.1:$PORT is in use (set ${TAG^^}_PORT to" \
            "another port)"
    fi

    : > "$B/logs/error.log"
    ngx < /dev/null > "$B/logs/nginx-start.log" 2>&1 \
        || { cat "$B/logs/nginx-start.log" "$B/logs/error.log" >&2;
             die "nginx did not start"; }
    for _ in $(seq 50); do
        if [ -s "$B/logs/nginx.pid" ] && port_busy "$PORT"; then
            break
        fi
        sleep 0.1
    done
    NGINX_PID=$(tr -dc '0-9' < "$B/logs/nginx.pid" 2>/dev/null || true)
    if [ -z "$NGINX_PID" ] || ! port_busy "$PORT"; then
        tail -20 "$B/logs/error.log" >&2
        die "nginx does not listen on 127.0.0.1:$PORT"
    fi
}

# nginx_stop: stops the nginx of NGINX_PID (for cleanup), if it runs
nginx_stop() {
    if [ -n "$NGINX_PID" ] && kill -0 "$NGINX_PID" 2>/dev/null; then
        stop_pid "$NGINX_PID"
        if kill -0 "$NGINX_PID" 2>/dev/null; then
            echo "$TAG: nginx $NGINX_PID ignored SIGTERM, killing it" >&2
            kill -KILL "$NGINX_PID" 2>/dev/null || true
        fi
        echo "$TAG: stopped the $TAG nginx (pid $NGINX_PID)"
    fi
}


# --------------------------------------------------------------------- wrk

# wrk_field FILE WHAT: reqs / p50 / p99 / rps / sockerr from a wrk
# output, and statuses / closes from one with bench/fault.lua
wrk_field() {
    local f=$1
    case $2 in
        statuses) sed -n 's/^statuses: *//p' "$f" ;;
        closes)   sed -n 's/^closes: *//p' "$f" ;;
        reqs)     awk '/ requests in / { print $1; exit }' "$f" ;;
        p50)      awk '$1 == "50%" { print $2; exit }' "$f" ;;
        p99)      awk '$1 == "99%" { print $2; exit }' "$f" ;;
        rps)      awk '/^Requests\/sec:/ { print $2 }' "$f" ;;
        sockerr)  sed -n 's/^ *Socket errors: *//p' "$f" ;;
    esac
}


# --------------------------------------------------------------- accounting

# "PID TICKS" lines, ticks = CPU (user + system) of the pids on stdin,
# with that of their children that ended (cutime, cstime): PostgreSQL's
# parallel workers and closed backends are children of the postmaster
ticks() {
    local pid rest
    while read -r pid; do
        rest=$(cat "/proc/$pid/stat" 2>/dev/null) || continue
        rest=${rest##*) }              # fields from the 3rd on
        # shellcheck disable=SC2086
        set -- $rest
        # utime, stime, cutime, cstime: fields 14 to 17
        echo "$pid $((${12} + ${13} + ${14} + ${15}))"
    done
}

# ticks between two "PID TICKS" snapshots: pids that started in between
# count in full; a pid that ended in between is in its parent's cutime
# with its whole life, so what it had at the first snapshot is taken off
# (FILENAME, not NR == FNR: the first snapshot may be empty)
ticks_delta() {
    awk 'FILENAME == ARGV[1] { t0[$1] = $2; next }
         { d += $2 - t0[$1]; seen[$1] = 1 }
         END { for (p in t0) if (!(p in seen)) d -= t0[p]; print d + 0 }' \
        "$1" "$2"
}

# the bench nginx: master and workers
nginx_pids() {
    echo "$NGINX_PID"
    pgrep -P "$NGINX_PID" || true
}

# the run stack's PostgreSQL: postmaster, backends, background processes
PG_PIDFILE=$TOP/.run/run/pg/data/postmaster.pid
pg_pids() {
    local pm
    pm=$(head -n 1 "$PG_PIDFILE" 2>/dev/null | tr -dc '0-9') || true
    [ -n "$pm" ] || return 0
    echo "$pm"
    pgrep -P "$pm" || true
}

# the run stack's Redis (used with BENCH_LIMITS=cluster; counted always)
redis_pids() {
    local pid
    pid=$(tr -dc '0-9' < "$TOP/.run/run/redis/redis.pid" 2>/dev/null) \
        || true
    [ -n "$pid" ] && [ -d "/proc/$pid" ] && echo "$pid"
    return 0
}

# ticks of the whole machine, from /proc/stat: "PROC IRQ STEAL IDLE TOTAL"
# PROC: user + nice + system (what processes used), IRQ: irq + softirq
# (loopback TCP is mostly softirq work), STEAL: taken by the hypervisor,
# IDLE: idle + iowait; guest time is already inside user
machine_ticks() {
    awk '/^cpu / { print $2 + $3 + $4, $7 + $8, $9, $5 + $6,
                         $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9; exit }' \
        /proc/stat
}
