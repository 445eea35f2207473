
/*
 * ngx_http_crm_module: the campaign runner.
 *
 * A run takes four steps, each one statement:
 *   1. due:       scheduled campaigns whose time has come run, exactly
 *                 once across hosts (db_campaigns_due());
 *   2. recipients: one running campaign without recipients gets them
 *                 (db_campaign_materialize(); an audience filter is
 *                 parsed by the list's parser, with the workspace's
 *                 custom fields of contacts when it names one, and
 *                 planned by the planner, crm_sql_audience());
 *   3. claim and queue: up to "batch" recipients are leased
 *                 (db_campaign_claim()), their messages rendered here with
 *                 their merge fields (crm_merge_render(), html values
 *                 escaped), and handed to the email outbox in one
 *                 transaction (db_campaign_queue()): delivery, retries,
 *                 bounces, tracking and suppression are the outbox's;
 *   4. complete:  campaigns whose recipients are all final complete
 *                 (db_campaigns_complete()).
 * A run that queued a full batch runs again at once.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>
#include <jansson.h>
#include "model/crm.h"
#include "model/crm_merge.h"
#include "io/crm_pg.h"
#include "jobs/crm_jobs.h"
#include "jobs/crm_campaign_job.h"


#define CRM_CAMPAIGN_CLAIM_COLUMNS  9


typedef struct {
    crm_job_run_t            *run;
    crm_campaign_conf_t      *conf;
    ngx_uint_t                claimed;
    /* the campaign found without recipients (step 2) */
    ngx_str_t                 ws;
    ngx_str_t                 id;
    ngx_str_t                 filter;       /* its audience filter, or
                                               data NULL */
    ngx_str_t                 problem;      /* why it has no recipients,
                                               kept with it */
    ngx_uint_t                level;        /* and how loud in the log */
} crm_campaign_run_t;


static ngx_int_t crm_campaign_start(crm_job_run_t *run);
static void crm_campaign_stop(crm_job_run_t *run);
static ngx_int_t crm_campaign_exec(crm_campaign_run_t *cr, crm_stmt_t *st,
    crm_pg_handler_pt h);
static ngx_int_t crm_campaign_ok(crm_campaign_run_t *cr, crm_pg_req_t *pr,
    PGresult *res, const char *what);
static void crm_campaign_due(crm_pg_req_t *pr, PGresult *res);
static void crm_campaign_find(crm_campaign_run_t *cr);
static void crm_campaign_found(crm_pg_req_t *pr, PGresult *res);
static void crm_campaign_defs(crm_pg_req_t *pr, PGresult *res);
static void crm_campaign_recipients(crm_campaign_run_t *cr,
    crm_field_t *extra, ngx_uint_t nextra);
static void crm_campaign_materialized(crm_pg_req_t *pr, PGresult *res);
static void crm_campaign_claim(crm_campaign_run_t *cr);
static void crm_campaign_claimed(crm_pg_req_t *pr, PGresult *res);
static ngx_int_t crm_campaign_render(crm_campaign_run_t *cr, PGresult *res,
    int row, json_t *rows);
static json_t *crm_campaign_json(crm_campaign_run_t *cr, PGresult *res,
    int row, int col);
static void crm_campaign_queued(crm_pg_req_t *pr, PGresult *res);
static void crm_campaign_complete(crm_campaign_run_t *cr);
static void crm_campaign_completed(crm_pg_req_t *pr, PGresult *res);
static void crm_campaign_end(crm_campaign_run_t *cr, ngx_uint_t more);


void
crm_campaign_job_init(crm_campaign_conf_t *conf, ngx_msec_t interval)
{
    ngx_str_set(&conf->kind.name, "campaign");
    conf->kind.interval = interval;
    conf->kind.concurrency = 1;
    conf->kind.deadline = conf->lease / 2;
    conf->kind.start = crm_campaign_start;
    conf->kind.stop = crm_campaign_stop;
    conf->kind.data = conf;
}


static ngx_int_t
crm_campaign_start(crm_job_run_t *run)
{
    crm_stmt_t          *st;
    crm_campaign_run_t  *cr;

    cr = ngx_pcalloc(run->pool, sizeof(crm_campaign_run_t));
    if (cr == NULL) {
        return NGX_ERROR;
    }

    cr->run = run;
    cr->conf = run->data;
    run->state = cr;

    st = crm_sql_fixed(run->pool, "SELECT count(*) FROM db_campaigns_due()",
                       0);
    if (st == NULL) {
        return NGX_ERROR;
    }

    return crm_campaign_exec(cr, st, crm_campaign_due);
}


/* the steps are short: a stopping run ends at the next one */

static void
crm_campaign_stop(crm_job_run_t *run)
{
}


static ngx_int_t
crm_campaign_exec(crm_campaign_run_t *cr, crm_stmt_t *st, crm_pg_handler_pt h)
{
    return crm_job_exec(cr->run, cr->conf->pool, st, h, cr);
}


/* a step's result; the first failure of a series and its end are logged */

static ngx_int_t
crm_campaign_ok(crm_campaign_run_t *cr, crm_pg_req_t *pr, PGresult *res,
    const char *what)
{
    if (res != NULL && PQresultStatus(res) == PGRES_TUPLES_OK) {
        crm_job_recovered(&cr->conf->failed, cr->run->log, "campaigns run");
        return NGX_OK;
    }

    crm_job_failed(&cr->conf->failed, cr->run->log, "campaigns", what, res);

    return NGX_ERROR;
}


static void
crm_campaign_due(crm_pg_req_t *pr, PGresult *res)
{
    crm_campaign_run_t  *cr = pr->data;

    if (crm_campaign_ok(cr, pr, res, "starting scheduled campaigns")
        != NGX_OK)
    {
        crm_campaign_end(cr, 0);
        return;
    }

    crm_campaign_find(cr);
}


static void
crm_campaign_find(crm_campaign_run_t *cr)
{
    crm_stmt_t  *st;

    if (cr->run->stopping) {
        crm_campaign_end(cr, 0);
        return;
    }

    st = crm_sql_fixed(cr->run->pool,
                       "SELECT workspace_id, id, audience ->> 'filter' "
                       "FROM campaigns "
                       "WHERE status IN ('running', 'paused') "
                       "AND materialized_at IS NULL AND deleted_at IS NULL "
                       "ORDER BY started_at LIMIT 1", 0);

    if (st == NULL || crm_campaign_exec(cr, st, crm_campaign_found) != NGX_OK)
    {
        crm_campaign_end(cr, 0);
    }
}


/*
 * The recipients of a campaign that has none yet; an audience filter on
 * customFields.<name> is parsed with the workspace's definitions of
 * contacts, read first
 */

static void
crm_campaign_found(crm_pg_req_t *pr, PGresult *res)
{
    ngx_str_t            name;
    crm_stmt_t          *st;
    crm_campaign_run_t  *cr = pr->data;

    if (crm_campaign_ok(cr, pr, res, "looking for new campaigns") != NGX_OK
        || cr->run->stopping)
    {
        crm_campaign_end(cr, 0);
        return;
    }

    if (PQntuples(res) == 0) {
        crm_campaign_claim(cr);
        return;
    }

    if (crm_job_value(cr->run->pool, res, 0, 0, &cr->ws) != NGX_OK
        || crm_job_value(cr->run->pool, res, 0, 1, &cr->id) != NGX_OK
        || crm_job_value(cr->run->pool, res, 0, 2, &cr->filter) != NGX_OK)
    {
        crm_campaign_end(cr, 0);
        return;
    }

    if (cr->filter.data == NULL || !crm_query_names_custom(&cr->filter)) {
        crm_campaign_recipients(cr, NULL, 0);
        return;
    }

    ngx_str_set(&name, "contacts");

    st = ngx_pcalloc(cr->run->pool, sizeof(crm_stmt_t));

    if (st == NULL
        || crm_sql_custom_fields(cr->run->pool, &cr->ws, &name, st) != NGX_OK
        || crm_campaign_exec(cr, st, crm_campaign_defs) != NGX_OK)
    {
        crm_campaign_end(cr, 0);
    }
}


static void
crm_campaign_defs(crm_pg_req_t *pr, PGresult *res)
{
    json_t              *defs;
    ngx_int_t            rc;
    ngx_uint_t           nextra;
    crm_field_t         *extra;
    json_error_t         err;
    crm_campaign_run_t  *cr = pr->data;

    if (crm_campaign_ok(cr, pr, res, "reading custom fields") != NGX_OK
        || cr->run->stopping)
    {
        crm_campaign_end(cr, 0);
        return;
    }

    defs = NULL;

    if (PQntuples(res) > 0) {
        defs = json_loadb(PQgetvalue(res, 0, 1), PQgetlength(res, 0, 1), 0,
                          &err);

        if (!json_is_array(defs)) {
            /* as none: the campaign is not left to block the others */
            ngx_log_error(NGX_LOG_ERR, cr->run->log, 0,
                          "crm: campaign %V: unreadable custom-field "
                          "definitions", &cr->id);
            json_decref(defs);
            defs = NULL;
        }
    }

    /* the fields are the pool's: the definitions are not needed after */

    rc = crm_schema_custom_fields(cr->run->pool, defs, &extra, &nextra);

    json_decref(defs);

    if (rc != NGX_OK) {
        crm_campaign_end(cr, 0);
        return;
    }

    crm_campaign_recipients(cr, extra, nextra);
}


static void
crm_campaign_recipients(crm_campaign_run_t *cr, crm_field_t *extra,
    ngx_uint_t nextra)
{
    ngx_int_t     rc;
    ngx_str_t     filter;
    crm_stmt_t   *st;
    crm_query_t   q, *qp;
    crm_error_t   err;

    qp = NULL;
    filter = cr->filter;
    ngx_str_null(&cr->problem);

    if (filter.data != NULL) {
        rc = crm_campaign_audience_query(cr->run->pool, extra, nextra,
                                         &filter, &cr->conf->cursor_secret,
                                         &q, &err);

        /*
         * said once the recipients are made, by the call that made them
         * (crm_campaign_materialized())
         */

        if (rc == NGX_ERROR
            || crm_campaign_audience_problem(cr->run->pool, rc, &err,
                                             &cr->problem)
               != NGX_OK)
        {
            crm_campaign_end(cr, 0);
            return;
        }

        /*
         * NGX_DONE: stored before such filters were refused, a warning;
         * NGX_DECLINED: a field may have stopped being filterable since
         * (a custom field deleted), an error
         */

        cr->level = (rc == NGX_DONE) ? NGX_LOG_WARN : NGX_LOG_ERR;

        qp = &q;
    }

    st = ngx_pcalloc(cr->run->pool, sizeof(crm_stmt_t));

    if (st == NULL
        || crm_sql_audience(cr->run->pool, &cr->ws, &cr->id, qp,
                            &cr->problem, st)
           != NGX_OK
        || crm_campaign_exec(cr, st, crm_campaign_materialized) != NGX_OK)
    {
        crm_campaign_end(cr, 0);
    }
}


static void
crm_campaign_materialized(crm_pg_req_t *pr, PGresult *res)
{
    crm_campaign_run_t  *cr = pr->data;

    ngx_str_t  why;

    if (crm_campaign_ok(cr, pr, res, "making a campaign's recipients")
        != NGX_OK)
    {
        crm_campaign_end(cr, 0);
        return;
    }

    ngx_log_debug1(NGX_LOG_DEBUG_CORE, cr->run->log, 0,
                   "crm: campaign recipients: %s", PQgetvalue(res, 0, 0));

    /* NULL: another call made them, and said what there was to say */

    if (cr->problem.len > 0 && PQntuples(res) == 1
        && !PQgetisnull(res, 0, 0))
    {
        /* the line names the filter itself, then the rest of the reason */

        why = cr->problem;

        if (why.len > sizeof("the audience filter")
            && ngx_strncmp(why.data, "the audience filter ",
                           sizeof("the audience filter")) == 0)
        {
            why.data += sizeof("the audience filter");
            why.len -= sizeof("the audience filter");
        }

        ngx_log_error(cr->level, cr->run->log, 0,
                      "crm: campaign %V: its audience filter \"%V\" %V: it "
                      "has no recipients", &cr->id, &cr->filter, &why);
    }

    ngx_str_null(&cr->problem);

    crm_campaign_claim(cr);
}


static void
crm_campaign_claim(crm_campaign_run_t *cr)
{
    crm_stmt_t           *st;
    crm_campaign_conf_t  *conf;

    conf = cr->conf;

    if (cr->run->stopping) {
        crm_campaign_end(cr, 0);
        return;
    }

    st = crm_sql_fixed(cr->run->pool,
                       "SELECT workspace_id, campaign_id, contact_id, email, "
                       "contact::text, company::text, subject, body_text, "
                       "body_html FROM db_campaign_claim($1::integer, "
                       "$2::interval, $3)", 3);

    if (st == NULL
        || crm_sql_set_num(st, 0, "%ui", conf->batch) != NGX_OK
        || crm_sql_set_num(st, 1, "%M milliseconds", conf->lease)
           != NGX_OK
        || crm_sql_set(st, 2, &conf->owner) != NGX_OK
        || crm_campaign_exec(cr, st, crm_campaign_claimed) != NGX_OK)
    {
        crm_campaign_end(cr, 0);
    }
}


static void
crm_campaign_claimed(crm_pg_req_t *pr, PGresult *res)
{
    int                  i, n;
    char                *dump;
    json_t              *rows;
    ngx_str_t            v;
    crm_stmt_t          *st;
    crm_campaign_run_t  *cr = pr->data;

    if (crm_campaign_ok(cr, pr, res, "claiming recipients") != NGX_OK) {
        crm_campaign_end(cr, 0);
        return;
    }

    n = PQntuples(res);

    if (n == 0 || PQnfields(res) != CRM_CAMPAIGN_CLAIM_COLUMNS) {
        crm_campaign_complete(cr);
        return;
    }

    cr->claimed = n;

    rows = json_array();
    if (rows == NULL) {
        crm_campaign_end(cr, 0);
        return;
    }

    for (i = 0; i < n; i++) {
        if (crm_campaign_render(cr, res, i, rows) != NGX_OK) {
            json_decref(rows);
            crm_campaign_end(cr, 0);
            return;
        }
    }

    dump = json_dumps(rows, JSON_COMPACT);
    json_decref(rows);

    if (dump == NULL) {
        crm_campaign_end(cr, 0);
        return;
    }

    v.len = ngx_strlen(dump);
    v.data = ngx_pnalloc(cr->run->pool, v.len);

    if (v.data != NULL) {
        ngx_memcpy(v.data, dump, v.len);
    }

    free(dump);

    st = crm_sql_fixed(cr->run->pool,
                       "SELECT db_campaign_queue($1, $2::jsonb)", 2);

    if (v.data == NULL || st == NULL
        || crm_sql_set(st, 0, &cr->conf->owner) != NGX_OK
        || crm_sql_set(st, 1, &v) != NGX_OK
        || crm_campaign_exec(cr, st, crm_campaign_queued) != NGX_OK)
    {
        /* the leases bring the recipients back */
        crm_campaign_end(cr, 0);
    }
}


/*
 * One recipient's message: the campaign's subject, text and html with
 * the contact's and its company's values (html values escaped)
 */

static ngx_int_t
crm_campaign_render(crm_campaign_run_t *cr, PGresult *res, int row,
    json_t *rows)
{
    int              i;
    json_t          *contact, *company, *o;
    ngx_int_t        rc;
    ngx_str_t        tpl, out;
    ngx_pool_t      *pool;
    crm_field_t     *subject;
    crm_resource_t  *emails;
    static ngx_str_t    name = ngx_string("emails");
    static const char  *keys[] = { "ws", "campaign", "contact" };
    static const char  *parts[] = { "subject", "text", "html" };

    pool = cr->run->pool;

    emails = crm_schema_find(&name);
    subject = (emails != NULL)
              ? crm_schema_field(emails, (u_char *) "subject",
                                 sizeof("subject") - 1)
              : NULL;

    contact = crm_campaign_json(cr, res, row, 4);
    company = PQgetisnull(res, row, 5) ? NULL
                                       : crm_campaign_json(cr, res, row, 5);

    o = json_object();

    if (contact == NULL || o == NULL || json_array_append_new(rows, o) != 0)
    {
        json_decref(contact);
        json_decref(company);
        return NGX_ERROR;
    }

    rc = NGX_OK;

    for (i = 0; i < 3; i++) {
        if (json_object_set_new(o, keys[i],
                                json_stringn(PQgetvalue(res, row, i),
                                             PQgetlength(res, row, i)))
            != 0)
        {
            rc = NGX_ERROR;
            goto done;
        }
    }

    for (i = 0; i < 3; i++) {
        if (PQgetisnull(res, row, 6 + i)) {
            continue;
        }

        tpl.data = (u_char *) PQgetvalue(res, row, 6 + i);
        tpl.len = PQgetlength(res, row, 6 + i);

        switch (crm_merge_render(pool, &tpl, contact, company, i == 2,
                                 &out))
        {
        case NGX_OK:
            break;

        case NGX_DECLINED:
            /* checked when written: sent as written rather than lost */
            ngx_log_error(NGX_LOG_ALERT, cr->run->log, 0,
                          "crm: campaign %s: its %s is not a valid "
                          "template", PQgetvalue(res, row, 1), parts[i]);
            out = tpl;
            break;

        default:
            rc = NGX_ERROR;
            goto done;
        }

        if (i == 0 && subject != NULL && subject->max_len != 0) {
            /*
             * a subject is at most what POST /emails/send takes (the
             * emails' descriptor), however long the values merged in
             */
            out.len = crm_value_utf8_cut(out.data, out.len,
                                         subject->max_len);
        }

        if (json_object_set_new(o, parts[i],
                                json_stringn((char *) out.data, out.len))
            != 0)
        {
            rc = NGX_ERROR;
            goto done;
        }
    }

done:

    json_decref(contact);
    json_decref(company);

    return rc;
}


/*
 * A contact's or company's JSON, its numbers read as the strings of
 * their digits (crm_merge_numbers_as_text()): a merge field writes 0.1
 * and 12345678901234567000 as the API does, not as doubles, and a number
 * beyond 64 bits (a custom field of 1e20) never stalls its campaign
 */

static json_t *
crm_campaign_json(crm_campaign_run_t *cr, PGresult *res, int row, int col)
{
    ngx_str_t  text;

    if (crm_merge_numbers_as_text(cr->run->pool,
                                  (u_char *) PQgetvalue(res, row, col),
                                  PQgetlength(res, row, col), &text)
        != NGX_OK)
    {
        return NULL;
    }

    return json_loadb((char *) text.data, text.len, 0, NULL);
}


static void
crm_campaign_queued(crm_pg_req_t *pr, PGresult *res)
{
    crm_campaign_run_t  *cr = pr->data;

    if (crm_campaign_ok(cr, pr, res, "queueing campaign emails") != NGX_OK) {
        crm_campaign_end(cr, 0);
        return;
    }

    crm_campaign_complete(cr);
}


static void
crm_campaign_complete(crm_campaign_run_t *cr)
{
    crm_stmt_t  *st;

    st = crm_sql_fixed(cr->run->pool,
                       "SELECT count(*) FROM db_campaigns_complete()", 0);

    if (st == NULL
        || crm_campaign_exec(cr, st, crm_campaign_completed) != NGX_OK)
    {
        crm_campaign_end(cr, 0);
    }
}


static void
crm_campaign_completed(crm_pg_req_t *pr, PGresult *res)
{
    crm_campaign_run_t  *cr = pr->data;

    (void) crm_campaign_ok(cr, pr, res, "completing campaigns");

    crm_campaign_end(cr, cr->claimed >= cr->conf->batch);
}


static void
crm_campaign_end(crm_campaign_run_t *cr, ngx_uint_t more)
{
    crm_job_done(cr->run, more && !cr->run->stopping);
}
