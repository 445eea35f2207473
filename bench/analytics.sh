#!/usr/bin/env bash
# bench/analytics.sh: the latency of the analytics endpoints (issue 12)
# at the size of "make seed N=..." (N=1000000: about 1M email events),
# next to GET of one contact in the same run.  See bench/README,
# "Analytics".
#
#   make seed N=1000000 && bench/analytics.sh
#   BENCH_DURATION=5s BENCH_ONLY="get acontact" bench/analytics.sh
#
# The runs (bench/run.sh in seed mode: its knobs apply):
#   get        GET /contacts/<id>: the baseline
#   aemails    GET /analytics/emails: the workspace, by day, 30 days
#   ahour      GET /analytics/emails?interval=hour&from=<30 days ago>:
#              721 buckets, near the longest series
#   acampaign  GET /analytics/campaigns/<the seed's campaign 1>: totals,
#              a daily series since its start, links, recipients by
#              state (a GROUP BY of its ~N/30 recipients)
#   acontact   GET /analytics/contacts/<the seed's contact 1>
# Prints each figure and its ratio to get.

BENCH_DATA=seed BENCH_ONLY=${BENCH_ONLY:-get aemails ahour acampaign acontact} \
    exec "$(dirname "${BASH_SOURCE[0]}")/run.sh" "$@"
