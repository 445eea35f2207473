
/*
 * ngx_http_crm_module: rate-limit arithmetic, pure (see crm_ratelimit.h).
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include "model/crm_ratelimit.h"


static void crm_limit_pend(crm_limit_count_t *c, ngx_uint_t i, uint64_t add,
    uint64_t now);


/*
 * a request's interval, or, for one that costs n (a bulk request), n
 * intervals; one larger than the window needs all of it
 */

uint64_t
crm_limit_increment(crm_limit_window_t *w, ngx_uint_t cost)
{
    if (cost <= 1) {
        return w->interval;
    }

    return ngx_min(w->interval * cost, w->period);
}


uint64_t
crm_limit_wait(crm_limit_window_t *w, uint64_t *inc, uint64_t now,
    uint64_t *tat)
{
    uint64_t    us, next, allow;
    ngx_uint_t  i;

    us = 0;

    for (i = 0; i < CRM_LIMIT_WINDOWS; i++) {
        next = ngx_max(tat[i], now) + inc[i];
        allow = (next > w[i].period) ? next - w[i].period : 0;

        if (now < allow && allow - now > us) {
            us = allow - now;
        }
    }

    return us;
}


void
crm_limit_take(crm_limit_count_t *c, uint64_t *inc, uint64_t now)
{
    ngx_uint_t  i;

    if (c->npending == 0) {
        c->first = now;
    }

    for (i = 0; i < CRM_LIMIT_WINDOWS; i++) {
        c->tat[i] = ngx_max(c->tat[i], now) + inc[i];
        crm_limit_pend(c, i, inc[i], now);
    }

    c->npending++;
}


/*
 * pending never holds more than the bucket does: what has leaked out of
 * it here needs no telling (after a long Redis outage, an hour of
 * requests would otherwise be added to the cluster's TAT at once)
 */

static void
crm_limit_pend(crm_limit_count_t *c, ngx_uint_t i, uint64_t add,
    uint64_t now)
{
    uint64_t  room;

    room = (c->tat[i] > now) ? c->tat[i] - now : 0;

    c->pending[i] = ngx_min(c->pending[i] + add, room);
}


ngx_uint_t
crm_limit_budget(crm_limit_window_t *w, uint64_t now, uint64_t *tat,
    ngx_uint_t *remaining, ngx_msec_t *reset)
{
    uint64_t    t;
    ngx_uint_t  i, best, rem[CRM_LIMIT_WINDOWS];

    best = 0;

    for (i = 0; i < CRM_LIMIT_WINDOWS; i++) {
        t = ngx_max(tat[i], now);
        rem[i] = (t - now >= w[i].period)
                 ? 0 : (ngx_uint_t) ((w[i].period - (t - now))
                                     / w[i].interval);

        if (rem[i] * w[best].limit < rem[best] * w[i].limit) {
            best = i;
        }
    }

    *remaining = ngx_min(rem[best], w[best].limit);
    *reset = (ngx_msec_t) ((ngx_max(tat[best], now) - now + 999) / 1000);

    return best;
}


ngx_uint_t
crm_limit_sync_due(crm_limit_count_t *c, crm_limit_sync_conf_t *sc,
    uint64_t now)
{
    if (c->syncing || c->npending == 0) {
        return 0;
    }

    return c->npending >= sc->requests
           || c->synced == 0
           || now >= c->synced + sc->interval
           || now >= c->first + sc->interval;
}


void
crm_limit_sync_start(crm_limit_count_t *c, uint64_t now, uint64_t *delta)
{
    uint64_t    room;
    ngx_uint_t  i;

    for (i = 0; i < CRM_LIMIT_WINDOWS; i++) {
        room = (c->tat[i] > now) ? c->tat[i] - now : 0;
        delta[i] = ngx_min(c->pending[i], room);

        c->sent[i] = delta[i];
        c->pending[i] = 0;
    }

    c->npending = 0;
    c->synced = now;
    c->syncing = 1;
}


void
crm_limit_sync_done(crm_limit_count_t *c, uint64_t now, uint64_t rnow,
    uint64_t *rtat)
{
    uint64_t    backlog;
    ngx_uint_t  i;

    for (i = 0; i < CRM_LIMIT_WINDOWS; i++) {
        backlog = (rtat[i] > rnow) ? rtat[i] - rnow : 0;

        c->tat[i] = now + backlog + c->pending[i];
        c->sent[i] = 0;
    }

    c->syncing = 0;
}


void
crm_limit_sync_failed(crm_limit_count_t *c, uint64_t now)
{
    ngx_uint_t  i, any;

    any = 0;

    for (i = 0; i < CRM_LIMIT_WINDOWS; i++) {
        if (c->sent[i] != 0) {
            any = 1;
        }

        crm_limit_pend(c, i, c->sent[i], now);
        c->sent[i] = 0;
    }

    if (any && c->npending == 0) {
        c->npending = 1;
        c->first = now;
    }

    c->syncing = 0;
}
