
/*
 * ngx_http_crm_module: the request pipeline (crm_pipeline.c), the
 * content handler of a crm_api location.
 */


#ifndef _CRM_PIPELINE_H_INCLUDED_
#define _CRM_PIPELINE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "http/crm_http.h"


ngx_int_t crm_pipeline_handler(ngx_http_request_t *r);


/* crm_routes.c: every route of the API */

extern crm_route_def_t  crm_routes[];


/* crm_stages.c: the stages between a route and its handler */

extern crm_stage_def_t  crm_stages[];


#endif /* _CRM_PIPELINE_H_INCLUDED_ */
