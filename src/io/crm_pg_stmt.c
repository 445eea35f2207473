
/*
 * ngx_http_crm_module: the prepared statements of a pooled connection.
 * A statement is prepared once per connection under the name "crm<n>"
 * (n: its index in the connection's cache) and executed by name
 * afterwards, so that PostgreSQL parses and plans each statement shape
 * once; one the server refused to prepare is executed unnamed.
 */


#include "io/crm_pg_conn.h"


static crm_pg_stmt_t *crm_pg_stmt_find(crm_pg_conn_t *pc, crm_stmt_t *st,
    uint32_t hash);


/*
 * The connection's cache entry for "st", or NULL when it cannot have one
 * (cache full, or no memory).  *add is set when the entry is new and the
 * statement has to be prepared.
 */

crm_pg_stmt_t *
crm_pg_stmt(crm_pg_conn_t *pc, crm_stmt_t *st, ngx_uint_t *add)
{
    uint32_t        hash;
    crm_pg_stmt_t  *ps;

    *add = 0;
    hash = ngx_murmur_hash2(st->sql.data, st->sql.len);

    ps = crm_pg_stmt_find(pc, st, hash);

    if (ps != NULL) {
        if (ps->failed) {
            return NULL;
        }

        /* its Parse was cut short (crm_pg_prepared()): again */
        *add = !ps->prepared;

        return ps;
    }

    if (pc->nstmts == CRM_PG_STMT_CACHE) {
        return NULL;
    }

    if (pc->stmt_pool == NULL) {
        pc->stmt_pool = ngx_create_pool(4096, pc->pool->log);
        if (pc->stmt_pool == NULL) {
            return NULL;
        }

        pc->stmts = ngx_palloc(pc->stmt_pool,
                               CRM_PG_STMT_CACHE * sizeof(crm_pg_stmt_t));
        if (pc->stmts == NULL) {
            return NULL;
        }
    }

    ps = &pc->stmts[pc->nstmts];

    ps->sql = (u_char *) crm_pg_strdup(pc->stmt_pool, (char *) st->sql.data,
                                       st->sql.len);
    if (ps->sql == NULL) {
        return NULL;
    }

    ps->hash = hash;
    ps->len = st->sql.len;
    ps->prepared = 0;
    ps->failed = 0;

    pc->nstmts++;
    *add = 1;

    return ps;
}


/*
 * Whether "st" can run on the connection without a Parse first: prepared
 * there, or run unnamed (refused, or the cache is full).  A statement
 * that needs its Parse waits for a connection with nothing in flight
 * (crm_pg_pipe()).  "hash" is the statement's ngx_murmur_hash2().
 */

ngx_uint_t
crm_pg_stmt_ready(crm_pg_conn_t *pc, crm_stmt_t *st, uint32_t hash)
{
    crm_pg_stmt_t  *ps;

    ps = crm_pg_stmt_find(pc, st, hash);

    if (ps != NULL) {
        return ps->prepared || ps->failed;
    }

    return pc->nstmts == CRM_PG_STMT_CACHE;
}


/* the connection's cache entry for "st" ("hash" its hash), or NULL */

static crm_pg_stmt_t *
crm_pg_stmt_find(crm_pg_conn_t *pc, crm_stmt_t *st, uint32_t hash)
{
    ngx_uint_t      i;
    crm_pg_stmt_t  *ps;

    for (i = 0; i < pc->nstmts; i++) {
        ps = &pc->stmts[i];

        if (ps->hash == hash && ps->len == st->sql.len
            && ngx_memcmp(ps->sql, st->sql.data, st->sql.len) == 0)
        {
            return ps;
        }
    }

    return NULL;
}


/* runs the statement by name when it is prepared, unnamed otherwise */

ngx_int_t
crm_pg_execute(crm_pg_conn_t *pc, crm_pg_stmt_t *ps, crm_stmt_t *st)
{
    char  *sql, name[NGX_INT_T_LEN + 4];

    if (ps != NULL && ps->prepared) {
        ngx_sprintf((u_char *) name, "crm%ui%Z",
                    (ngx_uint_t) (ps - pc->stmts));

        return PQsendQueryPrepared(pc->pg, name, pc->nvalues,
                                   (const char * const *) pc->values,
                                   pc->lengths, pc->formats, st->binary);
    }

    sql = crm_pg_strdup(st->params.pool, (char *) st->sql.data, st->sql.len);
    if (sql == NULL) {
        return 0;
    }

    return PQsendQueryParams(pc->pg, sql, pc->nvalues, NULL,
                             (const char * const *) pc->values, pc->lengths,
                             pc->formats, st->binary);
}
