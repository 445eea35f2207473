#!/bin/sh
# Runs every unit test binary, t/unit/test_*.t.bin (make -C t/unit builds
# them), and prints their TAP as one stream for prove:
#
#   prove t/unit/run.sh            (prove -v for every test line)
#
# Test numbers are made consecutive across binaries and each description
# is prefixed with the binary's name; the plan is printed last.  A binary
# that exits non-zero, dies, or ran another number of tests than its
# plan says adds a failing test of its own.  UNIT_WRAPPER, when set,
# prefixes each binary (UNIT_WRAPPER="valgrind --error-exitcode=1").

dir=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT

n=0
bins=0

for bin in "$dir"/test_*.t.bin; do
    # a binary whose test_*.c is gone is stale
    [ -x "$bin" ] && [ -f "${bin%.t.bin}.c" ] || continue

    bins=$((bins + 1))
    name=$(basename "$bin" .t.bin)
    name=${name#test_}

    echo "# $name"

    # shellcheck disable=SC2086
    $UNIT_WRAPPER "$bin" > "$tmp"
    rc=$?

    awk -v base="$n" -v name="$name" '
        /^(not )?ok [0-9]+( -)?/ {
            k++
            prefix = ($1 == "not") ? "not ok " : "ok "
            sub(/^(not )?ok [0-9]+( -)?/, "")
            print prefix (base + k) " - " name ":" $0
            next
        }
        /^1\.\.[0-9]+/ { next }
        /^Bail out!/   { print "# " name ": " $0; next }
        { print }
    ' "$tmp"

    ran=$(grep -cE '^(not )?ok [0-9]+' "$tmp")
    plan=$(sed -n 's/^1\.\.\([0-9][0-9]*\).*/\1/p' "$tmp" | tail -1)
    n=$((n + ran))

    if [ "$rc" -ne 0 ]; then
        n=$((n + 1))
        echo "not ok $n - $name: the binary exited with status $rc"
    fi

    if [ "$plan" != "$ran" ]; then
        n=$((n + 1))
        echo "not ok $n - $name: planned ${plan:-no} tests, ran $ran"
    fi
done

if [ "$bins" -eq 0 ]; then
    echo "Bail out! no t/unit/test_*.t.bin: build them with make -C t/unit"
    exit 1
fi

echo "1..$n"
