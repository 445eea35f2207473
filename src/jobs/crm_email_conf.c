
/*
 * ngx_http_crm_module: the email delivery job's directives: crm_smtp
 * (the relay) and crm_email_retry (the back-off).
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include "jobs/crm_email_job.h"


static ngx_int_t crm_email_param_num(ngx_str_t *v, size_t skip,
    ngx_uint_t *out);


crm_email_conf_t *
crm_email_conf_create(ngx_pool_t *pool)
{
    crm_email_conf_t  *conf;

    conf = ngx_pcalloc(pool, sizeof(crm_email_conf_t));
    if (conf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     conf->url = { 0, NULL };
     *     conf->addr = NULL;
     *     conf->from = { 0, NULL };
     *     conf->rate = 0;
     */

    conf->starttls = NGX_CONF_UNSET_UINT;
    conf->connections = NGX_CONF_UNSET_UINT;
    conf->batch = NGX_CONF_UNSET_UINT;
    conf->lease = NGX_CONF_UNSET_MSEC;
    conf->retry_base = NGX_CONF_UNSET_MSEC;
    conf->retry_max_age = NGX_CONF_UNSET_MSEC;

    return conf;
}


char *
crm_email_conf_init(ngx_conf_t *cf, crm_email_conf_t *conf)
{
    ngx_conf_init_uint_value(conf->starttls, 0);
    ngx_conf_init_uint_value(conf->connections, 4);
    ngx_conf_init_uint_value(conf->batch, 20);
    ngx_conf_init_msec_value(conf->lease, 5 * 60 * 1000);
    ngx_conf_init_msec_value(conf->retry_base, 5 * 60 * 1000);
    ngx_conf_init_msec_value(conf->retry_max_age, 24 * 60 * 60 * 1000);

    return NGX_CONF_OK;
}


char *
crm_email_smtp(ngx_conf_t *cf, crm_email_conf_t *conf)
{
    u_char     *at;
    ngx_str_t  *value, s;
    ngx_url_t   u;
    ngx_int_t   ms;
    ngx_uint_t  i;

    if (conf->url.len > 0) {
        return "is duplicate";
    }

    value = cf->args->elts;
    conf->url = value[1];

    if (ngx_strncmp(value[1].data, "smtp://", 7) == 0) {
        s.data = value[1].data + 7;

    } else if (ngx_strncmp(value[1].data, "smtps://", 8) == 0) {
        s.data = value[1].data + 8;

    } else {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "crm_smtp: \"%V\" is not an smtp:// or smtps:// "
                           "URL", &value[1]);
        return NGX_CONF_ERROR;
    }

    s.len = value[1].data + value[1].len - s.data;

    if (s.len > 0 && s.data[s.len - 1] == '/') {
        s.len--;
    }

    /*
     * resolved now, at configuration time: the worker never resolves;
     * the transfer pins the address (CURLOPT_RESOLVE)
     */

    ngx_memzero(&u, sizeof(ngx_url_t));

    u.url = s;
    u.default_port = (value[1].data[4] == 's') ? 465 : 25;

    if (ngx_parse_url(cf->pool, &u) != NGX_OK) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "crm_smtp: %s in \"%V\"",
                           u.err ? u.err : "invalid URL", &value[1]);
        return NGX_CONF_ERROR;
    }

    if (u.naddrs == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "crm_smtp: \"%V\" has no address", &u.host);
        return NGX_CONF_ERROR;
    }

    conf->addr = &u.addrs[0];

    for (i = 2; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "from=", 5) == 0) {
            conf->from.data = value[i].data + 5;
            conf->from.len = value[i].len - 5;

            at = ngx_strlchr(conf->from.data,
                             conf->from.data + conf->from.len, '@');
            if (at == NULL || at == conf->from.data
                || at + 1 == conf->from.data + conf->from.len)
            {
                goto invalid;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "from_name=", 10) == 0) {
            conf->from_name.data = value[i].data + 10;
            conf->from_name.len = value[i].len - 10;
            continue;
        }

        if (ngx_strcmp(value[i].data, "starttls=on") == 0) {
            conf->starttls = 1;
            continue;
        }

        if (ngx_strcmp(value[i].data, "starttls=off") == 0) {
            conf->starttls = 0;
            continue;
        }

        if (ngx_strncmp(value[i].data, "user=", 5) == 0) {
            conf->user.data = value[i].data + 5;
            conf->user.len = value[i].len - 5;
            continue;
        }

        if (ngx_strncmp(value[i].data, "password=", 9) == 0) {
            conf->password.data = value[i].data + 9;
            conf->password.len = value[i].len - 9;
            continue;
        }

        if (ngx_strncmp(value[i].data, "connections=", 12) == 0) {
            if (crm_email_param_num(&value[i], 12, &conf->connections)
                != NGX_OK || conf->connections == 0)
            {
                goto invalid;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "rate=", 5) == 0) {
            if (crm_email_param_num(&value[i], 5, &conf->rate) != NGX_OK) {
                goto invalid;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "batch=", 6) == 0) {
            if (crm_email_param_num(&value[i], 6, &conf->batch) != NGX_OK
                || conf->batch == 0 || conf->batch > 1000)
            {
                goto invalid;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "lease=", 6) == 0) {
            s.data = value[i].data + 6;
            s.len = value[i].len - 6;

            ms = ngx_parse_time(&s, 0);
            if (ms == NGX_ERROR || ms < 1000) {
                goto invalid;
            }

            conf->lease = (ngx_msec_t) ms;
            continue;
        }

        goto invalid;
    }

    /* AUTH on a plain smtp:// session sends the password as it is */

    if (conf->user.len > 0 && value[1].data[4] != 's'
        && conf->starttls != 1)
    {
        ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                           "crm_smtp: user= without starttls=on: the "
                           "password goes to \"%V\" unencrypted", &u.host);
    }

    /* Message-IDs: <email id>@<the sender's domain> */

    if (conf->from.len > 0) {
        at = ngx_strlchr(conf->from.data, conf->from.data + conf->from.len,
                         '@');
        conf->domain.data = at + 1;
        conf->domain.len = conf->from.data + conf->from.len - at - 1;

    } else {
        conf->domain = u.host;
    }

    return NGX_CONF_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "crm_smtp: invalid parameter \"%V\"", &value[i]);
    return NGX_CONF_ERROR;
}


char *
crm_email_retry(ngx_conf_t *cf, crm_email_conf_t *conf)
{
    ngx_int_t   base, age;
    ngx_str_t  *value;

    if (conf->retry_base != NGX_CONF_UNSET_MSEC) {
        return "is duplicate";
    }

    value = cf->args->elts;

    base = ngx_parse_time(&value[1], 0);
    age = ngx_parse_time(&value[2], 0);

    if (base == NGX_ERROR || base == 0 || age == NGX_ERROR || age < base) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "crm_email_retry: a base time and a longer "
                           "maximum age are expected");
        return NGX_CONF_ERROR;
    }

    conf->retry_base = (ngx_msec_t) base;
    conf->retry_max_age = (ngx_msec_t) age;

    return NGX_CONF_OK;
}


static ngx_int_t
crm_email_param_num(ngx_str_t *v, size_t skip, ngx_uint_t *out)
{
    ngx_int_t  n;

    n = ngx_atoi(v->data + skip, v->len - skip);
    if (n == NGX_ERROR) {
        return NGX_ERROR;
    }

    *out = (ngx_uint_t) n;

    return NGX_OK;
}
