
/*
 * ngx_http_crm_module: rate-limit arithmetic (model/crm_ratelimit.c,
 * pure): GCRA windows and the counts a host keeps of a principal between
 * two syncs with the cluster.
 *
 * All times are microseconds of one clock: this host's for a count, the
 * Redis server's for what Redis answers.  A window of limit L over a
 * period P admits a request when TAT + I - P <= now (I = P / L), then
 * TAT = max(TAT, now) + I: a burst of L, then one request every I.
 *
 * A cluster-wide limit is kept as the same TAT in Redis.  A host admits
 * on its own count (the cluster's TAT as last read, plus what it admitted
 * since), and sends what it admitted in one batch (crm_limit_sync_start():
 * the increments still in its bucket), which Redis adds to its TAT and
 * answers with its TAT and clock (crm_limit_sync_done()).  Between two
 * syncs a host does not see what the others admit: docs/DESIGN.md gives
 * the bound.
 */


#ifndef _CRM_RATELIMIT_H_INCLUDED_
#define _CRM_RATELIMIT_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>


#define CRM_LIMIT_WINDOWS     2             /* per minute, per hour */


typedef struct {
    ngx_uint_t                limit;
    uint64_t                  period;       /* us */
    uint64_t                  interval;     /* us: period / limit */
} crm_limit_window_t;


/* a principal's counts on one host (in a shared-memory node) */

typedef struct {
    uint64_t                  tat[CRM_LIMIT_WINDOWS];
    uint64_t                  pending[CRM_LIMIT_WINDOWS];  /* admitted
                                               here, not yet sent */
    uint64_t                  sent[CRM_LIMIT_WINDOWS];     /* sent, not
                                               yet answered */
    uint64_t                  first;        /* the first pending one's
                                               admission */
    uint64_t                  synced;       /* the last sync sent; 0:
                                               never */
    ngx_uint_t                npending;     /* requests in pending */
    ngx_uint_t                seq;          /* of the sync in flight */
    ngx_uint_t                syncing;      /* a sync is in flight */
} crm_limit_count_t;


/* when a sync is due: after "requests" admissions, or "interval" us */

typedef struct {
    uint64_t                  interval;     /* us */
    ngx_uint_t                requests;
} crm_limit_sync_conf_t;


/* what a request of "cost" units adds to a window's TAT */
uint64_t crm_limit_increment(crm_limit_window_t *w, ngx_uint_t cost);

/* us until a request adding inc[] conforms to every window (0: now) */
uint64_t crm_limit_wait(crm_limit_window_t *w, uint64_t *inc,
    uint64_t now, uint64_t *tat);

/* counts an admitted request: TATs, and what is pending for the cluster */
void crm_limit_take(crm_limit_count_t *c, uint64_t *inc, uint64_t now);

/*
 * The window closest to exhaustion: its index, the requests it has left
 * and the ms until it is whole again
 */
ngx_uint_t crm_limit_budget(crm_limit_window_t *w, uint64_t now,
    uint64_t *tat, ngx_uint_t *remaining, ngx_msec_t *reset);

/* 1 when the count has something to send and its time or size has come */
ngx_uint_t crm_limit_sync_due(crm_limit_count_t *c,
    crm_limit_sync_conf_t *sc, uint64_t now);

/*
 * starts a sync: delta[] (what to add in Redis) is what is pending and
 * still in the bucket at "now" (what has leaked out since would have
 * leaked out in Redis too); the count waits for the answer
 */
void crm_limit_sync_start(crm_limit_count_t *c, uint64_t now,
    uint64_t *delta);

/*
 * the answer: Redis' clock and TATs after adding delta[]; the count
 * becomes the cluster's backlog plus what was admitted here since
 */
void crm_limit_sync_done(crm_limit_count_t *c, uint64_t now,
    uint64_t rnow, uint64_t *rtat);

/* no answer: what was sent is pending again */
void crm_limit_sync_failed(crm_limit_count_t *c, uint64_t now);


#endif /* _CRM_RATELIMIT_H_INCLUDED_ */
