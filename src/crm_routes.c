
/*
 * ngx_http_crm_module: the route table.  Every route of the API, once:
 * its path pattern, what its resource must be, what the pipeline leaves
 * out for it, and its handler per method (GET also serves HEAD, PUT also
 * PATCH).  The router (src/http/crm_router.c) takes the first row that
 * matches; 405 with Allow and the dispatch come from the row.  A new
 * route family is a handler file and rows here.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "http/crm_http.h"
#include "handlers/crm_handlers.h"
#include "crm_pipeline.h"


#define P  CRM_WHEN_PLURAL


crm_route_def_t  crm_routes[] = {

    /* pattern, kind, when, flags, action, GET, POST, PUT, DELETE */

    { "/health", CRM_ROUTE_HEALTH, 0, CRM_ROUTE_PUBLIC, 0,
      crm_health, NULL, NULL, NULL },

    /* the OpenAPI document: with a credential, with its custom fields */

    { "/openapi.json", CRM_ROUTE_OPENAPI, 0,
      CRM_ROUTE_ANONYMOUS|CRM_ROUTE_NO_PERMIT, 0,
      crm_openapi, NULL, NULL, NULL },

    { "/search", CRM_ROUTE_SEARCH, 0, CRM_ROUTE_NO_PERMIT, 0,
      crm_search, NULL, NULL, NULL },

    /* read from the rollups of sql/021_analytics.sql: analytics:read */

    { "/analytics/emails", CRM_ROUTE_ANALYTICS, 0, CRM_ROUTE_NO_PERMIT, 0,
      crm_analytics_emails, NULL, NULL, NULL },

    { "/analytics/campaigns/:id", CRM_ROUTE_ANALYTICS, 0,
      CRM_ROUTE_NO_PERMIT, 0,
      crm_analytics_campaign, NULL, NULL, NULL },

    { "/analytics/contacts/:id", CRM_ROUTE_ANALYTICS, 0,
      CRM_ROUTE_NO_PERMIT, 0,
      crm_analytics_contact, NULL, NULL, NULL },

    { "/metadata/objects", CRM_ROUTE_METADATA, 0, CRM_ROUTE_NO_PERMIT, 0,
      crm_metadata, NULL, NULL, NULL },

    { "/metadata/objects/:resource", CRM_ROUTE_METADATA, 0,
      CRM_ROUTE_NO_PERMIT, 0,
      crm_metadata, NULL, NULL, NULL },

    { "/metadata/objects/:object/fields", CRM_ROUTE_COLLECTION, 0, 0, 0,
      crm_list, crm_create, NULL, NULL },

    { "/auth/login", CRM_ROUTE_ACTION, 0, CRM_ROUTE_PUBLIC,
      CRM_ACTION_LOGIN,
      NULL, crm_auth_action, NULL, NULL },

    { "/auth/refresh", CRM_ROUTE_ACTION, 0,
      CRM_ROUTE_NO_BODY|CRM_ROUTE_NO_PERMIT, CRM_ACTION_REFRESH,
      NULL, crm_auth_action, NULL, NULL },

    { "/auth/logout", CRM_ROUTE_ACTION, 0,
      CRM_ROUTE_NO_BODY|CRM_ROUTE_NO_PERMIT, CRM_ACTION_LOGOUT,
      NULL, crm_auth_action, NULL, NULL },

    /* the workspace of the credential: /workspaces/current only */

    { "/:resource/current", CRM_ROUTE_ITEM, CRM_WHEN_SINGLETON, 0, 0,
      crm_get, NULL, crm_update, NULL },

    /*
     * an outbox (emails): queued by POST /<name>/send (202), read, never
     * changed or deleted through the API; no bulk
     */

    { "/:resource", CRM_ROUTE_COLLECTION, P|CRM_WHEN_QUEUED, 0, 0,
      crm_list, NULL, NULL, NULL },

    { "/:resource/send", CRM_ROUTE_COLLECTION, P|CRM_WHEN_QUEUED,
      CRM_ROUTE_ACCEPTED, 0,
      NULL, crm_create, NULL, NULL },

    { "/:resource/bulk", CRM_ROUTE_NONE, P|CRM_WHEN_QUEUED, 0, 0,
      NULL, NULL, NULL, NULL },

    { "/:resource/:id", CRM_ROUTE_ITEM, P|CRM_WHEN_QUEUED, 0, 0,
      crm_get, NULL, NULL, NULL },

    /* the event feed: read only */

    { "/:resource", CRM_ROUTE_COLLECTION, P|CRM_WHEN_READONLY, 0, 0,
      crm_list, NULL, NULL, NULL },

    { "/:resource/bulk", CRM_ROUTE_NONE, P|CRM_WHEN_READONLY, 0, 0,
      NULL, NULL, NULL, NULL },

    { "/:resource/:id", CRM_ROUTE_ITEM, P|CRM_WHEN_READONLY, 0, 0,
      crm_get, NULL, NULL, NULL },

    /*
     * webhook subscriptions: made one by one with their secret shown
     * once; rotate-secret, test, a delivery's retry; the deliveries are
     * a link (GET /webhooks/:id/deliveries)
     */

    { "/:resource", CRM_ROUTE_COLLECTION, P|CRM_WHEN_HOOKS, 0, 0,
      crm_list, crm_webhook_create, NULL, NULL },

    { "/:resource/bulk", CRM_ROUTE_NONE, P|CRM_WHEN_HOOKS, 0, 0,
      NULL, NULL, NULL, NULL },

    { "/:resource/:id/rotate-secret", CRM_ROUTE_ITEM, P|CRM_WHEN_HOOKS,
      CRM_ROUTE_NO_BODY, 0,
      NULL, crm_webhook_rotate, NULL, NULL },

    { "/:resource/:id/test", CRM_ROUTE_ITEM, P|CRM_WHEN_HOOKS,
      CRM_ROUTE_NO_BODY|CRM_ROUTE_ACCEPTED, 0,
      NULL, crm_webhook_test, NULL, NULL },

    { "/:resource/:id/deliveries/:id/retry", CRM_ROUTE_ITEM,
      P|CRM_WHEN_HOOKS, CRM_ROUTE_NO_BODY|CRM_ROUTE_ACCEPTED, 0,
      NULL, crm_webhook_retry, NULL, NULL },

    { "/:resource/:id", CRM_ROUTE_ITEM, P|CRM_WHEN_HOOKS, 0, 0,
      crm_get, NULL, crm_webhook_update, crm_webhook_delete },

    /* API keys are made one by one, each with its secret shown once */

    { "/:resource", CRM_ROUTE_COLLECTION, P|CRM_WHEN_CREDENTIAL, 0, 0,
      crm_list, crm_api_key_create, NULL, NULL },

    { "/:resource/bulk", CRM_ROUTE_NONE, P|CRM_WHEN_CREDENTIAL, 0, 0,
      NULL, NULL, NULL, NULL },

    { "/:resource", CRM_ROUTE_COLLECTION, P|CRM_WHEN_PLAIN, 0, 0,
      crm_list, crm_create, NULL, NULL },

    { "/:resource/bulk", CRM_ROUTE_BULK, P|CRM_WHEN_PLAIN|CRM_WHEN_WRITABLE,
      0, 0,
      NULL, crm_bulk, NULL, NULL },

    { "/:resource/:id", CRM_ROUTE_ITEM, P|CRM_WHEN_IMMUTABLE, 0, 0,
      crm_get, NULL, NULL, crm_delete },

    { "/:resource/:id", CRM_ROUTE_ITEM, P|CRM_WHEN_MUTABLE, 0, 0,
      crm_get, NULL, crm_update, crm_delete },

    { "/:resource/:id/:action", CRM_ROUTE_ITEM_ACTION, P,
      CRM_ROUTE_BODY_OPTIONAL, 0,
      NULL, crm_item_action, NULL, NULL },

    /* a campaign's recipients: a preview of its audience before it */

    { "/:resource/:id/:link", CRM_ROUTE_LINK, P|CRM_WHEN_PREVIEW, 0, 0,
      crm_recipients, NULL, NULL, NULL },

    { "/:resource/:id/:link", CRM_ROUTE_LINK, P|CRM_WHEN_THROUGH, 0, 0,
      crm_list, crm_link, NULL, NULL },

    { "/:resource/:id/:link", CRM_ROUTE_LINK, P, 0, 0,
      crm_list, NULL, NULL, NULL },

    { "/:resource/:id/:link/:id", CRM_ROUTE_LINK, P|CRM_WHEN_THROUGH, 0, 0,
      NULL, NULL, NULL, crm_link },

    { NULL, 0, 0, 0, 0, NULL, NULL, NULL, NULL }
};
