
/*
 * ngx_http_crm_module: the fingerprint of a request for Idempotency-Key.
 *
 * SHA-256 of the method, the URI, the principal and the body, each but
 * the last preceded by its length ("4:POST"), so that no two different
 * requests hash the same text.  crm_idempotency.c stores it with the
 * key's claim and compares it with the retries'.  Pure: nginx core and
 * OpenSSL (a body past client_body_buffer_size is read back from its
 * file with ngx_read_file()).
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <openssl/evp.h>
#include "model/crm.h"


static int crm_idem_fingerprint_part(EVP_MD_CTX *sha, ngx_str_t *s);
static int crm_idem_fingerprint_file(EVP_MD_CTX *sha, ngx_buf_t *b);


/*
 * "body": buffers in memory (pos to last) or in a file (file_pos to
 * file_last: nginx's temporary file of a request body), or NULL; "fp":
 * at least CRM_IDEM_FP_LEN bytes, where the SHA-256 goes in lowercase
 * hex.  NGX_OK, or NGX_ERROR when OpenSSL fails or the file cannot be
 * read.
 */

ngx_int_t
crm_idem_fingerprint(ngx_str_t *method, ngx_str_t *uri, ngx_chain_t *body,
    ngx_str_t *principal, u_char *fp)
{
    int             ok;
    u_char          md[EVP_MAX_MD_SIZE];
    EVP_MD_CTX     *sha;
    ngx_buf_t      *b;
    ngx_chain_t    *cl;
    unsigned int    len;
    const EVP_MD   *sha256;

    sha = EVP_MD_CTX_new();
    sha256 = crm_sha256_md();

    ok = (sha != NULL
          && sha256 != NULL
          && EVP_DigestInit_ex(sha, sha256, NULL) == 1
          && crm_idem_fingerprint_part(sha, method)
          && crm_idem_fingerprint_part(sha, uri)
          && crm_idem_fingerprint_part(sha, principal));

    for (cl = body; ok && cl != NULL; cl = cl->next) {
        b = cl->buf;

        if (b->in_file) {
            ok = crm_idem_fingerprint_file(sha, b);
            continue;
        }

        if (b->last > b->pos) {
            ok = (EVP_DigestUpdate(sha, b->pos, b->last - b->pos) == 1);
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


/* a part of the body in nginx's temporary file, read in chunks */

static int
crm_idem_fingerprint_file(EVP_MD_CTX *sha, ngx_buf_t *b)
{
    off_t    pos;
    ssize_t  n;
    u_char   buf[4096];

    for (pos = b->file_pos; pos < b->file_last; pos += n) {
        n = ngx_read_file(b->file, buf,
                          (size_t) ngx_min((off_t) sizeof(buf),
                                           b->file_last - pos),
                          pos);

        if (n == NGX_ERROR || n == 0
            || EVP_DigestUpdate(sha, buf, n) != 1)
        {
            return 0;
        }
    }

    return 1;
}
