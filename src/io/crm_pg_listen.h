
/*
 * ngx_http_crm_module: a worker's LISTEN session (io/crm_pg_listen.c):
 * NOTIFY payloads on one channel, as wake-up hints.
 */


#ifndef _CRM_PG_LISTEN_H_INCLUDED_
#define _CRM_PG_LISTEN_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include "io/crm_pg.h"


typedef struct crm_pg_listen_s  crm_pg_listen_t;

/*
 * A notification's payload; NULL when the session (re)starts: what was
 * notified while nobody listened is lost, so look for work now
 */
typedef void (*crm_pg_notify_pt)(void *data, ngx_str_t *payload);


/* "channel": a lower-case identifier; NULL otherwise or out of memory */
crm_pg_listen_t *crm_pg_listen_create(ngx_cycle_t *cycle, crm_pg_conf_t *conf,
    ngx_str_t *channel, crm_pg_notify_pt handler, void *data);
void crm_pg_listen_destroy(crm_pg_listen_t *l);


#endif /* _CRM_PG_LISTEN_H_INCLUDED_ */
