
/*
 * ngx_http_crm_module: configuration, request context and the interfaces
 * between the module's I/O files (HTTP, PostgreSQL pool, resources).
 */


#ifndef _CRM_HTTP_H_INCLUDED_
#define _CRM_HTTP_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <libpq-fe.h>
#include <jansson.h>
#include "model/crm.h"
#include "model/crm_metrics.h"
#include "model/crm_ratelimit.h"
#include "io/crm_pg.h"
#include "io/crm_redis.h"
#include "io/crm_curl.h"


#define CRM_REQUEST_ID_MAX    128




/* at most one line a second of a kind, with a count of those left out */

typedef struct {
    ngx_msec_t                next;
    ngx_int_t                 skipped;
} crm_log_limit_t;


typedef struct {
    ngx_str_t                 key;
    ngx_str_t                 workspace;
} crm_static_key_t;




typedef struct crm_heavy_slot_s  crm_heavy_slot_t;

/* the longest workspace id a heavy slot holds (a UUID has 36) */
#define CRM_HEAVY_WS_LEN      64


typedef struct crm_auth_cache_s  crm_auth_cache_t;
typedef struct crm_limit_zone_s  crm_limit_zone_t;


typedef struct {
    ngx_shm_zone_t           *zone;
    ngx_flag_t                dry_run;
    ngx_flag_t                cluster;      /* counted in Redis */
    crm_limit_window_t        window[CRM_LIMIT_WINDOWS];
} crm_limit_conf_t;


typedef struct {
    crm_pg_conf_t             pg;
    crm_pg_conf_t             heavy;        /* crm_postgres_heavy */
    ngx_flag_t                heavy_enabled;
    ngx_uint_t                heavy_workspace;  /* per worker */
    ngx_str_t                 cursor_secret;
    ngx_array_t              *keys;         /* crm_static_key_t */
    ngx_shm_zone_t           *auth_zone;    /* crm_auth_cache */
    time_t                    session_ttl;
    ngx_msec_t                last_used_interval;
    crm_limit_conf_t          limit;
    crm_limit_conf_t          fail_limit;   /* crm_auth_fail_limit */
    ngx_uint_t                limit_local;  /* Redis outage logged */
    ngx_msec_t                limit_sync_interval;
    ngx_uint_t                limit_sync_requests;
    ngx_flag_t                idempotency;
    ngx_uint_t                idempotency_reject;   /* without Redis */
    ngx_msec_t                idempotency_ttl;
    ngx_msec_t                idempotency_claim_ttl;
    ngx_msec_t                analytics_cache_ttl;  /* 0: off */
    crm_redis_conf_t          redis_conf;
    ngx_flag_t                jobs;         /* crm_jobs */
    ngx_msec_t                jobs_interval;
    struct crm_email_conf_s  *email;        /* jobs/crm_email_job.h */
    struct crm_webhook_conf_s  *webhook;    /* jobs/crm_webhook_job.h */
    crm_curl_conf_t           outbound;     /* crm_outbound_* */
    ngx_uint_t                outbound_used;    /* set while configuring
                                               by what sends (crm_smtp,
                                               webhooks): the client is
                                               made in init_process */
    json_t                   *openapi;      /* the static document */
    ngx_str_t                 openapi_text; /* its bytes, as served */
    ngx_str_t                 openapi_file; /* crm_openapi_file */
    ngx_str_t                 tracking_secret;  /* crm_tracking_secret */
    ngx_str_t                 tracking_url;     /* crm_tracking_url */
    ngx_int_t                 tracking_queue;   /* crm_tracking_queue */
    ngx_shm_zone_t           *metrics_zone;     /* crm_metrics_zone */
    ngx_uint_t                metrics_used;     /* a crm_metrics location */
    u_char                   *api_file;     /* where the first crm_api */
    ngx_uint_t                api_line;     /* is; NULL: none */

    /* per worker, set up in init_process */
    struct crm_jobs_s        *jobs_worker;  /* jobs/crm_jobs.h */
    crm_pg_pool_t            *pool;
    crm_pg_pool_t            *heavy_pool;
    crm_heavy_slot_t         *heavy_slots;
    ngx_uint_t                heavy_nslots;
    crm_redis_t              *redis;
    crm_curl_t               *curl;         /* outbound_used only */
    ngx_event_t               touch;        /* API keys' last use */
    ngx_event_t               limit_sync;   /* cluster limits' flush */
    ngx_uint_t                id_seq;
    crm_log_limit_t           idem_log;     /* Idempotency-Key trouble */
    crm_log_limit_t           db_log;       /* statements refused */
    struct crm_tracking_s    *tracking_worker;  /* handlers/crm_tracking.c:
                                                   opens and clicks to
                                                   record */
    ngx_uint_t                tracking_dropped;     /* not recorded */
    ngx_uint_t                tracking_logged;      /* of those, by the
                                                       last log line */
    crm_log_limit_t           tracking_log;
    crm_metrics_t            *metrics;      /* the zone's; NULL: none */
    crm_metrics_worker_t     *metrics_worker;   /* this worker's slot */
} ngx_http_crm_main_conf_t;


typedef struct {
    ngx_uint_t                api;          /* has a crm_api location */
} ngx_http_crm_srv_conf_t;


typedef struct {
    ngx_flag_t                enable;
    ngx_flag_t                tracking;     /* crm_tracking */
    ngx_flag_t                metrics;      /* crm_metrics */
    size_t                    max_body_size;
    ngx_flag_t                json_errors;  /* crm_json_errors, or unset */
    ngx_uint_t                error_pages;  /* nginx's own errors as JSON
                                               here: crm_json_errors or
                                               its default */
} ngx_http_crm_loc_conf_t;




typedef struct crm_ctx_s  crm_ctx_t;

typedef ngx_int_t (*crm_step_pt)(ngx_http_request_t *r, crm_ctx_t *ctx);


/* routes */

typedef enum {
    CRM_ROUTE_NONE = 0,
    CRM_ROUTE_HEALTH,
    CRM_ROUTE_COLLECTION,                   /* /contacts */
    CRM_ROUTE_ITEM,                         /* /contacts/:id */
    CRM_ROUTE_LINK,                         /* /companies/:id/contacts,
                                               /deals/:id/contacts/:cid */
    CRM_ROUTE_ACTION,                       /* /auth/login */
    CRM_ROUTE_ITEM_ACTION,                  /* /leads/:id/convert */
    CRM_ROUTE_METADATA,                     /* /metadata/objects[/:name] */
    CRM_ROUTE_BULK,                         /* /contacts/bulk */
    CRM_ROUTE_SEARCH,                       /* /search */
    CRM_ROUTE_ANALYTICS,                    /* /analytics/... */
    CRM_ROUTE_OPENAPI                       /* /openapi.json */
} crm_route_kind_e;


#define CRM_MAX_SEGMENTS      6         /* a path has fewer segments */


#define CRM_ACTION_LOGIN      1
#define CRM_ACTION_REFRESH    2
#define CRM_ACTION_LOGOUT     3


/* crm_route_def_t.when: what the route's resource (or link) must be */

#define CRM_WHEN_SINGLETON    0x01      /* /workspaces/current */
#define CRM_WHEN_PLURAL       0x02
#define CRM_WHEN_IMMUTABLE    0x04      /* no PUT or PATCH */
#define CRM_WHEN_MUTABLE      0x08
#define CRM_WHEN_CREDENTIAL   0x10      /* API keys: made one by one */
#define CRM_WHEN_PLAIN        0x20      /* not a credential */
#define CRM_WHEN_THROUGH      0x40      /* a link through the parent's
                                           member array: add, remove */
#define CRM_WHEN_QUEUED       0x80      /* an outbox: POST /<name>/send */
#define CRM_WHEN_READONLY     0x100     /* GET only: the event feed */
#define CRM_WHEN_HOOKS        0x200     /* webhook subscriptions */
#define CRM_WHEN_WRITABLE     0x400     /* neither readonly nor hooks */
#define CRM_WHEN_PREVIEW      0x800     /* a link to a list with a preview
                                           (a campaign's recipients) */

/* crm_route_def_t.flags: what the pipeline leaves out */

#define CRM_ROUTE_PUBLIC      0x01      /* no credential, no stage */
#define CRM_ROUTE_NO_BODY     0x02      /* a POST that takes no body */
#define CRM_ROUTE_NO_PERMIT   0x04      /* no scope or role check and no
                                           Idempotency-Key: the handler
                                           checks what it needs */
#define CRM_ROUTE_ACCEPTED    0x08      /* the write is queued: 202 */
#define CRM_ROUTE_ANONYMOUS   0x10      /* a request without any
                                           credential header is served
                                           as CRM_ROUTE_PUBLIC; one with
                                           a credential is authenticated
                                           and rate limited as usual */
#define CRM_ROUTE_BODY_OPTIONAL  0x20   /* a POST whose body may be left
                                           out (no Content-Length or 0,
                                           not chunked): ctx->body NULL,
                                           as {} */


/*
 * A row of the route table (crm_routes.c): a path pattern, a "/" before
 * each segment, of literal segments and placeholders (:resource, :id,
 * :link, :action, :object), what the resource must be, the pipeline's
 * exceptions, and a handler per method; a method without one is 405
 * with Allow, a row without any is 404.  The first row that matches the
 * path is the route.
 */

typedef struct {
    const char               *pattern;
    ngx_uint_t                kind;         /* crm_route_kind_e */
    ngx_uint_t                when;         /* CRM_WHEN_*, all of them */
    ngx_uint_t                flags;        /* CRM_ROUTE_* */
    ngx_uint_t                action;       /* CRM_ACTION_*: /auth/... */
    crm_step_pt               get;          /* GET and HEAD */
    crm_step_pt               post;
    crm_step_pt               put;          /* PUT and PATCH */
    crm_step_pt               delete;
} crm_route_def_t;


typedef struct {
    crm_route_def_t          *def;          /* the route table's row */
    ngx_uint_t                kind;         /* crm_route_kind_e */
    crm_resource_t           *res;          /* the resource addressed */
    ngx_str_t                 id;
    crm_link_t               *link;
    crm_resource_t           *target;       /* link target resource */
    ngx_str_t                 target_id;    /* DELETE .../<link>/<id> */
    crm_resource_t           *object;       /* /metadata/objects/<object>
                                               /fields: custom fields */
    ngx_uint_t                action;       /* CRM_ACTION_* */
    ngx_uint_t                flags;        /* the row's CRM_ROUTE_*, and
                                               CRM_ROUTE_PUBLIC for an
                                               anonymous request */
    crm_action_t             *item_action;
    ngx_str_t                 base;         /* location prefix */
} crm_route_t;


#define CRM_PRINCIPAL_NONE    0
#define CRM_PRINCIPAL_STATIC  1             /* crm_api_key */
#define CRM_PRINCIPAL_KEY     2             /* a stored API key */
#define CRM_PRINCIPAL_SESSION 3             /* a user's session */

#define CRM_ROLE_NONE         0
#define CRM_ROLE_OWNER        1
#define CRM_ROLE_ADMIN        2
#define CRM_ROLE_MEMBER       3


typedef struct {
    ngx_uint_t                kind;         /* CRM_PRINCIPAL_* */
    ngx_uint_t                role;         /* CRM_ROLE_* */
    ngx_str_t                 workspace;
    ngx_str_t                 id;           /* key or session id */
    ngx_str_t                 user;         /* the user, or the key's
                                               creator; may be empty */
    ngx_str_t                 scopes;       /* "a:read,b:write" or "*" */
    time_t                    expires;      /* 0: never */
    ngx_uint_t                limit[2];     /* per minute, per hour;
                                               0: crm_rate_limit's */
} crm_principal_t;


/* what PostgreSQL said about a failed statement; fields may be NULL */

typedef struct {
    char                     *state;        /* SQLSTATE */
    char                     *message;      /* for the log */
    char                     *primary;      /* for the client */
    char                     *constraint;
    char                     *column;
    char                     *detail;       /* CR422: every problem, a
                                               JSON array (sql/086) */
} crm_db_error_t;


typedef struct crm_bulk_s  crm_bulk_t;
typedef struct crm_health_s  crm_health_t;
typedef struct crm_idem_s  crm_idem_t;
typedef struct crm_limit_state_s  crm_limit_state_t;
typedef struct crm_auth_state_s  crm_auth_state_t;


/*
 * A stage of the pipeline (the stage table, crm_stages.c): NGX_OK goes
 * on to the next stage now; NGX_AGAIN: it waits, and its callback calls
 * crm_run_next(); NGX_ABORT: it answered (ctx->rc).  A route whose flags
 * meet "skip" does not run it.
 */

typedef struct {
    const char               *name;
    crm_step_pt               run;
    ngx_uint_t                skip;         /* CRM_ROUTE_* */
} crm_stage_def_t;

/*
 * given the error object instead of sending it (ctx->on_error: bulk);
 * returns what crm_http_error() returns
 */
typedef ngx_int_t (*crm_error_pt)(ngx_http_request_t *r, crm_ctx_t *ctx,
    json_t *err);

/* called with the module's response before it is sent (ctx->on_send) */
typedef void (*crm_send_pt)(ngx_http_request_t *r, crm_ctx_t *ctx,
    ngx_uint_t status, ngx_chain_t *out);


struct crm_ctx_s {
    ngx_http_request_t       *request;
    ngx_http_crm_main_conf_t *mcf;
    ngx_str_t                 request_id;
    crm_route_t               route;
    ngx_str_t                 workspace;
    json_t                   *body;
    json_t                   *body_error;   /* the body's refusal, sent
                                               after the stages who and
                                               how much: crm_body_check() */
    crm_query_t               query;
    ngx_uint_t                cost;         /* rate-limit units: a bulk
                                               request's operations */
    json_t                   *custom;       /* custom-field definitions,
                                               crm_custom_load() */
    ngx_str_t                 preset;       /* filters a route sets before
                                               the request's own (a
                                               campaign's audience),
                                               crm_list() */
    crm_bulk_t               *bulk;
    unsigned                  heavy:1;      /* search, count=exact */
    crm_pg_req_t             *pg;
    crm_pg_req_t             *pg_heavy;     /* on the heavy pool */
    crm_heavy_slot_t         *heavy_slot;   /* its workspace's share */
    crm_pg_handler_pt         pg_handler;   /* see crm_exec() */
    crm_redis_handler_pt      redis_handler;    /* crm_http_redis() */
    ngx_int_t                 total;        /* count=, -1: none */
    /*
     * A step that answered the request itself (an error) returns
     * NGX_ABORT and leaves the sending's result here; NGX_OK goes on.
     */
    ngx_int_t                 rc;
    ngx_msec_t                started;

    /* the state of a stage or handler, its own (NULL until it runs) */
    crm_health_t             *health;       /* handlers/crm_health.c */
    crm_idem_t               *idem;         /* stages/crm_idempotency.c */
    crm_limit_state_t        *limit;        /* stages/crm_limit.c */
    crm_auth_state_t         *auth;         /* stages/crm_auth.c */
    void                     *state;        /* the route's handler's own,
                                               of a type its file knows */

    crm_principal_t           principal;
    crm_stage_def_t          *stages;       /* the pipeline's table */
    ngx_uint_t                stage;        /* the one running */
    crm_step_pt               next;         /* a handler's continuation */
    ngx_str_t                 secret;       /* a new API key, shown once */
    const char               *secret_name;  /* its member: NULL "key" */
    ngx_str_t                 match;        /* If-Match version */
    ngx_int_t                 limit_remaining;  /* -1: not limited */


    crm_error_pt              on_error;     /* set by bulk around each
                                               operation */
    crm_send_pt               on_send;      /* set by the idempotency
                                               stage while it holds a
                                               claim */


    ngx_str_t                 page;         /* nginx's own error page as
                                               JSON (crm_error_pages.c) */
    unsigned                  answered:1;   /* crm_http_send() ran */
    unsigned                  page_sent:1;
};


extern ngx_module_t  ngx_http_crm_module;


/* crm_http.c: envelope, error catalog, request ids, output */

typedef enum {
    CRM_E_BAD_REQUEST = 0,
    CRM_E_INVALID_JSON,
    CRM_E_INVALID_PARAMETER,
    CRM_E_UNAUTHENTICATED,
    CRM_E_FORBIDDEN,
    CRM_E_NOT_FOUND,
    CRM_E_METHOD_NOT_ALLOWED,
    CRM_E_CONFLICT,
    CRM_E_DUPLICATE,
    CRM_E_INVALID_STATE,
    CRM_E_PRECONDITION_FAILED,
    CRM_E_PAYLOAD_TOO_LARGE,
    CRM_E_UNSUPPORTED_MEDIA_TYPE,
    CRM_E_VALIDATION_FAILED,
    CRM_E_IDEMPOTENCY_KEY_REUSED,
    CRM_E_NOT_APPLIED,
    CRM_E_RATE_LIMITED,
    CRM_E_INTERNAL,
    CRM_E_SERVICE_UNAVAILABLE,
    CRM_E_REQUEST_HEADER_TOO_LARGE,
    CRM_E_URI_TOO_LONG,
    CRM_E_NOT_IMPLEMENTED,
    CRM_E_HTTP_VERSION_NOT_SUPPORTED
} crm_error_e;


crm_ctx_t *crm_http_ctx(ngx_http_request_t *r);
ngx_int_t crm_http_request_id(ngx_http_request_t *r, crm_ctx_t *ctx);
ngx_int_t crm_http_meta(ngx_http_request_t *r, crm_ctx_t *ctx, u_char **p,
    size_t *len);
ngx_int_t crm_http_send(ngx_http_request_t *r, ngx_uint_t status,
    ngx_chain_t *out, size_t len);
ngx_int_t crm_http_send_data(ngx_http_request_t *r, ngx_uint_t status,
    u_char *data, size_t len);
/* the catalog's "i"th code and its status; NULL past the end */
const char *crm_http_error_code(ngx_uint_t i, ngx_uint_t *status);
ngx_int_t crm_http_error(ngx_http_request_t *r, ngx_uint_t error,
    const char *message, json_t *details);
ngx_int_t crm_http_error_send(ngx_http_request_t *r, crm_ctx_t *ctx,
    json_t *err);
ngx_uint_t crm_http_error_status(json_t *err);
ngx_int_t crm_http_error_page(ngx_http_request_t *r, crm_ctx_t *ctx,
    ngx_uint_t status, ngx_str_t *out);
ngx_int_t crm_http_field_error(ngx_http_request_t *r, const char *field,
    const char *code, const char *message);
ngx_int_t crm_http_field_errors(ngx_http_request_t *r, ngx_uint_t error,
    const char *message, ngx_array_t *errors);
ngx_int_t crm_http_param_error(ngx_http_request_t *r, crm_error_t *err);
ngx_int_t crm_http_no_args(ngx_http_request_t *r, crm_ctx_t *ctx);
ngx_int_t crm_http_no_store(ngx_http_request_t *r);
/* whom rate limits and Idempotency-Keys count for */
ngx_str_t *crm_http_subject(crm_principal_t *pr);
ngx_table_elt_t *crm_http_header_in(ngx_http_request_t *r, const char *name,
    size_t len);
ngx_table_elt_t *crm_http_header_in_next(ngx_http_request_t *r,
    const char *name, size_t len, ngx_table_elt_t *prev);
ngx_int_t crm_http_header_out(ngx_http_request_t *r, const char *name,
    ngx_str_t *value);
ngx_int_t crm_http_retry(ngx_http_request_t *r, ngx_uint_t error,
    const char *message, ngx_msec_t ms, const char *reason);
void crm_http_done(ngx_http_request_t *r, ngx_int_t rc);
void crm_http_posted(ngx_connection_t *c);
ngx_int_t crm_log_limit(crm_log_limit_t *ll);
void crm_http_wait(ngx_http_request_t *r);
crm_redis_cmd_t *crm_http_redis(ngx_http_request_t *r, crm_ctx_t *ctx,
    crm_redis_handler_pt h, ngx_uint_t argc, ngx_str_t *argv);


/* crm_run.c: the stage runner, then the route's handler */

ngx_int_t crm_run(ngx_http_request_t *r, crm_ctx_t *ctx);
ngx_int_t crm_run_next(ngx_http_request_t *r, crm_ctx_t *ctx);


/* crm_exec.c: run a statement for a request and answer */

ngx_int_t crm_exec(ngx_http_request_t *r, crm_ctx_t *ctx, crm_stmt_t *st,
    crm_pg_handler_pt h);
ngx_http_request_t *crm_exec_result(crm_pg_req_t *pr, PGresult *res,
    ngx_uint_t one, crm_ctx_t **ctx);
ngx_int_t crm_exec_db_error(ngx_http_request_t *r, crm_ctx_t *ctx,
    crm_pg_req_t *pr, PGresult *res);
ngx_int_t crm_exec_db_fail(ngx_http_request_t *r, crm_ctx_t *ctx,
    crm_db_error_t *e);
ngx_int_t crm_exec_problems(ngx_pool_t *pool, char *detail, char *column,
    ngx_array_t *errors);
ngx_int_t crm_exec_field(ngx_pool_t *pool, PGresult *res, int col,
    ngx_str_t *out);
void crm_exec_row_done(crm_pg_req_t *pr, PGresult *res);
ngx_int_t crm_exec_render_row(ngx_http_request_t *r, crm_ctx_t *ctx,
    ngx_uint_t status, u_char *row, size_t len);
ngx_int_t crm_exec_location(ngx_http_request_t *r, crm_ctx_t *ctx,
    u_char *row, size_t len);
/* the ETag from column "col" of row 0 */
ngx_int_t crm_exec_etag(ngx_http_request_t *r, crm_ctx_t *ctx,
    PGresult *res, int col);
/* result row "row"'s columns first .. first + n - 1: data NULL for NULL */
void crm_exec_cols(PGresult *res, int row, int first, ngx_uint_t n,
    ngx_str_t *cols);
/* the record of "st" in result row "row" as JSON (crm_render_row()) */
ngx_int_t crm_exec_record(ngx_http_request_t *r, crm_stmt_t *st,
    PGresult *res, int row, ngx_str_t *out);
/* the first column after the record */
int crm_exec_after(crm_stmt_t *st);
/* the route's record with the fields "names" (NULL-terminated) alone */
ngx_int_t crm_exec_get_fields(ngx_http_request_t *r, crm_ctx_t *ctx,
    const char **names, crm_pg_handler_pt h);
/* its row as a JSON object; NULL: answered (not found, an error) */
json_t *crm_exec_fields_json(ngx_http_request_t *r, crm_ctx_t *ctx,
    crm_pg_req_t *pr, PGresult *res);
ngx_int_t crm_exec_not_found(ngx_http_request_t *r, crm_ctx_t *ctx);
ngx_int_t crm_exec_if_match(ngx_http_request_t *r, crm_ctx_t *ctx);
ngx_int_t crm_exec_missing(ngx_http_request_t *r, crm_ctx_t *ctx);
void crm_exec_exists_done(crm_pg_req_t *pr, PGresult *res);
ngx_int_t crm_exec_precondition_failed(ngx_http_request_t *r,
    crm_ctx_t *ctx);


/* crm_error_pages.c: nginx's own error pages as JSON errors */

ngx_int_t crm_error_pages_init(ngx_conf_t *cf);


/* crm_router.c */

ngx_int_t crm_route_segments(crm_route_def_t *table, ngx_str_t *seg,
    ngx_uint_t n, crm_route_t *rt);
ngx_int_t crm_route(ngx_http_request_t *r, crm_route_def_t *table,
    crm_route_t *rt);


/* crm_body.c: request bodies */

typedef struct {
    ngx_chain_t              *cl;
    off_t                     offset;       /* into cl->buf */
    ngx_log_t                *log;
    unsigned                  error:1;
} crm_body_reader_t;

ngx_int_t crm_json_body(ngx_http_request_t *r, crm_ctx_t *ctx);
ngx_int_t crm_body_defer(ngx_http_request_t *r, crm_ctx_t *ctx, json_t *err);
ngx_int_t crm_body_check(ngx_http_request_t *r, crm_ctx_t *ctx);
void crm_body_reader_init(crm_body_reader_t *rd, ngx_http_request_t *r);
ssize_t crm_body_read(crm_body_reader_t *rd, u_char *dst, size_t size);












/* crm_heavy.c: expensive requests' own pool and per-workspace share */

ngx_int_t crm_heavy_init_process(ngx_cycle_t *cycle,
    ngx_http_crm_main_conf_t *mcf);
void crm_heavy_exit_process(ngx_http_crm_main_conf_t *mcf);
crm_pg_pool_t *crm_heavy_pool(ngx_http_request_t *r, crm_ctx_t *ctx);








#endif /* _CRM_HTTP_H_INCLUDED_ */
