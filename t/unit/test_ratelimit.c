
/*
 * Unit tests of the rate-limit arithmetic (src/model/crm_ratelimit.c),
 * TAP output: GCRA windows, a host's counts between syncs, and hosts
 * sharing a limit through a simulated Redis within the bound that
 * docs/DESIGN.md gives.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <string.h>
#include "model/crm_ratelimit.h"
#include "tap.h"


#define MIN_US        ((uint64_t) 60 * 1000000)
#define HOUR_US       ((uint64_t) 60 * MIN_US)
#define T0            ((uint64_t) 1700000000 * 1000000)
#define REDIS_SKEW    ((uint64_t) 987654321)    /* Redis' clock is ahead */
#define HOSTS_MAX     4


typedef struct {
    crm_limit_count_t         c;
    uint64_t                  delta[CRM_LIMIT_WINDOWS];
    ngx_uint_t                admitted;
} sim_host_t;


typedef struct {
    crm_limit_window_t        w[CRM_LIMIT_WINDOWS];
    crm_limit_sync_conf_t     sc;
    uint64_t                  rtat[CRM_LIMIT_WINDOWS];    /* "Redis" */
    sim_host_t                host[HOSTS_MAX];
    ngx_uint_t                late;     /* answers come one request late */
} sim_t;


static void windows(crm_limit_window_t *w, ngx_uint_t per_min,
    ngx_uint_t per_hour);
static void sim_init(sim_t *s, ngx_uint_t per_min, ngx_uint_t requests,
    uint64_t interval, ngx_uint_t late);
static void sim_answer(sim_t *s, sim_host_t *h, uint64_t now);
static ngx_uint_t sim_request(sim_t *s, ngx_uint_t i, uint64_t now);
static void sim_timers(sim_t *s, uint64_t now);
static void sim_flush(sim_t *s, ngx_uint_t n, uint64_t now);
static ngx_uint_t sim_total(sim_t *s, ngx_uint_t n);


int
main(void)
{
    sim_t               s;
    uint64_t            inc[CRM_LIMIT_WINDOWS], delta[CRM_LIMIT_WINDOWS];
    uint64_t            now, rtat[CRM_LIMIT_WINDOWS];
    ngx_msec_t          reset;
    ngx_uint_t          i, n, ok_all, bound, remaining, k, h;
    crm_limit_count_t   c;
    crm_limit_window_t  w[CRM_LIMIT_WINDOWS];

    /* one host alone: the GCRA as before */

    windows(w, 10, 1000);
    ngx_memzero(&c, sizeof(c));

    for (i = 0; i < CRM_LIMIT_WINDOWS; i++) {
        inc[i] = crm_limit_increment(&w[i], 1);
    }

    is_int(inc[0], 6000000, "a request adds minute / limit");
    is_int(crm_limit_increment(&w[0], 25), MIN_US,
           "a bulk request larger than the window adds the window");

    n = 0;
    for (i = 0; i < 30; i++) {
        if (crm_limit_wait(w, inc, T0 + i, c.tat) == 0) {
            crm_limit_take(&c, inc, T0 + i);
            n++;
        }
    }

    is_int(n, 10, "a burst of exactly the limit");
    is_int(crm_limit_wait(w, inc, T0 + 30, c.tat), 6000000 - 30,
           "the next one waits an interval");
    ok(crm_limit_wait(w, inc, T0 + 6000000, c.tat) == 0,
       "and conforms after it");

    crm_limit_budget(w, T0 + 30, c.tat, &remaining, &reset);
    is_int(remaining, 0, "nothing remaining");
    is_int(reset, 60000, "whole again in a minute");

    /* what is pending for the cluster */

    is_int(c.npending, 10, "ten pending");
    is_int(c.pending[0], 10 * inc[0] - 9,
           "their increments (as much as is in the bucket at the last)");
    is_int(c.first, T0, "since the first");

    crm_limit_sync_start(&c, T0 + 100, delta);
    is_int(delta[0], 10 * inc[0] - 100, "what is still in the bucket sent");
    ok(c.syncing && c.npending == 0 && c.pending[0] == 0,
       "waiting for the answer, nothing pending");

    /* another host had admitted 5 more: the cluster's backlog is 15 */

    rtat[0] = T0 + REDIS_SKEW + 15 * inc[0];
    rtat[1] = T0 + REDIS_SKEW + 15 * inc[1];
    crm_limit_sync_done(&c, T0 + 200, T0 + REDIS_SKEW, rtat);

    is_int(c.tat[0], T0 + 200 + 15 * inc[0],
           "the count is the cluster's backlog, on this host's clock");
    ok(!c.syncing && c.sent[0] == 0, "answered");

    /* an unanswered sync is pending again */

    ngx_memzero(&c, sizeof(c));
    crm_limit_take(&c, inc, T0);
    crm_limit_take(&c, inc, T0);
    crm_limit_sync_start(&c, T0, delta);
    crm_limit_take(&c, inc, T0 + 1);
    crm_limit_sync_failed(&c, T0 + 2);
    is_int(c.pending[0], 3 * inc[0] - 2, "a failed sync is pending again");
    is_int(c.npending, 1, "with what came since");
    ok(!c.syncing, "and can be sent again");

    /* what leaked out of the bucket is not sent */

    ngx_memzero(&c, sizeof(c));
    crm_limit_take(&c, inc, T0);
    crm_limit_take(&c, inc, T0 + 2 * MIN_US);
    is_int(c.pending[0], inc[0],
           "pending holds no more than the bucket (minute)");
    is_int(c.pending[1], inc[1], "and the hour (its interval passed too)");
    crm_limit_sync_start(&c, T0 + 2 * MIN_US + 5 * 1000000, delta);
    is_int(delta[0], inc[0] - 5 * 1000000, "what is left in the bucket");

    /* when a sync is due */

    s.sc.requests = 4;
    s.sc.interval = 100000;
    ngx_memzero(&c, sizeof(c));
    ok(!crm_limit_sync_due(&c, &s.sc, T0), "nothing to send");
    crm_limit_take(&c, inc, T0);
    ok(crm_limit_sync_due(&c, &s.sc, T0), "never synced: at once");
    crm_limit_sync_start(&c, T0, delta);
    crm_limit_take(&c, inc, T0 + 10);
    ok(!crm_limit_sync_due(&c, &s.sc, T0 + 10), "not while one is out");
    crm_limit_sync_done(&c, T0 + 20, T0, c.tat);
    ok(!crm_limit_sync_due(&c, &s.sc, T0 + 20), "one pending: not yet");
    crm_limit_take(&c, inc, T0 + 30);
    crm_limit_take(&c, inc, T0 + 40);
    crm_limit_take(&c, inc, T0 + 50);
    ok(crm_limit_sync_due(&c, &s.sc, T0 + 50), "K pending: due");
    crm_limit_sync_start(&c, T0 + 50, delta);
    crm_limit_sync_done(&c, T0 + 60, T0, c.tat);
    crm_limit_take(&c, inc, T0 + 70);
    ok(!crm_limit_sync_due(&c, &s.sc, T0 + 70), "within the interval");
    ok(crm_limit_sync_due(&c, &s.sc, T0 + 100050),
       "the interval after the last sync: due");

    /*
     * Hosts on one "Redis", requests round robin 2 ms apart, limit L per
     * minute: at least L pass, at most L + (H - 1) (2K + 2a) (a: requests
     * a host gets while its sync is out, here 0 or 1), and without
     * syncs each would pass L
     */

    ok_all = 1;

    for (h = 2; h <= HOSTS_MAX; h++) {
        for (k = 1; k <= 4; k++) {
            for (i = 0; i <= 1; i++) {
                sim_init(&s, 10, k, 100000, i);

                for (now = T0, n = 0; n < 60; n++, now += 2000) {
                    sim_request(&s, n % h, now);
                }

                sim_flush(&s, h, now);

                n = sim_total(&s, h);
                bound = 10 + (h - 1) * (2 * k + 2 * i);

                if (n < 10 || n > bound) {
                    ok_all = 0;
                    diag("H=%u K=%u late=%u: %u admitted, bound %u",
                         (unsigned) h, (unsigned) k, (unsigned) i,
                         (unsigned) n, (unsigned) bound);
                }
            }
        }
    }

    ok(ok_all, "round robin: between L and L + (H - 1)(2K + 2a)");

    sim_init(&s, 10, 2, 100000, 0);
    for (now = T0, n = 0; n < 60; n++, now += 2000) {
        sim_request(&s, n % 2, now);
    }
    sim_flush(&s, 2, now);
    n = sim_total(&s, 2);
    ok(n >= 10 && n <= 14, "two hosts, K=2: %u of 20 possible",
       (unsigned) n);

    /*
     * A busy host spends the budget first; a quiet one admits on its old
     * count at most K before it learns
     */

    sim_init(&s, 100, 8, 100000, 0);
    sim_request(&s, 1, T0);
    for (now = T0 + 1000, n = 0; n < 150; n++, now += 100) {
        sim_request(&s, 0, now);
    }
    for (n = 0; n < 50; n++, now += 100) {
        sim_request(&s, 1, now);
    }
    sim_flush(&s, 2, now);
    is_int(s.host[0].admitted, 99, "the busy host takes what is left");
    ok(s.host[1].admitted - 1 <= 8, "the quiet one at most K more: %u",
       (unsigned) s.host[1].admitted - 1);
    ok(sim_total(&s, 2) <= 100 + 8, "in all at most L + K");

    /* the time trigger: K large, the quiet host's count is old */

    sim_init(&s, 100, 1000, 100000, 0);
    sim_request(&s, 1, T0);
    for (now = T0 + 1000, n = 0; n < 150; n++, now += 100) {
        sim_request(&s, 0, now);
    }
    now = T0 + 200000;                  /* past the interval */
    for (n = 0; n < 50; n++, now += 100) {
        sim_request(&s, 1, now);
    }
    sim_flush(&s, 2, now);
    is_int(s.host[1].admitted, 2,
           "an old count is read again at the next admission");

    /* Redis' clock is not the hosts' (REDIS_SKEW): only backlogs count */

    sim_init(&s, 10, 1, 100000, 0);
    for (now = T0, n = 0; n < 10; n++, now += 1000) {
        sim_request(&s, 0, now);
    }
    now = T0 + 30 * 1000000;            /* half the minute: 5 leaked */
    for (n = 0; n < 10; n++, now += 1000) {
        sim_request(&s, 1, now);
    }
    is_int(s.host[1].admitted, 5, "what leaked in the cluster is free");

    return done_testing();
}


static void
windows(crm_limit_window_t *w, ngx_uint_t per_min, ngx_uint_t per_hour)
{
    w[0].limit = per_min;
    w[0].period = MIN_US;
    w[0].interval = MIN_US / per_min;
    w[1].limit = per_hour;
    w[1].period = HOUR_US;
    w[1].interval = HOUR_US / per_hour;
}


static void
sim_init(sim_t *s, ngx_uint_t per_min, ngx_uint_t requests,
    uint64_t interval, ngx_uint_t late)
{
    ngx_memzero(s, sizeof(sim_t));

    windows(s->w, per_min, 100000);
    s->sc.requests = requests;
    s->sc.interval = interval;
    s->late = late;
}


/* the script: TAT = max(TAT, now) + delta, on Redis' clock */

static void
sim_answer(sim_t *s, sim_host_t *h, uint64_t now)
{
    uint64_t    rnow;
    ngx_uint_t  i;

    rnow = now + REDIS_SKEW;

    for (i = 0; i < CRM_LIMIT_WINDOWS; i++) {
        if (h->delta[i] != 0) {
            s->rtat[i] = ngx_max(s->rtat[i], rnow) + h->delta[i];
        }
    }

    crm_limit_sync_done(&h->c, now, rnow, s->rtat);
}


static ngx_uint_t
sim_request(sim_t *s, ngx_uint_t i, uint64_t now)
{
    uint64_t     inc[CRM_LIMIT_WINDOWS];
    ngx_uint_t   j, admitted;
    sim_host_t  *h;

    sim_timers(s, now);

    h = &s->host[i];

    /* a late answer arrives before this host's next request */

    if (h->c.syncing) {
        sim_answer(s, h, now);
    }

    for (j = 0; j < CRM_LIMIT_WINDOWS; j++) {
        inc[j] = crm_limit_increment(&s->w[j], 1);
    }

    admitted = 0;

    if (crm_limit_wait(s->w, inc, now, h->c.tat) == 0) {
        crm_limit_take(&h->c, inc, now);
        h->admitted++;
        admitted = 1;
    }

    if (crm_limit_sync_due(&h->c, &s->sc, now)) {
        crm_limit_sync_start(&h->c, now, h->delta);

        if (!s->late) {
            sim_answer(s, h, now);
        }
    }

    return admitted;
}


/* each host's flush timer: what waited an interval is sent */

static void
sim_timers(sim_t *s, uint64_t now)
{
    ngx_uint_t   i;
    sim_host_t  *h;

    for (i = 0; i < HOSTS_MAX; i++) {
        h = &s->host[i];

        if (h->c.syncing && !s->late) {
            sim_answer(s, h, now);
        }

        if (h->c.npending > 0 && !h->c.syncing
            && now >= h->c.first + s->sc.interval)
        {
            crm_limit_sync_start(&h->c, now, h->delta);

            if (!s->late) {
                sim_answer(s, h, now);
            }
        }
    }
}


static void
sim_flush(sim_t *s, ngx_uint_t n, uint64_t now)
{
    ngx_uint_t  i;

    for (i = 0; i < n; i++) {
        if (s->host[i].c.syncing) {
            sim_answer(s, &s->host[i], now);
        }
    }
}


static ngx_uint_t
sim_total(sim_t *s, ngx_uint_t n)
{
    ngx_uint_t  i, total;

    total = 0;

    for (i = 0; i < n; i++) {
        total += s->host[i].admitted;
    }

    return total;
}
