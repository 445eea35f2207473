#!/usr/bin/env bash
# bench/scale.sh: the benches at scale, on the workspace of
# "make seed N=..." (1M contacts is the reference): a list with a filter
# and a sort, a range filter on deals, a cursor page half-way through the
# contacts, q= on a list, GET /search with a typo, and bulk creates of
# 100 contacts per request.  bench/run.sh does the work; its knobs apply
# (BENCH_DURATION, BENCH_CONNECTIONS, BENCH_ONLY, ...).  See bench/README.

BENCH_DATA=seed exec "$(dirname "${BASH_SOURCE[0]}")/run.sh" "$@"
