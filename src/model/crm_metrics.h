
/*
 * ngx_http_crm_module: the metrics' shared-memory layout and the pure
 * parts of their exposition (model/crm_metrics.c): the bucket of a
 * latency, the slot of a method or status code, label escaping and the
 * Prometheus text writer.
 *
 * One struct of fixed dimensions (crm_metrics_t) lives in the zone of
 * crm_metrics_zone.  Every counter is an ngx_atomic_t that the workers
 * add to with ngx_atomic_fetch_add(), without a lock; a gauge of a worker
 * is stored by that worker into its own slot.  A counter only grows: a
 * reload keeps the zone (nginx reuses a zone of the same name and size)
 * and so the counts.
 */


#ifndef _CRM_METRICS_H_INCLUDED_
#define _CRM_METRICS_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include "model/crm.h"


/* the layout's signature: a zone of another layout is started afresh */
#define CRM_METRICS_MAGIC     0x63726d6d65740004ULL


/*
 * Route families: the route table's kinds (src/http/crm_http.h,
 * crm_route_kind_e, 0 to 10, in that order), then the other locations
 */

#define CRM_METRICS_FAMILY_NONE      0      /* no route: 404, or an error
                                               of nginx's before one */
#define CRM_METRICS_FAMILY_TRACKING  11     /* crm_tracking */
#define CRM_METRICS_FAMILY_METRICS   12     /* crm_metrics */
#define CRM_METRICS_FAMILIES         13

/* resources: 0 none, then crm_schema_all()'s, in order */
#define CRM_METRICS_RESOURCES        24

#define CRM_METRICS_METHODS          7      /* GET HEAD POST PUT PATCH
                                               DELETE other */
#define CRM_METRICS_CODES            37     /* crm_metrics_codes[] */
#define CRM_METRICS_BUCKETS          12     /* the last is +Inf */

#define CRM_METRICS_WORKERS          128    /* gauges' slots: ngx_worker
                                               modulo this */

#define CRM_METRICS_POOL_MAIN        0
#define CRM_METRICS_POOL_HEAVY       1
#define CRM_METRICS_POOLS            2

#define CRM_METRICS_REDIS_CONNECT    0      /* a connect failed */
#define CRM_METRICS_REDIS_LOST       1      /* a connection was lost */
#define CRM_METRICS_REDIS_COMMAND    2      /* a command got no reply */
#define CRM_METRICS_REDIS_ERRORS     3

#define CRM_METRICS_LIMIT_REQUESTS   0      /* crm_rate_limit */
#define CRM_METRICS_LIMIT_AUTH       1      /* crm_auth_fail_limit */
#define CRM_METRICS_LIMIT_HEAVY      2      /* crm_postgres_heavy's
                                               workspace= share */
#define CRM_METRICS_LIMITS           3

#define CRM_METRICS_AUTH_HIT         0
#define CRM_METRICS_AUTH_NEGATIVE    1      /* an unknown credential */
#define CRM_METRICS_AUTH_MISS        2      /* unknown here, or stale */
#define CRM_METRICS_AUTH_RESULTS     3

#define CRM_METRICS_EMAIL_SENT       0
#define CRM_METRICS_EMAIL_BOUNCED    1
#define CRM_METRICS_EMAIL_DEFERRED   2
#define CRM_METRICS_EMAIL_FAILED     3
#define CRM_METRICS_EMAIL_OUTCOMES   4

#define CRM_METRICS_HOOK_DELIVERED   0
#define CRM_METRICS_HOOK_RETRIED     1
#define CRM_METRICS_HOOK_FAILED      2
#define CRM_METRICS_HOOK_OUTCOMES    3

/* the outboxes' depths, read from PostgreSQL by a job (cluster-wide) */
#define CRM_METRICS_QUEUE_EMAIL_WAIT 0      /* queued or deferred */
#define CRM_METRICS_QUEUE_EMAIL_SEND 1      /* claimed, being sent */
#define CRM_METRICS_QUEUE_HOOK_WAIT  2      /* pending */
#define CRM_METRICS_QUEUE_HOOK_SEND  3      /* claimed, being sent */
#define CRM_METRICS_QUEUES           4
#define CRM_METRICS_QUEUE_LIMIT      100000 /* counted up to this */
#define CRM_METRICS_QUEUE_INTERVAL   15000  /* read every, ms */

/* the longest line the writer makes, with room to spare */
#define CRM_METRICS_LINE             512


typedef ngx_atomic_t  crm_metric_t;


/* a PostgreSQL pool of one worker */

typedef struct {
    crm_metric_t              open;         /* gauges: connected */
    crm_metric_t              busy;         /* running a statement */
    crm_metric_t              waiting;      /* requests in the queue */
    crm_metric_t              timeouts;     /* counters */
    crm_metric_t              full;
    crm_metric_t              reconnects;
    crm_metric_t              connect_failures;
} crm_metrics_pg_t;


typedef struct {
    crm_metric_t              pid;          /* the gauges' owner; 0: none */
    crm_metric_t              redis_up;
    crm_metrics_pg_t          pg[CRM_METRICS_POOLS];
} crm_metrics_worker_t;


typedef struct {
    uint64_t                  magic;

    crm_metric_t              requests[CRM_METRICS_FAMILIES]
                                      [CRM_METRICS_RESOURCES]
                                      [CRM_METRICS_METHODS]
                                      [CRM_METRICS_CODES];

    /* per bucket, not cumulative: one add a request */
    crm_metric_t              latency[CRM_METRICS_FAMILIES]
                                     [CRM_METRICS_RESOURCES]
                                     [CRM_METRICS_BUCKETS];
    crm_metric_t              latency_ms[CRM_METRICS_FAMILIES]
                                        [CRM_METRICS_RESOURCES];

    crm_metric_t              redis_errors[CRM_METRICS_REDIS_ERRORS];
    crm_metric_t              limited[CRM_METRICS_LIMITS];
    crm_metric_t              idempotency_replays;
    crm_metric_t              auth_cache[CRM_METRICS_AUTH_RESULTS];
    crm_metric_t              email[CRM_METRICS_EMAIL_OUTCOMES];
    crm_metric_t              webhook[CRM_METRICS_HOOK_OUTCOMES];

    /* gauges of the whole cluster, stored by whichever worker read them */
    crm_metric_t              queues[CRM_METRICS_QUEUES];
    crm_metric_t              queues_read;  /* unix time; 0: never */

    crm_metrics_worker_t      workers[CRM_METRICS_WORKERS];
} crm_metrics_t;


/* one more of a counter; m may be NULL (no zone) */

#define crm_metrics_inc(m, counter)                                          \
    do {                                                                     \
        if ((m) != NULL) {                                                   \
            (void) ngx_atomic_fetch_add(&(m)->counter, 1);                   \
        }                                                                    \
    } while (0)


ngx_uint_t crm_metrics_bucket(ngx_msec_int_t ms);
ngx_uint_t crm_metrics_code(ngx_uint_t status);
ngx_uint_t crm_metrics_method(ngx_str_t *name);
ngx_uint_t crm_metrics_resource(crm_resource_t *res);
void crm_metrics_request(crm_metrics_t *m, ngx_uint_t family,
    ngx_uint_t resource, ngx_str_t *method, ngx_uint_t status,
    ngx_msec_int_t ms);
void crm_metrics_reset(crm_metrics_t *m);
size_t crm_metrics_escape_len(u_char *s, size_t len);
u_char *crm_metrics_escape(u_char *dst, u_char *s, size_t len);
u_char *crm_metrics_write(u_char *p, u_char *last, crm_metrics_t *m);


#endif /* _CRM_METRICS_H_INCLUDED_ */
