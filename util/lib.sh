# shellcheck shell=bash
# util/lib.sh: settings and helpers shared by util/stack.sh,
# util/migrate.sh, util/seed.sh, util/seed-demo.sh, util/deb.sh and the
# Makefile's "make run" (progress and steps).  Sourced, never run; also
# installed by the Debian package, for util/migrate.sh.
#
# Two instances of the local stack exist side by side, each with its own
# directory, ports and PostgreSQL cluster:
#
#   run    make run / make stop     .run/run/    PostgreSQL, Redis, nginx,
#                                                the SMTP sink
#   test   make test                .run/test/   PostgreSQL, Redis, the SMTP
#                                                sink
#
# Ports come from the environment when an instance is brought up and are
# then remembered in .run/<name>/ports, so that later commands (status,
# down, pg-stop, pg-start) find the instance without the environment:
#
#   run:   CRM_PG_PORT (54320)       CRM_REDIS_PORT (63790)
#          CRM_HTTP_PORT (8080)      CRM_SMTP_PORT (2525)
#   test:  CRM_TEST_PG_PORT (54321)  CRM_TEST_REDIS_PORT (63791)
#          TEST_NGINX_SERVER_PORT (1984; used by the Test::Nginx runner)
#          CRM_TEST_SMTP_PORT (25871)
#
# Everything listens on 127.0.0.1 only.

# physical path: pid checks compare paths, whichever way one cd'ed here
TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
RUN_ROOT=$TOP/.run
PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
NGINX_BIN=${NGINX_BIN:-/usr/sbin/nginx}
MODULE_SO=${MODULE_SO:-$TOP/build/ngx_http_crm_module.so}
PG_USER=crm

umask 022

die() {
    echo "${0##*/}: $*" >&2
    exit 1
}

# show the end of a log file after a failure
show_log() {
    local f=$1 n=${2:-30}
    if [ -r "$f" ]; then
        echo "---- last $n lines of $f ----" >&2
        tail -n "$n" "$f" >&2
        echo "----" >&2
    fi
}

# instance_init NAME: sets INSTANCE, DIR, PG_PORT, REDIS_PORT, HTTP_PORT,
# SMTP_PORT, PG_DB, PG_DSN, MAIL_DIR (where the SMTP sink keeps what it
# receives).  $2 = "save" records the ports in DIR/ports.
instance_init() {
    INSTANCE=$1
    case $INSTANCE in
        run)
            PG_PORT=${CRM_PG_PORT:-54320}
            REDIS_PORT=${CRM_REDIS_PORT:-63790}
            HTTP_PORT=${CRM_HTTP_PORT:-8080}
            SMTP_PORT=${CRM_SMTP_PORT:-2525}
            PG_DB=crm
            ;;
        test)
            PG_PORT=${CRM_TEST_PG_PORT:-54321}
            REDIS_PORT=${CRM_TEST_REDIS_PORT:-63791}
            HTTP_PORT=${TEST_NGINX_SERVER_PORT:-1984}
            SMTP_PORT=${CRM_TEST_SMTP_PORT:-25871}
            PG_DB=crm_test
            ;;
        *)
            die "unknown instance '$INSTANCE' (run or test)"
            ;;
    esac
    DIR=$RUN_ROOT/$INSTANCE

    if [ "${2:-}" = save ]; then
        mkdir -p "$DIR"
        printf 'PG_PORT=%s\nREDIS_PORT=%s\nHTTP_PORT=%s\nSMTP_PORT=%s\n' \
            "$PG_PORT" "$REDIS_PORT" "$HTTP_PORT" "$SMTP_PORT" > "$DIR/ports"
    elif [ -r "$DIR/ports" ]; then
        # shellcheck disable=SC1091
        . "$DIR/ports"
    fi

    for p in "$PG_PORT" "$REDIS_PORT" "$HTTP_PORT" "$SMTP_PORT"; do
        case $p in
            ''|*[!0-9]*) die "bad port '$p' for instance $INSTANCE" ;;
        esac
    done

    PG_DSN="host=127.0.0.1 port=$PG_PORT dbname=$PG_DB user=$PG_USER"
    MAIL_DIR=$DIR/mail
}

# psql as the superuser "postgres" of the instance's cluster
psql_admin() {
    PGOPTIONS='-c client_min_messages=warning' \
    "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 \
        "host=127.0.0.1 port=$PG_PORT dbname=postgres user=postgres" "$@"
}

# psql as "crm" on the instance's database
psql_crm() {
    PGOPTIONS='-c client_min_messages=warning' \
    "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 "$PG_DSN" "$@"
}

# port_busy PORT: something accepts connections on 127.0.0.1:PORT
port_busy() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# pid_alive PIDFILE WORD: the pid in PIDFILE is a live process whose
# command line contains WORD (guards against recycled pids after a reboot
# or a container restart).  Prints the pid.
pid_alive() {
    local f=$1 word=$2 pid
    [ -r "$f" ] || return 1
    pid=$(head -n 1 "$f" 2>/dev/null | tr -dc '0-9')
    [ -n "$pid" ] || return 1
    kill -0 "$pid" 2>/dev/null || return 1
    tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$word" \
        || return 1
    echo "$pid"
}

# daemon CMD...: run CMD (which starts a daemon) with stdin from /dev/null
# and no file descriptor but 0, 1, 2 inherited, so that the daemon holds
# neither a caller's lock (make test's flock) nor a caller's pipe open
daemon() {
    (
        for fd in "/proc/$BASHPID/fd/"*; do
            fd=${fd##*/}
            if [ "$fd" -gt 2 ] 2>/dev/null; then
                eval "exec $fd>&-" 2>/dev/null || true
            fi
        done
        "$@" < /dev/null
    )
}

# random_hex N: N random bytes as 2N hex digits
random_hex() {
    od -An -N"$1" -tx1 /dev/urandom | tr -d ' \n'
}


# ---- progress -------------------------------------------------------------

# clock_ms: milliseconds since the epoch (no fork)
clock_ms() {
    local us=${EPOCHREALTIME/[.,]/}
    echo $(( us / 1000 ))
}

# fmt_ms MS: a duration for people: "0.4 s", "12 s", "3m05s", "1h02m"
fmt_ms() {
    local ms=$1 s=$(( $1 / 1000 ))
    if [ "$ms" -lt 10000 ]; then
        printf '%d.%d s' "$s" $(( ms / 100 % 10 ))
    elif [ "$s" -lt 60 ]; then
        printf '%d s' "$s"
    elif [ "$s" -lt 3600 ]; then
        printf '%dm%02ds' $(( s / 60 )) $(( s % 60 ))
    else
        printf '%dh%02dm' $(( s / 3600 )) $(( s / 60 % 60 ))
    fi
}

# progress_line DONE TOTAL UNIT START_MS: how far a piece of work is,
# e.g. "340000/1000000 rows 34%, 85000 rows/s, 4.0 s, ~7.8 s left"
progress_line() {
    local done=$1 total=$2 unit=$3 start=$4 ms rate pct left
    ms=$(( $(clock_ms) - start ))
    [ "$ms" -gt 0 ] || ms=1
    [ "$total" -gt 0 ] || total=1
    pct=$(( done * 100 / total ))
    if [ "$done" -le 0 ]; then
        printf '0/%d %s 0%%, %s, rate and time left not known yet' \
               "$total" "$unit" "$(fmt_ms "$ms")"
        return
    fi
    rate=$(( done * 1000 / ms ))
    if [ "$rate" -gt 0 ]; then
        rate="$rate $unit/s"
    else
        rate="$(fmt_ms $(( ms / done ))) per ${unit%s}"
    fi
    if [ "$done" -lt "$total" ]; then
        left=", ~$(fmt_ms $(( (total - done) * ms / done ))) left"
    else
        left=
    fi
    printf '%d/%d %s %d%%, %s, %s%s' "$done" "$total" "$unit" "$pct" \
           "$rate" "$(fmt_ms "$ms")" "$left"
}

# progress_watch LABEL TOTAL UNIT COUNTER PID...: returns once the PIDs
# (background jobs of the caller, which then waits for them to get
# their status) have ended, and reports meanwhile how far they are:
#   LABEL 340000/1000000 rows 34%, 85000 rows/s, 4.0 s, ~7.8 s left
# COUNTER is a command (evaluated) that prints how many of TOTAL UNIT
# are done.  Work that ends within PROGRESS_AFTER seconds (2) shows
# nothing; longer work a line every second on a terminal (rewritten in
# place and erased at the end) or every PROGRESS_EVERY seconds (10)
# otherwise.
progress_watch() {
    local label=$1 total=$2 unit=$3 counter=$4 start next every tty=
    local now pid running shown=
    shift 4
    start=$(clock_ms)
    next=$(( start + ${PROGRESS_AFTER:-2} * 1000 ))
    every=$(( ${PROGRESS_EVERY:-10} * 1000 ))
    if [ -t 1 ]; then
        tty=1
        every=1000
    fi
    while :; do
        running=
        for pid in "$@"; do
            if kill -0 "$pid" 2> /dev/null; then
                running=1
                break
            fi
        done
        [ -n "$running" ] || break
        now=$(clock_ms)
        if [ "$now" -ge "$next" ]; then
            if [ -n "$tty" ]; then
                printf '\r\033[K%s %s' "$label" \
                       "$(progress_line "$(eval "$counter")" "$total" \
                                        "$unit" "$start")"
            else
                printf '%s %s\n' "$label" \
                       "$(progress_line "$(eval "$counter")" "$total" \
                                        "$unit" "$start")"
            fi
            next=$(( now + every ))
            shown=1
        fi
        # short work ends without waiting a tenth of a second
        if [ $(( now - start )) -lt 200 ]; then
            sleep 0.01
        else
            sleep 0.1
        fi
    done
    if [ -n "$tty" ] && [ -n "$shown" ]; then
        printf '\r\033[K'
    fi
}

# step WHAT CMD...: says what is being done ("PREFIX: WHAT ..."), runs
# CMD (in a subshell, its output kept aside) and completes the line with
# the time it took; CMD's output, if any, follows (on stderr when CMD
# failed).  Returns CMD's status.  PREFIX is STEP_PREFIX, or the
# script's name.
step() {
    local what=$1 start rc=0 out
    shift
    out=$(mktemp)
    start=$(clock_ms)
    printf '%s: %s ... ' "${STEP_PREFIX:-${0##*/}}" "$what"
    ( "$@" ) > "$out" 2>&1 || rc=$?
    if [ "$rc" -eq 0 ]; then
        fmt_ms $(( $(clock_ms) - start ))
        echo
        cat "$out"
    else
        echo "failed after $(fmt_ms $(( $(clock_ms) - start )))"
        cat "$out" >&2
    fi
    rm -f "$out"
    return "$rc"
}
