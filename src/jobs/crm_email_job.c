
/*
 * ngx_http_crm_module: the email delivery job.
 *
 * A run claims up to "batch" due emails (db_email_claim(): a lease,
 * committed before any SMTP traffic), renders each message once (MIME,
 * tracked links, List-Unsubscribe), sends it to its recipient through
 * the relay, one recipient per transfer and at most "connections"
 * transfers at once, and records each outcome (db_email_result()):
 * 2xx sent, 5xx bounced, 4xx or a network error deferred with back-off,
 * then failed.  Copies (cc, bcc) go with every attempt until each has
 * its answer (sql/071).
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>
#include "model/crm.h"
#include "model/crm_mime.h"
#include "model/crm_track.h"
#include "io/crm_pg.h"
#include "io/crm_curl.h"
#include "jobs/crm_jobs.h"
#include "jobs/crm_email_job.h"


#define CRM_EMAIL_COLUMNS     16


typedef struct crm_email_run_s   crm_email_run_t;


typedef struct {
    crm_email_run_t          *er;
    ngx_str_t                 ws;
    ngx_str_t                 id;
    ngx_str_t                 from_name;
    ngx_str_t                 from;
    ngx_str_t                 to;
    ngx_str_t                 to_name;
    ngx_str_t                 cc;           /* addresses, space separated */
    ngx_str_t                 bcc;
    ngx_str_t                 to_copy;      /* the copies still to send */
    ngx_array_t              *copy_list;    /* crm_email_copy_t: those of
                                               this attempt */
    ngx_str_t                 reply_to;
    ngx_str_t                 subject;
    ngx_str_t                 text;
    ngx_str_t                 html;
    ngx_str_t                 message_id;
    ngx_int_t                 attempts;
    ngx_str_t                 message;      /* rendered */
    crm_xfer_t               *xfer;         /* to the recipient */
    ngx_uint_t                copies;       /* copy transfers running */
    ngx_str_t                 outcome;
    ngx_int_t                 code;
    ngx_str_t                 detail;
    unsigned                  sent_main:1;  /* the recipient's is done */
    unsigned                  recording:1;
} crm_email_item_t;


typedef struct {
    crm_email_item_t         *it;
    ngx_str_t                 rcpt;
    unsigned                  answered:1;   /* accepted or refused for
                                               good: not sent again */
    unsigned                  refused:1;    /* for good: suppressed */
} crm_email_copy_t;


/* which copies of an attempt crm_email_copies() lists */

#define CRM_EMAIL_COPIES_LEFT       0    /* refused for now, not started */
#define CRM_EMAIL_COPIES_ANSWERED   1
#define CRM_EMAIL_COPIES_REFUSED    2    /* for good */



struct crm_email_run_s {
    crm_job_run_t            *run;
    crm_email_conf_t         *conf;
    crm_email_item_t         *items;
    ngx_uint_t                nitems;
    ngx_uint_t                next;         /* the next to start */
    ngx_uint_t                active;       /* started, not recorded */
    ngx_uint_t                full;         /* the batch was full */
    unsigned                  releasing:1;
};


static ngx_int_t crm_email_start(crm_job_run_t *run);
static void crm_email_stop(crm_job_run_t *run);
static void crm_email_claimed(crm_pg_req_t *pr, PGresult *res);
static void crm_email_next(crm_email_run_t *er);
static ngx_int_t crm_email_send(crm_email_item_t *it);
static ngx_int_t crm_email_render(crm_email_item_t *it);
static ngx_int_t crm_email_addrs(ngx_pool_t *pool, ngx_str_t *list,
    ngx_array_t **out);
static ngx_int_t crm_email_copy(crm_email_copy_t *cp);
static void crm_email_sent(crm_xfer_t *x);
static void crm_email_copy_sent(crm_xfer_t *x);
static void crm_email_outcome(crm_email_item_t *it, crm_xfer_t *x);
static void crm_email_record(crm_email_item_t *it);
static void crm_email_recorded(crm_pg_req_t *pr, PGresult *res);
static void crm_email_detail(ngx_pool_t *pool, crm_xfer_t *x,
    ngx_str_t *detail);
static void crm_email_relay_state(crm_email_item_t *it, crm_xfer_t *x);
static void crm_email_given_up(crm_email_item_t *it, char *status);
static ngx_int_t crm_email_copies(crm_email_item_t *it, ngx_uint_t which,
    ngx_str_t *out);
static void crm_email_count(crm_metrics_t *m, char *status);
static void crm_email_release(crm_email_run_t *er);
static void crm_email_released(crm_pg_req_t *pr, PGresult *res);
static void crm_email_finish(crm_email_run_t *er);


void
crm_email_job_init(crm_email_conf_t *conf, ngx_msec_t interval)
{
    ngx_str_set(&conf->kind.name, "email");
    conf->kind.interval = interval;
    conf->kind.concurrency = 1;
    conf->kind.deadline = conf->lease / 2;
    conf->kind.start = crm_email_start;
    conf->kind.stop = crm_email_stop;
    conf->kind.data = conf;
}


static ngx_int_t
crm_email_start(crm_job_run_t *run)
{
    crm_stmt_t        *st;
    crm_email_run_t   *er;
    crm_email_conf_t  *conf;

    conf = run->data;

    er = ngx_pcalloc(run->pool, sizeof(crm_email_run_t));
    if (er == NULL) {
        return NGX_ERROR;
    }

    er->run = run;
    er->conf = conf;
    run->state = er;

    st = crm_sql_fixed(run->pool,
             "SELECT workspace_id, id, from_name, from_email, to_email, "
             "to_name, array_to_string(cc, ' '), array_to_string(bcc, ' '), "
             "reply_to, subject, body_text, body_html, message_id, "
             "attempts, sent_at, array_to_string(copies, ' ') "
             "FROM db_email_claim($1::integer, $2::interval, $3, $4, $5, "
             "$6::integer)", 6);
    if (st == NULL) {
        return NGX_ERROR;
    }

    if (crm_sql_set_num(st, 0, "%ui", conf->batch) != NGX_OK
        || crm_sql_set_num(st, 1, "%M milliseconds", conf->lease)
           != NGX_OK
        || crm_sql_set(st, 2, &conf->owner) != NGX_OK
        || crm_sql_set(st, 3, &conf->domain) != NGX_OK
        || crm_sql_set(st, 4, &conf->url) != NGX_OK
        || crm_sql_set_num(st, 5, "%ui", conf->rate) != NGX_OK)
    {
        return NGX_ERROR;
    }

    return crm_job_exec(run, conf->pool, st, crm_email_claimed, er);
}


/* the worker exits, or the run took too long: start nothing new */

static void
crm_email_stop(crm_job_run_t *run)
{
    crm_email_run_t  *er;

    er = run->state;

    if (er->items == NULL) {
        /* the claim is in flight: what it claims is released */
        return;
    }

    crm_email_release(er);
}


static void
crm_email_claimed(crm_pg_req_t *pr, PGresult *res)
{
    int                n, i;
    crm_email_run_t   *er;
    crm_email_conf_t  *conf;
    crm_email_item_t  *it;

    er = pr->data;
    conf = er->conf;


    if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK
        || PQnfields(res) != CRM_EMAIL_COLUMNS)
    {
        crm_job_failed(&conf->failed, er->run->log, "email delivery",
                       "claiming emails", res);
        crm_job_done(er->run, 0);
        return;
    }

    crm_job_recovered(&conf->failed, er->run->log,
                      "email delivery claims work");

    n = PQntuples(res);

    if (n == 0) {
        crm_job_done(er->run, 0);
        return;
    }

    er->full = ((ngx_uint_t) n >= conf->batch);

    er->items = ngx_pcalloc(er->run->pool, n * sizeof(crm_email_item_t));
    if (er->items == NULL) {
        crm_job_done(er->run, 0);
        return;
    }

    er->nitems = n;

    for (i = 0; i < n; i++) {
        it = &er->items[i];
        it->er = er;

        if (crm_job_value(er->run->pool, res, i, 0, &it->ws) != NGX_OK
            || crm_job_value(er->run->pool, res, i, 1, &it->id)
               != NGX_OK
            || crm_job_value(er->run->pool, res, i, 2, &it->from_name)
               != NGX_OK
            || crm_job_value(er->run->pool, res, i, 3, &it->from)
               != NGX_OK
            || crm_job_value(er->run->pool, res, i, 4, &it->to)
               != NGX_OK
            || crm_job_value(er->run->pool, res, i, 5, &it->to_name)
               != NGX_OK
            || crm_job_value(er->run->pool, res, i, 6, &it->cc)
               != NGX_OK
            || crm_job_value(er->run->pool, res, i, 7, &it->bcc)
               != NGX_OK
            || crm_job_value(er->run->pool, res, i, 8, &it->reply_to)
               != NGX_OK
            || crm_job_value(er->run->pool, res, i, 9, &it->subject)
               != NGX_OK
            || crm_job_value(er->run->pool, res, i, 10, &it->text)
               != NGX_OK
            || crm_job_value(er->run->pool, res, i, 11, &it->html)
               != NGX_OK
            || crm_job_value(er->run->pool, res, i, 12,
                                  &it->message_id)
               != NGX_OK
            || crm_job_value(er->run->pool, res, i, 15, &it->to_copy)
               != NGX_OK)
        {
            /* out of memory: the leases bring them back */
            crm_job_done(er->run, 0);
            return;
        }

        it->attempts = ngx_atoi((u_char *) PQgetvalue(res, i, 13),
                                PQgetlength(res, i, 13));

        if (it->from.len == 0) {
            it->from = conf->from;

            if (it->from_name.len == 0) {
                it->from_name = conf->from_name;
            }
        }
    }

    ngx_log_debug1(NGX_LOG_DEBUG_CORE, er->run->log, 0,
                   "crm: email delivery claimed %ui", er->nitems);

    if (er->run->stopping) {
        crm_email_release(er);
        return;
    }

    crm_email_next(er);
}


/* starts items while connections are free */

static void
crm_email_next(crm_email_run_t *er)
{
    crm_email_item_t  *it;

    while (!er->run->stopping && er->next < er->nitems
           && er->active < er->conf->connections)
    {
        it = &er->items[er->next++];
        er->active++;

        if (crm_email_send(it) != NGX_OK) {
            /* recorded as a temporary failure: it is retried */
            crm_email_record(it);
        }
    }

    crm_email_finish(er);
}


static ngx_int_t
crm_email_send(crm_email_item_t *it)
{
    ngx_uint_t         i;
    ngx_str_t         *rcpt;
    ngx_array_t       *copies;
    crm_email_copy_t  *cp;
    crm_email_run_t   *er;
    crm_email_conf_t  *conf;

    er = it->er;
    conf = er->conf;

    ngx_str_set(&it->outcome, "temporary");

    if (it->from.len == 0) {
        ngx_str_set(&it->detail, "no sender: crm_smtp has no from= and the "
                                 "email names none");
        return NGX_ERROR;
    }

    if (crm_email_render(it) != NGX_OK) {
        return NGX_ERROR;
    }

    it->xfer = crm_curl_smtp(conf->curl, er->run->pool, er->run->log,
                             &conf->url, conf->addr, conf->starttls,
                             &conf->user, &conf->password, &it->from,
                             &it->to, &it->message);

    if (it->xfer == NULL
        || crm_curl_start(it->xfer, crm_email_sent, it) != NGX_OK)
    {
        ngx_str_set(&it->detail, "the transfer could not be started");
        return NGX_ERROR;
    }

    /*
     * the copies without their answer yet (sql/071), each its own
     * transfer; those answered are recorded with the outcome
     */

    if (it->to_copy.len == 0
        || crm_email_addrs(er->run->pool, &it->to_copy, &copies) != NGX_OK)
    {
        return NGX_OK;
    }

    it->copy_list = ngx_array_create(er->run->pool, copies->nelts,
                                     sizeof(crm_email_copy_t));
    if (it->copy_list == NULL) {
        return NGX_OK;
    }

    rcpt = copies->elts;

    for (i = 0; i < copies->nelts; i++) {
        cp = ngx_array_push(it->copy_list);
        if (cp == NULL) {
            return NGX_OK;
        }

        cp->it = it;
        cp->rcpt = rcpt[i];
        cp->answered = 0;

        /* one that does not start goes with the next attempt */
        (void) crm_email_copy(cp);
    }

    return NGX_OK;
}


static ngx_int_t
crm_email_render(crm_email_item_t *it)
{
    ngx_str_t          html, *hv;
    ngx_uint_t         i, n;
    crm_mime_t         m;
    const char        *err;
    crm_mime_addr_t   *a;
    crm_email_run_t   *er;
    crm_email_conf_t  *conf;
    crm_mime_header_t *h;

    er = it->er;
    conf = er->conf;

    ngx_memzero(&m, sizeof(crm_mime_t));

    m.from_name = it->from_name;
    m.from_addr = it->from;
    m.reply_to = it->reply_to;
    m.subject = it->subject;
    m.text = it->text;
    m.message_id = it->message_id;
    m.date = ngx_time();

    m.to = ngx_array_create(er->run->pool, 1, sizeof(crm_mime_addr_t));
    m.headers = ngx_array_create(er->run->pool, 1,
                                 sizeof(crm_mime_header_t));
    if (m.to == NULL || m.headers == NULL) {
        goto failed;
    }

    a = ngx_array_push(m.to);
    h = ngx_array_push(m.headers);
    if (a == NULL || h == NULL) {
        goto failed;
    }

    a->name = it->to_name;
    a->addr = it->to;

    ngx_str_set(&h->name, "X-CRM-Email-Id");
    h->value = it->id;

    if (it->cc.len > 0) {
        if (crm_email_addrs(er->run->pool, &it->cc, &m.cc) != NGX_OK) {
            goto failed;
        }

        /* crm_email_addrs() gives ngx_str_t; the renderer wants pairs */

        hv = m.cc->elts;
        n = m.cc->nelts;

        m.cc = ngx_array_create(er->run->pool, ngx_max(n, 1),
                                sizeof(crm_mime_addr_t));
        if (m.cc == NULL) {
            goto failed;
        }

        for (i = 0; i < n; i++) {
            a = ngx_array_push(m.cc);
            if (a == NULL) {
                goto failed;
            }

            ngx_str_null(&a->name);
            a->addr = hv[i];
        }
    }

    html = it->html;

    if (conf->track_secret.len > 0 && conf->track_base.len > 0) {
        if (html.len > 0
            && crm_track_html(er->run->pool, &conf->track_secret,
                              &conf->track_base, &it->ws, &it->id,
                              &it->html, &html)
               != NGX_OK)
        {
            goto failed;
        }

        if (crm_track_url(er->run->pool, &conf->track_secret,
                          &conf->track_base, CRM_TRACK_UNSUBSCRIBE, &it->ws,
                          &it->id, NULL, &m.unsubscribe_url)
            != NGX_OK)
        {
            goto failed;
        }
    }

    m.html = html;

    if (crm_mime_render(er->run->pool, &m, &it->message, &err) != NGX_OK) {
        ngx_log_error(NGX_LOG_ERR, er->run->log, 0,
                      "crm: email %V: the message cannot be rendered: %s",
                      &it->id, err);
        it->detail.data = (u_char *) err;
        it->detail.len = ngx_strlen(err);
        return NGX_ERROR;
    }

    return NGX_OK;

failed:

    ngx_str_set(&it->detail, "out of memory rendering the message");
    return NGX_ERROR;
}


/*
 * "a b c" -> an array of ngx_str_t; the addresses were checked by the
 * database (no spaces in them)
 */

static ngx_int_t
crm_email_addrs(ngx_pool_t *pool, ngx_str_t *list, ngx_array_t **out)
{
    u_char       *p, *last, *s;
    ngx_str_t    *v;
    ngx_array_t  *a;

    a = ngx_array_create(pool, 4, sizeof(ngx_str_t));
    if (a == NULL) {
        return NGX_ERROR;
    }

    p = list->data;
    last = p + list->len;

    while (p < last) {
        while (p < last && *p == ' ') {
            p++;
        }

        s = p;

        while (p < last && *p != ' ') {
            p++;
        }

        if (p > s) {
            v = ngx_array_push(a);
            if (v == NULL) {
                return NGX_ERROR;
            }

            v->data = s;
            v->len = p - s;
        }
    }

    *out = a;

    return NGX_OK;
}


static ngx_int_t
crm_email_copy(crm_email_copy_t *cp)
{
    crm_xfer_t        *x;
    crm_email_run_t   *er;
    crm_email_item_t  *it;
    crm_email_conf_t  *conf;

    it = cp->it;
    er = it->er;
    conf = er->conf;

    x = crm_curl_smtp(conf->curl, er->run->pool, er->run->log, &conf->url,
                      conf->addr, conf->starttls, &conf->user,
                      &conf->password, &it->from, &cp->rcpt, &it->message);

    if (x == NULL || crm_curl_start(x, crm_email_copy_sent, cp) != NGX_OK) {
        return NGX_ERROR;
    }

    it->copies++;

    return NGX_OK;
}


static void
crm_email_sent(crm_xfer_t *x)
{
    crm_email_item_t  *it;

    it = x->data;
    it->xfer = NULL;
    it->sent_main = 1;

    crm_email_outcome(it, x);

    if (it->copies == 0) {
        crm_email_record(it);
    }
}


static void
crm_email_copy_sent(crm_xfer_t *x)
{
    ngx_str_t          detail;
    crm_email_copy_t  *cp;
    crm_email_item_t  *it;

    cp = x->data;
    it = cp->it;
    it->copies--;

    cp->answered = (x->outcome != CRM_CURL_TEMPORARY);
    cp->refused = (x->outcome == CRM_CURL_PERMANENT);

    if (x->outcome != CRM_CURL_OK) {
        crm_email_detail(it->er->run->pool, x, &detail);

        ngx_log_error(NGX_LOG_INFO, it->er->run->log, 0,
                      "crm: email %V: the copy to %V was %s: %V",
                      &it->id, &cp->rcpt,
                      x->outcome == CRM_CURL_PERMANENT
                      ? "refused" : "not accepted for now", &detail);
    }

    if (it->copies == 0 && it->sent_main) {
        crm_email_record(it);
    }
}


/*
 * The client's verdict (io/crm_curl.c): a 2xx sent; a 5xx to the
 * recipient or the message a hard bounce; a 5xx before the recipient (a
 * relay or configuration problem), a 4xx, a network error temporary
 */

static void
crm_email_outcome(crm_email_item_t *it, crm_xfer_t *x)
{
    it->code = x->status;

    switch (x->outcome) {

    case CRM_CURL_OK:
        ngx_str_set(&it->outcome, "sent");
        break;

    case CRM_CURL_PERMANENT:
        ngx_str_set(&it->outcome, "permanent");
        break;

    default:
        ngx_str_set(&it->outcome, "temporary");
        break;
    }

    crm_email_detail(it->er->run->pool, x, &it->detail);

    if (x->refused) {
        ngx_log_error(NGX_LOG_ERR, it->er->run->log, 0,
                      "crm: email %V: the relay's address is refused by the "
                      "outbound address policy (crm_outbound_allow)",
                      &it->id);
    }

    crm_email_relay_state(it, x);
}


/*
 * What a transfer's outcome says: the relay's reply when it refused (or
 * accepted); after a failure of our side (a certificate, no STARTTLS, a
 * network error) the last reply is one that went well, and libcurl's
 * message says what failed.  Empty when neither says anything.
 */

static void
crm_email_detail(ngx_pool_t *pool, crm_xfer_t *x, ngx_str_t *detail)
{
    size_t   len;
    u_char  *p;

    ngx_str_null(detail);

    if (x->reply.len > 0 && (x->result == CURLE_OK || x->status >= 400)) {
        *detail = x->reply;
        return;
    }

    if (x->result == CURLE_OK) {
        return;
    }

    len = ngx_strlen(x->error);

    if (len == 0) {
        p = (u_char *) curl_easy_strerror(x->result);
        len = ngx_strlen(p);

    } else {
        p = (u_char *) x->error;
    }

    detail->data = ngx_pnalloc(pool, len);
    if (detail->data != NULL) {
        ngx_memcpy(detail->data, p, len);
        detail->len = len;
    }
}


/*
 * A temporary failure before the recipient (the network, the greeting,
 * EHLO, STARTTLS and the certificate, AUTH, MAIL FROM) is the relay's or
 * our configuration's, not the recipient's: logged when it starts and
 * when the relay works again, not per email.  Any other outcome got as
 * far as the recipient: the relay works.
 */

static void
crm_email_relay_state(crm_email_item_t *it, crm_xfer_t *x)
{
    crm_email_conf_t  *conf;

    conf = it->er->conf;

    if (x->outcome == CRM_CURL_TEMPORARY && x->stage < CRM_CURL_SMTP_RCPT) {
        if (!conf->relay_failing) {
            conf->relay_failing = 1;

            ngx_log_error(NGX_LOG_ERR, it->er->run->log, 0,
                          "crm: email delivery through %V fails before "
                          "any recipient: %V (email %V); emails wait and "
                          "are retried, logged again when it works",
                          &conf->url, &it->detail, &it->id);
        }

        return;
    }

    if (conf->relay_failing) {
        conf->relay_failing = 0;

        ngx_log_error(NGX_LOG_NOTICE, it->er->run->log, 0,
                      "crm: email delivery through %V works again",
                      &conf->url);
    }
}


static void
crm_email_record(crm_email_item_t *it)
{
    ngx_str_t          copied, refused;
    crm_stmt_t        *st;
    crm_email_run_t   *er;
    crm_email_conf_t  *conf;

    er = it->er;
    conf = er->conf;
    it->recording = 1;

    st = crm_sql_fixed(er->run->pool,
             "SELECT db_email_outcome($1::uuid, $2::uuid, $3, $4, "
             "$5::integer, $6, $7::interval, $8::interval, $9, $10)", 10);
    if (st == NULL) {
        goto failed;
    }

    if (crm_sql_set(st, 0, &it->ws) != NGX_OK
        || crm_sql_set(st, 1, &it->id) != NGX_OK
        || crm_sql_set(st, 2, &conf->owner) != NGX_OK
        || crm_sql_set(st, 3, &it->outcome) != NGX_OK)
    {
        goto failed;
    }

    if ((it->code > 0
         ? crm_sql_set_num(st, 4, "%i", it->code)
         : crm_sql_set(st, 4, NULL))
        != NGX_OK
        || crm_sql_set(st, 5, it->detail.len ? &it->detail : NULL)
           != NGX_OK
        || crm_sql_set_num(st, 6, "%M milliseconds", conf->retry_base)
           != NGX_OK
        || crm_sql_set_num(st, 7, "%M milliseconds", conf->retry_max_age)
           != NGX_OK
        || crm_email_copies(it, CRM_EMAIL_COPIES_ANSWERED, &copied)
           != NGX_OK
        || crm_sql_set(st, 8, copied.len ? &copied : NULL) != NGX_OK
        || crm_email_copies(it, CRM_EMAIL_COPIES_REFUSED, &refused)
           != NGX_OK
        || crm_sql_set(st, 9, refused.len ? &refused : NULL) != NGX_OK)
    {
        goto failed;
    }

    if (crm_job_exec(er->run, conf->pool, st, crm_email_recorded, it)
        != NGX_OK)
    {
        goto failed;
    }

    return;

failed:

    er->active--;
    crm_email_finish(er);
}


static void
crm_email_recorded(crm_pg_req_t *pr, PGresult *res)
{
    crm_email_item_t  *it;
    crm_email_run_t   *er;

    it = pr->data;
    er = it->er;

    if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK) {
        /* the lease brings it back: sent twice, same Message-ID */
        crm_job_failed(&er->conf->failed, er->run->log, "email delivery",
                       "recording an outcome", res);

    } else if (PQgetisnull(res, 0, 0)) {
        ngx_log_error(NGX_LOG_WARN, er->run->log, 0,
                      "crm: email %V: the lease ran out before the outcome "
                      "(%V) was recorded; another worker has it", &it->id,
                      &it->outcome);

    } else {
        crm_email_count(er->conf->metrics, PQgetvalue(res, 0, 0));

        ngx_log_debug2(NGX_LOG_DEBUG_CORE, er->run->log, 0,
                       "crm: email %V: %V", &it->id, &it->outcome);

        if (ngx_strcmp(PQgetvalue(res, 0, 0), "deferred") != 0) {
            crm_email_given_up(it, PQgetvalue(res, 0, 0));
        }
    }

    er->active--;

    crm_email_next(er);
}


/*
 * The email is final ("status"): no attempt follows, and its copies
 * without an answer (refused for now, or not started) are given up
 */

static void
crm_email_given_up(crm_email_item_t *it, char *status)
{
    ngx_str_t  left;

    if (crm_email_copies(it, CRM_EMAIL_COPIES_LEFT, &left) == NGX_OK
        && left.len > 0)
    {
        ngx_log_error(NGX_LOG_INFO, it->er->run->log, 0,
                      "crm: email %V is %s: its copies to %V are given up",
                      &it->id, status, &left);
    }
}


/*
 * The copies of this attempt that have their answer, those refused for
 * good among them, or those without an answer (refused for now or not
 * started): "which", CRM_EMAIL_COPIES_*; space-separated
 */

static ngx_int_t
crm_email_copies(crm_email_item_t *it, ngx_uint_t which, ngx_str_t *out)
{
    u_char            *p;
    ngx_uint_t         i, pick;
    crm_email_copy_t  *cp;

    ngx_str_null(out);

    if (it->copy_list == NULL) {
        return NGX_OK;
    }

    /* the addresses of to_copy, with its separators, hold them all */

    out->data = ngx_pnalloc(it->er->run->pool, it->to_copy.len);
    if (out->data == NULL) {
        return NGX_ERROR;
    }

    p = out->data;
    cp = it->copy_list->elts;

    for (i = 0; i < it->copy_list->nelts; i++) {
        switch (which) {

        case CRM_EMAIL_COPIES_ANSWERED:
            pick = cp[i].answered;
            break;

        case CRM_EMAIL_COPIES_REFUSED:
            pick = cp[i].refused;
            break;

        default: /* CRM_EMAIL_COPIES_LEFT */
            pick = !cp[i].answered;
        }

        if (!pick) {
            continue;
        }

        if (p > out->data) {
            *p++ = ' ';
        }

        p = ngx_cpymem(p, cp[i].rcpt.data, cp[i].rcpt.len);
    }

    out->len = p - out->data;

    return NGX_OK;
}


/* the status db_email_outcome() left the email in */

static void
crm_email_count(crm_metrics_t *m, char *status)
{
    static const char  *outcomes[CRM_METRICS_EMAIL_OUTCOMES] = {
        "sent", "bounced", "deferred", "failed"
    };

    ngx_uint_t  i;

    for (i = 0; i < CRM_METRICS_EMAIL_OUTCOMES; i++) {
        if (ngx_strcmp(status, outcomes[i]) == 0) {
            crm_metrics_inc(m, email[i]);
            return;
        }
    }
}


/* claimed and not started: back to the queue, as they were */

static void
crm_email_release(crm_email_run_t *er)
{
    u_char        *ws, *ids, *p;
    ngx_str_t      v;
    ngx_uint_t     i;
    crm_stmt_t    *st;

    if (er->releasing || er->next >= er->nitems) {
        crm_email_finish(er);
        return;
    }

    st = crm_sql_fixed(er->run->pool,
                        "SELECT db_email_release($1, $2::uuid[], "
                        "$3::uuid[])", 3);

    ws = ngx_pnalloc(er->run->pool, 2 + er->nitems * 37);
    ids = ngx_pnalloc(er->run->pool, 2 + er->nitems * 37);

    if (st == NULL || ws == NULL || ids == NULL
        || crm_sql_set(st, 0, &er->conf->owner) != NGX_OK)
    {
        er->next = er->nitems;
        crm_email_finish(er);
        return;
    }

    v.data = ws;
    p = ids;
    *ws++ = '{';
    *p++ = '{';

    for (i = er->next; i < er->nitems; i++) {
        if (i > er->next) {
            *ws++ = ',';
            *p++ = ',';
        }

        ws = ngx_cpymem(ws, er->items[i].ws.data, er->items[i].ws.len);
        p = ngx_cpymem(p, er->items[i].id.data, er->items[i].id.len);
    }

    *ws++ = '}';
    *p++ = '}';

    v.len = ws - v.data;
    (void) crm_sql_set(st, 1, &v);

    v.data = ids;
    v.len = p - ids;
    (void) crm_sql_set(st, 2, &v);

    ngx_log_error(NGX_LOG_NOTICE, er->run->log, 0,
                  "crm: email delivery stops: %ui claimed emails go back "
                  "to the queue", er->nitems - er->next);

    er->next = er->nitems;
    er->releasing = 1;

    if (crm_job_exec(er->run, er->conf->pool, st, crm_email_released, er)
        != NGX_OK)
    {
        er->releasing = 0;
        crm_email_finish(er);
    }
}


static void
crm_email_released(crm_pg_req_t *pr, PGresult *res)
{
    crm_email_run_t  *er;

    er = pr->data;
    er->releasing = 0;

    if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK) {
        crm_job_failed(&er->conf->failed, er->run->log, "email delivery",
                       "releasing emails", res);
    }

    crm_email_finish(er);
}


/* the run ends when nothing is in flight and nothing is left to start */

static void
crm_email_finish(crm_email_run_t *er)
{
    if (er->active > 0 || er->releasing) {
        return;
    }

    if (er->next < er->nitems) {
        if (!er->run->stopping) {
            return;
        }

        crm_email_release(er);
        return;
    }

    crm_job_done(er->run, er->full && !er->run->stopping);
}
