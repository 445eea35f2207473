#!/usr/bin/env bash
# bench/scale.sh: the benches at scale, on the workspace of
# "make seed N=..." (1M contacts is the reference): a list with a filter
# and a sort, a range filter on deals, a cursor page half-way through the
# contacts, q= on a list, GET /search with a typo, and bulk creates of
# 100 contacts per request (rows/s).  Prints figures, asserts no speed.
#
#   make seed N=1000000 && bench/scale.sh
#   BENCH_DURATION=5s BENCH_ONLY="q search" bench/scale.sh
#
# bench/run.sh does the work, in seed mode: its own nginx on port 8092
# (BENCH_PORT) with its prefix, logs and raw wrk output in
# .run/bench-scale/, no crm_rate_limit; its knobs apply (BENCH_DURATION,
# BENCH_CONNECTIONS, BENCH_ONLY, ...).  Exits 1 when the seed workspace
# is empty; "search" and "bulk" are skipped, with "...: not available",
# when the module answers 404 to them.  See bench/README.

BENCH_DATA=seed exec "$(dirname "${BASH_SOURCE[0]}")/run.sh" "$@"
