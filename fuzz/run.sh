#!/bin/sh
# Runs libFuzzer targets (make -C fuzz builds them) one after the other,
# each for SECONDS, from its seeds in fuzz/corpus/<target>/ and with
# fuzz/<target>.dict when there is one:
#
#   fuzz/run.sh SECONDS TARGET...
#
# Environment: FUZZ_OUT, the binaries' directory (build/fuzz); FUZZ_WORK,
# where each target keeps the inputs it finds, FUZZ_WORK/<target>/ (by
# default a temporary directory, removed); FUZZ_ARGS, more libFuzzer
# options (-jobs=2, -max_len=...).  One line per target; a crash, a leak,
# undefined behaviour or a slow input makes it fail, prints the report
# and leaves the input in FUZZ_OUT/crashes/.  Exits 1 if any failed.

set -u

seconds=${1:?usage: run.sh SECONDS TARGET...}
shift

dir=$(cd "$(dirname "$0")" && pwd)
out=${FUZZ_OUT:-$dir/../build/fuzz}
work=${FUZZ_WORK:-}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

mkdir -p "$out/crashes" "$out/log"

# whatever the caller's (make asan sets log_path and detect_leaks=0)
ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=0:symbolize=1
ASAN_OPTIONS=$ASAN_OPTIONS:quarantine_size_mb=64
UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
export ASAN_OPTIONS UBSAN_OPTIONS

# the first lines of a report worth showing
report='^==[0-9]+==(ERROR|WARNING)|runtime error|check failed|ERROR: libFuzzer'

failed=0

for t in "$@"; do
    name=${t#fuzz_}
    bin=$out/$t
    log=$out/log/$t.log

    if [ -n "$work" ]; then
        corpus=$work/$name
    else
        corpus=$tmp/$name
    fi

    mkdir -p "$corpus"

    dict=
    if [ -f "$dir/$name.dict" ]; then
        dict=-dict=$dir/$name.dict
    fi

    seeds=
    if [ -d "$dir/corpus/$name" ]; then
        seeds=$dir/corpus/$name
    fi

    # shellcheck disable=SC2086
    "$bin" -max_total_time="$seconds" -timeout=20 -max_len=8192 \
        -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="$out/crashes/$name-" \
        $dict ${FUZZ_ARGS:-} "$corpus" $seeds > "$log" 2>&1
    rc=$?

    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    cov=$(sed -n 's/.* cov: \([0-9]*\) .*/\1/p' "$log" | tail -1)

    if [ "$rc" -ne 0 ]; then
        failed=1
        echo "fuzz: $t FAILED (exit $rc, log $log):"
        grep -E -A40 "$report" "$log" | head -80
        echo "fuzz: run it again with: $bin <the input above>"
    else
        echo "fuzz: $t ok: ${runs:-?} runs in ${seconds}s, coverage ${cov:-?}"
    fi
done

exit $failed
