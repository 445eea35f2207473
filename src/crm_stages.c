
/*
 * ngx_http_crm_module: the stage table.  The stages every request runs,
 * in order, between its route and its handler (src/http/crm_run.c runs
 * them); a route's flags (crm_routes.c) say which it leaves out.  A new
 * stage is a file in src/stages/ and a row here.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "http/crm_http.h"
#include "stages/crm_stages.h"
#include "crm_pipeline.h"


crm_stage_def_t  crm_stages[] = {

    /* who: a static key, a cached principal or a lookup */
    { "auth", crm_auth_resolve, CRM_ROUTE_PUBLIC },

    /* how much: per principal, in this host's zone or in Redis */
    { "limit", crm_limit_check, CRM_ROUTE_PUBLIC },

    /* what: scopes, roles, owners */
    { "permit", crm_permit, CRM_ROUTE_PUBLIC|CRM_ROUTE_NO_PERMIT },

    /* the body: 415 or 400, kept from its reading (crm_body_defer()) */
    { "body", crm_body_check, 0 },

    /* again: a repeated Idempotency-Key gets the first response */
    { "idempotency", crm_idem_begin, CRM_ROUTE_PUBLIC|CRM_ROUTE_NO_PERMIT },

    { NULL, NULL, 0 }
};
