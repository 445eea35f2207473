
/*
 * The descriptors' promises that the database must keep (TAP): a field
 * flagged never null (CRM_F_NOTNULL) is paged by the planner without its
 * nulls, so it must be a plain column of its resource's table, which
 * the schema then declares NOT NULL.  This binary checks the first part;
 *
 *   test_schema.t.bin --never-null
 *
 * prints "<table> <column>" for each such field instead, one a line, and
 * t/sql/run.sh checks the second part against the database.
 */


#include <stdio.h>
#include <ngx_config.h>
#include <ngx_core.h>
#include "model/crm.h"
#include "tap.h"


static void test_never_null(void);
static void print_never_null(void);
static ngx_uint_t plain_column(ngx_str_t *column);


int
main(int argc, char **argv)
{
    if (argc > 1 && ngx_strcmp(argv[1], "--never-null") == 0) {
        print_never_null();
        return 0;
    }

    test_never_null();

    return done_testing();
}


static void
test_never_null(void)
{
    ngx_uint_t       i, n, k, found, plain;
    crm_field_t     *f;
    crm_resource_t  *res;

    res = crm_schema_all(&n);

    ok(res != NULL && n > 10, "schema: every resource");

    found = 0;
    plain = 1;

    for (i = 0; res != NULL && i < n; i++) {
        for (k = 0; k < res[i].nfields; k++) {
            f = &res[i].fields[k];

            if (!(f->flags & CRM_F_NOTNULL)) {
                continue;
            }

            found++;

            if ((f->flags & CRM_F_EXPR) || !plain_column(&f->column)) {
                diag("%.*s.%.*s: never null, but not a plain column",
                     (int) res[i].name.len, res[i].name.data,
                     (int) f->name.len, f->name.data);
                plain = 0;
            }
        }
    }

    ok(found > 20, "never null: the fields so flagged");
    ok(plain, "never null: each is a column of its table");

    /* the flag is what the planner pages on: a lead's conversion is not */

    res = crm_schema_find(&(ngx_str_t) ngx_string("leads"));
    f = NULL;

    for (k = 0; res != NULL && k < res->nfields; k++) {
        if (ngx_strncmp(res->fields[k].name.data, "convertedAt",
                        res->fields[k].name.len) == 0)
        {
            f = &res->fields[k];
        }
    }

    ok(f != NULL && !(f->flags & CRM_F_NOTNULL),
       "never null: not a lead's convertedAt, null until it converts");
}


static void
print_never_null(void)
{
    ngx_uint_t       i, n, k;
    crm_field_t     *f;
    crm_resource_t  *res;

    res = crm_schema_all(&n);

    for (i = 0; res != NULL && i < n; i++) {
        for (k = 0; k < res[i].nfields; k++) {
            f = &res[i].fields[k];

            if ((f->flags & CRM_F_NOTNULL) && !(f->flags & CRM_F_EXPR)
                && plain_column(&f->column))
            {
                printf("%.*s %.*s\n",
                       (int) res[i].table.len, res[i].table.data,
                       (int) f->column.len, f->column.data);
            }
        }
    }
}


/* a name: lowercase letters, digits and '_' */

static ngx_uint_t
plain_column(ngx_str_t *column)
{
    size_t  i;

    if (column->len == 0) {
        return 0;
    }

    for (i = 0; i < column->len; i++) {
        if (!((column->data[i] >= 'a' && column->data[i] <= 'z')
              || (column->data[i] >= '0' && column->data[i] <= '9')
              || column->data[i] == '_'))
        {
            return 0;
        }
    }

    return 1;
}
