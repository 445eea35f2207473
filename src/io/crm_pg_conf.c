
/*
 * ngx_http_crm_module: the PostgreSQL pool's configuration: the conninfo
 * parsed once at configuration time (no I/O), with the session settings
 * the module relies on.
 */


#include "io/crm_pg_conn.h"


/*
 * The ordinary pool's statements are planned once, when a connection
 * first runs them, not again at every execution: a list's page is
 * planned alike at any depth and for any workspace, while PostgreSQL's
 * own choice (plan_cache_mode auto) compares the costs of the first
 * five executions' plans and so replans every page of a list on some
 * connections and not on others (about a third of its cost).  The
 * heavy pool's statements (search, q=, count=exact) keep PostgreSQL's
 * choice: their best plan depends on the text searched for.  A
 * conninfo's "options" may set plan_cache_mode otherwise.
 */
#define CRM_PG_GENERIC_OPTION   " -c plan_cache_mode=force_generic_plan"


/* the session settings no conninfo "options" may change */
#define CRM_PG_SESSION_OPTIONS  "-c TimeZone=UTC -c DateStyle=ISO,YMD"


/*
 * Configuration time: parse the conninfo once (no I/O) and add the
 * session settings the module relies on.
 */

char *
crm_pg_conf_finalize(ngx_conf_t *cf, crm_pg_conf_t *pcf)
{
    char                *errmsg, *user;
    u_char              *p, *last;
    size_t               len;
    ngx_uint_t           n, i, has_app;
    PQconninfoOption    *opts, *o;
    u_char               options[256];

    /*
     * Pipeline mode (crm_pg.c): libpq 14.5 and later end a pipeline's
     * round of results as the pool reads them (PGASYNC_PIPELINE_IDLE)
     */

    if (PQlibVersion() < 140005) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "crm_postgres needs libpq 14.5 or later, "
                           "this is %d", PQlibVersion());
        return NGX_CONF_ERROR;
    }

    errmsg = NULL;
    opts = PQconninfoParse((char *) pcf->conninfo.data, &errmsg);
    if (opts == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid crm_postgres conninfo \"%V\": %s",
                           &pcf->conninfo, errmsg ? errmsg : "out of memory");
        if (errmsg) {
            PQfreemem(errmsg);
        }
        return NGX_CONF_ERROR;
    }

    n = 0;
    for (o = opts; o->keyword; o++) {
        n++;
    }

    pcf->keywords = ngx_pcalloc(cf->pool, (n + 3) * sizeof(char *));
    pcf->values = ngx_pcalloc(cf->pool, (n + 3) * sizeof(char *));
    if (pcf->keywords == NULL || pcf->values == NULL) {
        PQconninfoFree(opts);
        return NGX_CONF_ERROR;
    }

    /*
     * A server-side statement timeout, and search's typo tolerance,
     * crm_search_similarity (0.5 by default: pg_trgm's 0.6 misses one
     * wrong letter in a short name), which the conninfo's own "options"
     * may override; then, last so that they win, UTC and ISO dates:
     * cursor keys round-trip through their text form, and a time without
     * an offset, bound in binary or as text, is UTC (crm_value_time())
     */

    last = ngx_snprintf(options, sizeof(options) - 1,
                        "-c statement_timeout=%M"
                        " -c idle_in_transaction_session_timeout=%M"
                        " -c pg_trgm.word_similarity_threshold=%ui.%02ui%s",
                        pcf->statement_timeout,
                        pcf->statement_timeout * 2,
                        pcf->similarity / 100, pcf->similarity % 100,
                        pcf->generic ? CRM_PG_GENERIC_OPTION : "");
    *last = '\0';

    i = 0;
    has_app = 0;
    user = "";

    for (o = opts; o->keyword; o++) {
        if (o->val == NULL) {
            continue;
        }

        if (ngx_strcmp(o->keyword, "options") == 0) {
            user = crm_pg_strdup(cf->pool, o->val, ngx_strlen(o->val));
            if (user == NULL) {
                PQconninfoFree(opts);
                return NGX_CONF_ERROR;
            }

            continue;
        }

        if (ngx_strcmp(o->keyword, "application_name") == 0) {
            has_app = 1;
        }

        pcf->keywords[i] = crm_pg_strdup(cf->pool, o->keyword,
                                         ngx_strlen(o->keyword));
        pcf->values[i] = crm_pg_strdup(cf->pool, o->val, ngx_strlen(o->val));
        if (pcf->keywords[i] == NULL || pcf->values[i] == NULL) {
            PQconninfoFree(opts);
            return NGX_CONF_ERROR;
        }

        i++;
    }

    PQconninfoFree(opts);

    /* the module's options, the conninfo's, then those none may change */

    len = ngx_strlen(user);

    p = ngx_pnalloc(cf->pool, (last - options) + 1 + len + 1
                              + sizeof(CRM_PG_SESSION_OPTIONS));
    if (p == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_sprintf(p, "%s %s%s" CRM_PG_SESSION_OPTIONS "%Z", options, user,
                len ? " " : "");

    pcf->keywords[i] = "options";
    pcf->values[i++] = (char *) p;

    if (!has_app) {
        pcf->keywords[i] = "application_name";
        pcf->values[i++] = "ngx_http_crm_module";
    }

    pcf->keywords[i] = NULL;
    pcf->values[i] = NULL;

    return NGX_CONF_OK;
}


char *
crm_pg_strdup(ngx_pool_t *pool, const char *s, size_t len)
{
    char  *p;

    p = ngx_pnalloc(pool, len + 1);
    if (p == NULL) {
        return NULL;
    }

    ngx_memcpy(p, s, len);
    p[len] = '\0';

    return p;
}
