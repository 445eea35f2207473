
/*
 * ngx_http_crm_module: the fingerprint of a request for Idempotency-Key.
 *
 * SHA-256 of the method, the URI, the principal and the body, each but
 * the last preceded by its length ("4:POST"), so that no two different
 * requests hash the same text.  crm_idempotency.c stores it with the
 * key's claim and compares it with the retries'.  Pure: nginx core and
 * OpenSSL.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <openssl/evp.h>
#include "crm.h"


static int crm_idem_fingerprint_part(EVP_MD_CTX *sha, ngx_str_t *s);


/*
 * "body": buffers in memory (pos to last), or NULL; "fp": at least
 * CRM_IDEM_FP_LEN bytes, where the SHA-256 goes in lowercase hex.
 * NGX_OK, or NGX_ERROR when OpenSSL fails.
 */

ngx_int_t
crm_idem_fingerprint(ngx_str_t *method, ngx_str_t *uri, ngx_chain_t *body,
    ngx_str_t *principal, u_char *fp)
{
    int            ok;
    u_char         md[EVP_MAX_MD_SIZE];
    EVP_MD_CTX    *sha;
    ngx_chain_t   *cl;
    unsigned int   len;

    sha = EVP_MD_CTX_new();

    ok = (sha != NULL
          && EVP_DigestInit_ex(sha, EVP_sha256(), NULL) == 1
          && crm_idem_fingerprint_part(sha, method)
          && crm_idem_fingerprint_part(sha, uri)
          && crm_idem_fingerprint_part(sha, principal));

    for (cl = body; ok && cl != NULL; cl = cl->next) {
        if (cl->buf->last > cl->buf->pos) {
            ok = (EVP_DigestUpdate(sha, cl->buf->pos,
                                   cl->buf->last - cl->buf->pos)
                  == 1);
        }
    }

    ok = ok && EVP_DigestFinal_ex(sha, md, &len) == 1
         && 2 * len == CRM_IDEM_FP_LEN;

    EVP_MD_CTX_free(sha);

    if (!ok) {
        return NGX_ERROR;
    }

    (void) ngx_hex_dump(fp, md, len);

    return NGX_OK;
}


/* "<length>:<text>" */

static int
crm_idem_fingerprint_part(EVP_MD_CTX *sha, ngx_str_t *s)
{
    u_char  *p, buf[NGX_SIZE_T_LEN + 1];

    p = ngx_sprintf(buf, "%uz:", s->len);

    return EVP_DigestUpdate(sha, buf, p - buf) == 1
           && (s->len == 0 || EVP_DigestUpdate(sha, s->data, s->len) == 1);
}
