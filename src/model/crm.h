
/*
 * ngx_http_crm_module: types shared by the module's files.
 *
 * The pure parts (query parser, cursor codec, SQL planner, validation)
 * use only ngx_core and jansson so that they can be unit-tested and
 * fuzzed without an nginx around them.
 */


#ifndef _CRM_H_INCLUDED_
#define _CRM_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>


#define CRM_MAX_SORT          3         /* user sort keys; id is added */
#define CRM_MAX_KEYS          (CRM_MAX_SORT + 1)
#define CRM_LIMIT_DEFAULT     20
#define CRM_LIMIT_MAX         200
#define CRM_MAX_FILTERS       32
#define CRM_MAX_IN_VALUES     100
#define CRM_MAX_FIELDS        64
#define CRM_MAX_LINKED        100       /* ids in a many-to-many link */
#define CRM_CURSOR_SHAPE_LEN  8         /* bytes of crm_cursor_shape() */


/* field types */

typedef enum {
    CRM_FT_UUID = 0,
    CRM_FT_TEXT,
    CRM_FT_EMAIL,
    CRM_FT_ENUM,                        /* text restricted to enum_values */
    CRM_FT_INT,                         /* bigint */
    CRM_FT_NUMERIC,
    CRM_FT_BOOL,
    CRM_FT_TIMESTAMP,                   /* timestamptz, ISO 8601 */
    CRM_FT_DATE,                        /* YYYY-MM-DD */
    CRM_FT_TEXT_ARRAY,                  /* text[] <-> JSON array of strings */
    CRM_FT_OBJECT,                      /* jsonb <-> JSON object */
    CRM_FT_PASSWORD,                    /* stored as db_password_hash() */
    CRM_FT_LIST,                        /* jsonb <-> JSON array */
    CRM_FT_UUID_ARRAY                   /* uuid[] <-> JSON array of UUID
                                           strings: a many-to-many link */
} crm_field_type_e;


/* field flags */

#define CRM_F_REQUIRED        0x0001    /* must be present on create */
#define CRM_F_READONLY        0x0002    /* set by the server only */
#define CRM_F_FILTER          0x0004    /* may be used in filters */
#define CRM_F_SORT            0x0008    /* may be used in sort */
#define CRM_F_SEARCH          0x0010    /* searched by q= */
#define CRM_F_HIDDEN          0x0020    /* never rendered */
#define CRM_F_NOTNULL         0x0040    /* never null (has a default) */
#define CRM_F_WRITEONLY       0x0080    /* accepted in bodies, never
                                           rendered, filtered or sorted */
#define CRM_F_CREATEONLY      0x0100    /* set on create, then read-only */
#define CRM_F_EXPR            0x0200    /* column is an expression (a
                                           custom field), not a name */
#define CRM_F_ADDRESS         0x0400    /* text that holds an e-mail
                                           address: filters compare it
                                           as CRM_FT_EMAIL's do */
#define CRM_F_MIN0            0x0800    /* a number, not negative */
#define CRM_F_MIN1            0x1000    /* an integer, 1 or more */
#define CRM_F_PERCENT         0x2000    /* an integer from 0 to 100 */
#define CRM_F_CURRENCY        0x4000    /* ISO 4217: three capitals */


/* filter operators */

typedef enum {
    CRM_OP_EQ = 0,
    CRM_OP_NE,
    CRM_OP_GT,
    CRM_OP_GTE,
    CRM_OP_LT,
    CRM_OP_LTE,
    CRM_OP_IN,
    CRM_OP_NIN,
    CRM_OP_LIKE,
    CRM_OP_IS_NULL,
    CRM_OP_IS_NOT_NULL
} crm_op_e;


typedef struct crm_resource_s  crm_resource_t;

/*
 * rules on a body beyond its fields' checks (an action's body: a lead's
 * conversion); appends crm_field_error_t to "errors"; NGX_ERROR only
 * without memory.  "body" is a json_t *.
 */
typedef ngx_int_t (*crm_check_pt)(ngx_pool_t *pool, crm_resource_t *res,
    void *body, ngx_array_t *errors);
/*
 * a resource's own rules on a body, with its fields' checks (campaigns:
 * merge fields, the audience), as crm_check_pt; "custom" is the
 * workspace's custom-field definitions its crm_needs_pt asked for, a
 * json_t object {"<resource>": [definitions]}, or NULL
 */
typedef ngx_int_t (*crm_own_pt)(ngx_pool_t *pool, crm_resource_t *res,
    void *body, void *custom, ngx_array_t *errors);
/* whether a body's rules want the workspace's custom-field definitions */
typedef ngx_uint_t (*crm_needs_pt)(void *body);


/* what a resource is (crm_schema.c's rows), named */

#define CRM_RES_ADMIN         0x01      /* writes: owners and admins */
#define CRM_RES_IMMUTABLE     0x02      /* no PUT or PATCH */
#define CRM_RES_CREDENTIAL    0x04      /* made with a secret shown once */
#define CRM_RES_REVOKES       0x08      /* DELETE ends credentials */
#define CRM_RES_SINGLETON     0x10      /* /<name>/current only */
#define CRM_RES_VERSIONED     0x20      /* a version: ETag, If-Match */
#define CRM_RES_QUEUED        0x40      /* made by POST /<name>/send (202),
                                           then changed by jobs only */
#define CRM_RES_EVENTS        0x80      /* writes publish events (the
                                           planner writes them) */
#define CRM_RES_READONLY      0x100     /* GET only (the event feed) */
#define CRM_RES_NESTED        0x200     /* only under its parent */
#define CRM_RES_HOOKS         0x400     /* webhook subscriptions */
#define CRM_RES_PREVIEW       0x800     /* a nested list with a preview
                                           before it exists (recipients) */
#define CRM_RES_FEED          0x1000    /* its records carry every kind's
                                           records (the event feed): read
                                           needs read on all of them */


typedef struct {
    const char               *column;       /* of the function's result */
    const char               *resource;     /* the row's resource */
    const char               *verb;         /* "created": the event is
                                               <singular>.<verb> */
} crm_action_event_t;


/*
 * POST /<resource>/:id/<name>: one SQL function (workspace, id, body)
 * returning JSON, or, with events, a table (result jsonb, <column> <row
 * type>, ...) whose rows the planner renders as events
 */

typedef struct {
    ngx_str_t                 name;         /* path segment: "convert" */
    ngx_str_t                 function;     /* "db_lead_convert" */
    crm_action_event_t       *events;
    ngx_uint_t                nevents;
    ngx_uint_t                record;       /* answer with the record as
                                               GET renders it (the
                                               function's JSON is not
                                               shown) */
    ngx_uint_t                audience;     /* a campaign's audience must
                                               select someone first
                                               (crm_action.c) */
} crm_action_t;


typedef struct {
    ngx_str_t                 name;         /* JSON name, camelCase */
    ngx_str_t                 column;       /* SQL column name */
    ngx_uint_t                type;         /* crm_field_type_e */
    ngx_uint_t                flags;        /* CRM_F_* */
    size_t                    max_len;      /* text: characters;
                                               arrays: elements; integers:
                                               the largest; 0: none */
    const char              **enum_values;  /* NULL-terminated, ENUM */
    const char               *ref;          /* resource name this uuid
                                               refers to, or NULL */
    const char              **derived_from; /* NULL-terminated names of
                                               the fields the database
                                               derives this one from when
                                               it is null (a deal's
                                               probability: its stage);
                                               an update that changes
                                               them without sending it
                                               writes it null */
} crm_field_t;


/*
 * GET /<parent>/:id/<name> lists "target" rows that are the parent's by
 * any of these (each may be empty):
 *   fk       a column of target holding the parent id, and, with kind,
 *            a column of target naming the parent's type as kind_value
 *            (activities: related_type = 'contact' AND related_id = :id);
 *   member   a uuid[] column of target that holds the parent id;
 *   through  a uuid[] column of the parent listing the targets' ids; such
 *            a link can be added to (POST {"id"}) and removed from
 *            (DELETE /<parent>/:id/<name>/:targetId).
 */

typedef struct {
    ngx_str_t                 name;         /* path segment: "contacts" */
    const char               *target;       /* resource listed */
    ngx_str_t                 fk;
    ngx_str_t                 kind;
    ngx_str_t                 kind_value;
    ngx_str_t                 member;
    ngx_str_t                 through;
} crm_link_t;


struct crm_resource_s {
    ngx_str_t                 name;         /* "contacts" */
    ngx_str_t                 table;        /* "contacts" */
    ngx_str_t                 singular;     /* "contact" */
    crm_field_t              *fields;       /* fields[0] is "id" */
    ngx_uint_t                nfields;
    crm_link_t               *links;
    ngx_uint_t                nlinks;
    unsigned                  admin:1;      /* writes: owners and admins */
    unsigned                  immutable:1;  /* no PUT/PATCH */
    unsigned                  credential:1; /* API keys: created with a
                                               secret, revoked by DELETE */
    unsigned                  revokes:1;    /* DELETE ends credentials
                                               (keys, users' sessions) */
    unsigned                  singleton:1;  /* /<name>/current: the
                                               workspace itself */
    unsigned                  versioned:1;  /* a "version" column: ETag,
                                               If-Match */
    unsigned                  queued:1;     /* POST /<name>/send: an
                                               outbox (emails) */
    unsigned                  events:1;     /* writes publish events */
    unsigned                  readonly:1;   /* GET only */
    unsigned                  nested:1;     /* no /<name> of its own */
    unsigned                  hooks:1;      /* webhook subscriptions */
    unsigned                  preview:1;    /* a nested list previewed
                                               (a campaign's recipients) */
    unsigned                  feed:1;       /* its records carry others'
                                               (the event feed) */
    ngx_str_t                 tenant;       /* column holding the
                                               workspace: "workspace_id"
                                               when empty */
    crm_action_t             *actions;
    ngx_uint_t                nactions;
    crm_check_pt              check;        /* or NULL */
};


/* the parent of a sub-collection */

typedef struct {
    crm_resource_t           *res;
    crm_link_t               *link;
    ngx_str_t                 id;
} crm_parent_t;


/* a query parameter error: INVALID_PARAMETER naming the parameter */

typedef struct {
    ngx_str_t                 param;        /* the offending parameter */
    ngx_str_t                 code;         /* machine code of the detail */
    ngx_str_t                 message;      /* human readable */
} crm_error_t;


typedef struct {
    crm_field_t              *field;
    ngx_uint_t                op;           /* crm_op_e */
    ngx_array_t               values;       /* ngx_str_t, unescaped */
} crm_filter_t;


typedef struct {
    crm_field_t              *field;
    ngx_uint_t                desc;         /* 1: descending */
} crm_sort_t;


#define CRM_COUNT_NONE        0
#define CRM_COUNT_EXACT       1
#define CRM_COUNT_ESTIMATED   2


typedef struct {
    ngx_uint_t                limit;
    ngx_uint_t                offset;
    unsigned                  has_offset:1;

    /* sort keys; the last is always "id" ascending or descending */
    crm_sort_t                sort[CRM_MAX_KEYS];
    ngx_uint_t                nsort;

    ngx_array_t               filters;      /* crm_filter_t */
    ngx_str_t                 q;            /* full text; len 0: none */

    /* selected fields: fields[i] is rendered when select[i] != 0;
       select == NULL means all fields */
    u_char                   *select;

    ngx_uint_t                count;        /* CRM_COUNT_* */

    /* sort, filters and q as parsed, which cursors are bound to
       (crm_cursor_shape(); crm_query_parse() sets it) */
    u_char                    shape[CRM_CURSOR_SHAPE_LEN];

    /* decoded cursor: boundary row's sort key values */
    unsigned                  has_cursor:1;
    unsigned                  backward:1;   /* cursor points backwards */
    ngx_str_t                 key[CRM_MAX_KEYS];
    u_char                    key_null[CRM_MAX_KEYS];
} crm_query_t;


/*
 * a value bound to a $n parameter; NULL when null is set; in PostgreSQL's
 * binary format when binary is set (crm_value_binary()), "text" then
 * holding its text for the statements that carry their parameters as
 * text (crm_sql_json())
 */

typedef struct {
    ngx_str_t                 value;
    ngx_str_t                 text;
    unsigned                  null:1;
    unsigned                  binary:1;
} crm_param_t;


typedef struct {
    ngx_str_t                 sql;
    ngx_array_t               params;       /* crm_param_t; $1 first */

    /*
     * Reads (crm_sql_get(), crm_sql_list()) and writes made with
     * CRM_SQL_COLUMNS return the record as ncols columns in PostgreSQL's
     * text format, the fields of "res" that crm_render_field() picks
     * with "select", which crm_render_row() renders; other statements
     * return the record as JSON in column 0 (ncols is 0).  The nkeys
     * sort keys of a list are read, as text, from the columns keys[]: a
     * rendered column when its text is the key's (crm_sql_list()),
     * otherwise one after the record.  After the record of a single
     * record of a versioned resource: its version.  "binary": every
     * column in PostgreSQL's binary format (a list's page whose types
     * crm_render_bin_type() and crm_render_bin_key() take).
     */
    crm_resource_t           *res;
    u_char                   *select;
    ngx_uint_t                ncols;
    ngx_uint_t                nkeys;
    ngx_uint_t                keys[CRM_MAX_KEYS];
    unsigned                  binary:1;
} crm_stmt_t;


/* a validated field value, for insert and update */

typedef struct {
    crm_field_t              *field;
    crm_param_t               param;        /* text form of the value */
} crm_value_t;


/* a per-field validation error */

typedef struct {
    ngx_str_t                 field;
    ngx_str_t                 code;         /* "required", "invalid_type",
                                               "too_long", "invalid_format",
                                               "unknown_field", ... */
    ngx_str_t                 message;
} crm_field_error_t;


/* crm_campaign.c: a campaign's templates and audience (crm_own_pt) */

ngx_int_t crm_campaign_check(ngx_pool_t *pool, crm_resource_t *res,
    void *body, void *custom, ngx_array_t *errors);
/*
 * whether its templates or its audience filter name customFields.<name>
 * (crm_needs_pt)
 */
ngx_uint_t crm_campaign_needs(void *body);
/*
 * whether a parsed audience filter selects contacts in particular: one
 * without a filter or q (an empty string, "&&") is no audience, never
 * every contact
 */
ngx_uint_t crm_campaign_selects(crm_query_t *q);
/*
 * The filter a campaign's audience runs with, as its runner and its
 * preview use it: "filter" parsed (with the custom fields "extra") into
 * "q"; NGX_OK when it selects contacts in particular; otherwise "filter"
 * becomes one that selects nobody, parsed into "q", and the answer says
 * why: NGX_DECLINED, no longer valid (*err), or NGX_DONE, nothing in
 * particular.  NGX_ERROR without memory.
 */
ngx_int_t crm_campaign_audience_query(ngx_pool_t *pool, crm_field_t *extra,
    ngx_uint_t nextra, ngx_str_t *filter, ngx_str_t *secret, crm_query_t *q,
    crm_error_t *err);
/*
 * Why an audience selects nobody, as the campaign keeps it
 * (audienceProblem) and its preview says it, from "rc" and "err" of
 * crm_campaign_audience_query(): empty when it selects contacts.
 */
ngx_int_t crm_campaign_audience_problem(ngx_pool_t *pool, ngx_int_t rc,
    crm_error_t *err, ngx_str_t *problem);


/* crm_schema.c */

crm_resource_t *crm_schema_find(ngx_str_t *name);
crm_field_t *crm_schema_field(crm_resource_t *res, u_char *name, size_t len);
ngx_uint_t crm_schema_custom(crm_resource_t *res);
/*
 * a resource's custom-field definitions (a json_t array, or NULL) as
 * query fields "customFields.<name>", filterable and sortable
 */
ngx_int_t crm_schema_custom_fields(ngx_pool_t *pool, void *definitions,
    crm_field_t **out, ngx_uint_t *n);
crm_link_t *crm_schema_link(crm_resource_t *res, ngx_str_t *name);
crm_action_t *crm_schema_action(crm_resource_t *res, ngx_str_t *name);
ngx_uint_t crm_schema_field_index(crm_resource_t *res, crm_field_t *f);
crm_resource_t *crm_schema_all(ngx_uint_t *n);
crm_resource_t *crm_schema_event_kind(u_char *p, size_t len);
ngx_uint_t crm_schema_has_events(crm_resource_t *res);


/* crm_query.c: query string -> crm_query_t (pure) */

/*
 * Parses r->args style text (not yet unescaped) for a list of "res".
 * "secret" authenticates cursors: the list's key, crm_cursor_key().
 * Returns NGX_OK, NGX_DECLINED with *err filled for a client mistake,
 * NGX_ERROR on allocation failure.
 */
/* an equality filter on "f", added by a handler rather than parsed */
ngx_int_t crm_query_filter_eq(ngx_pool_t *pool, crm_query_t *q,
    crm_field_t *f, ngx_str_t *value);
ngx_int_t crm_query_parse(ngx_pool_t *pool, crm_resource_t *res,
    ngx_str_t *args, ngx_str_t *secret, crm_query_t *q, crm_error_t *err);

/* the same, with "extra" fields (custom fields) for filters and sorts */
ngx_int_t crm_query_parse_ext(ngx_pool_t *pool, crm_resource_t *res,
    crm_field_t *extra, ngx_uint_t nextra, ngx_str_t *args,
    ngx_str_t *secret, crm_query_t *q, crm_error_t *err);

/* the filter operators and list parameters, for the OpenAPI document */
const char *crm_query_operator(ngx_uint_t i, ngx_uint_t type,
    ngx_uint_t *allowed);
const char *crm_query_parameter(ngx_uint_t i);

/* the query string, decoded, mentions "customFields." */
ngx_uint_t crm_query_names_custom(ngx_str_t *args);

/*
 * a query string's value: %XX and "+" (a space), NUL-terminated;
 * NGX_DECLINED: a "%" without two hex digits, invalid UTF-8 or a NUL
 */
ngx_int_t crm_query_unescape(ngx_pool_t *pool, u_char *p, size_t len,
    ngx_str_t *out);

/* "fields=" alone, for single-record GETs; other parameters rejected */
ngx_int_t crm_query_parse_fields(ngx_pool_t *pool, crm_resource_t *res,
    ngx_str_t *args, crm_query_t *q, crm_error_t *err);

/*
 * No parameter at all (writes, actions, metadata): NGX_DECLINED with
 * the first one named in err; empty names ("&&") are none
 */
ngx_int_t crm_query_parse_none(ngx_pool_t *pool, ngx_str_t *args,
    crm_error_t *err);

/* validates the text form of a value of a field type */
/* crm_value.c: a value of a field type, as text */

#define CRM_TEXT_MAX          1000      /* bytes of a text value */
#define CRM_ELEM_MAX          255       /* characters of an element of an
                                           array of strings (a tag) */

ngx_int_t crm_value_check(ngx_uint_t type, ngx_str_t *v);

/*
 * A timestamp in PostgreSQL's text form, "2026-01-15 10:30:00.123+00" (a
 * space for the "T", an offset of hours alone), in the ISO 8601 form
 * crm_value_check() takes, written to "buf" (CRM_VALUE_TS_MAX + 3
 * bytes); any other text as it is.  NGX_DECLINED: too long.
 */
#define CRM_VALUE_TS_MAX      64        /* bytes of a timestamp's text */

ngx_int_t crm_value_iso(ngx_str_t *v, u_char *buf, ngx_str_t *iso);

/*
 * A timestamp crm_value_check() takes, as microseconds since 2000-01-01
 * 00:00:00 UTC (no offset: UTC, as the module's sessions read it).
 * NGX_DONE: with a fraction finer than a microsecond, which *us leaves
 * out (PostgreSQL rounds it).  NGX_DECLINED: not such a timestamp.
 */
ngx_int_t crm_value_time(ngx_str_t *v, int64_t *us);

/*
 * A value that crm_value_check() (or, a timestamp, crm_value_iso()
 * first) accepted, in PostgreSQL's binary format: a timestamp as
 * timestamptz_recv() reads it (8 bytes), a uuid as uuid_recv() does (16);
 * "buf" holds CRM_VALUE_BIN_MAX bytes.  NGX_DECLINED: bind the text
 * (another type, or a fraction of a second finer than a microsecond,
 * which PostgreSQL rounds).
 */
#define CRM_VALUE_BIN_MAX     16

ngx_int_t crm_value_binary(ngx_uint_t type, ngx_str_t *v, u_char *buf,
    size_t *len);

/* NGX_OK: UTF-8 without NUL or controls; *chars (may be NULL) counted */
ngx_int_t crm_value_utf8(u_char *p, size_t len, size_t *chars);
size_t crm_value_utf8_cut(u_char *p, size_t len, size_t chars);
/* "msg" on one line into dst: newlines and tabs as spaces; the end */
u_char *crm_value_line(u_char *dst, size_t size, const char *msg);

ngx_int_t crm_uuid_valid(u_char *p, size_t len);
/* an address an email can be sent to (sql/016 db_email_address_valid) */
ngx_int_t crm_validate_mailable(u_char *p, size_t len);
/* compact JSON text in the pool, as a write sends it (reals exact) */
ngx_int_t crm_validate_dump(ngx_pool_t *pool, void *v, ngx_str_t *out);
/* NGX_OK: "p" may be an id of "res" (a UUID, or its id field's form) */
ngx_int_t crm_id_valid(crm_resource_t *res, u_char *p, size_t len);


/* crm_cursor.c: opaque, HMAC-authenticated cursors (pure) */

/*
 * Encodes the sort keys of a boundary row (q->nsort of them).  The cursor
 * carries q->shape (its sort order, filters and q), so that a cursor made
 * for one query is rejected under another, and an HMAC-SHA256 with
 * "secret", the list's key.  A cursor is at most 7168 characters; keys
 * that would make a longer one are NGX_DECLINED.  Decoding fills
 * q->has_cursor, backward, key[], key_null[]; NGX_DECLINED for anything
 * forged, altered or made for another query or key.
 */
ngx_int_t crm_cursor_encode(ngx_pool_t *pool, ngx_str_t *secret,
    crm_query_t *q, ngx_uint_t backward, ngx_str_t *keys, u_char *nulls,
    ngx_str_t *out);
ngx_int_t crm_cursor_decode(ngx_pool_t *pool, ngx_str_t *secret,
    crm_query_t *q, ngx_str_t *in);

/*
 * The key of the cursors of one list of one workspace, derived from
 * crm_cursor_secret: "list" names what is paged ("contacts",
 * "companies/<id>/contacts"); "ws" must hold no NUL.  A cursor of
 * another list or workspace fails the MAC under this key.
 */
ngx_int_t crm_cursor_key(ngx_pool_t *pool, ngx_str_t *secret, ngx_str_t *ws,
    ngx_str_t *list, ngx_str_t *key);

/* sets q->shape from q's sort keys, filters (in any order) and q */
ngx_int_t crm_cursor_shape(ngx_pool_t *pool, crm_query_t *q);


/* crm_sql.c: AST + descriptor -> one parameterized statement (pure) */

ngx_int_t crm_sql_get(ngx_pool_t *pool, crm_resource_t *res,
    ngx_str_t *ws, ngx_str_t *id, u_char *select, crm_stmt_t *st);
/* "parent": a sub-collection's parent, or NULL */
ngx_int_t crm_sql_list(ngx_pool_t *pool, crm_resource_t *res,
    ngx_str_t *ws, crm_query_t *q, crm_parent_t *parent, crm_stmt_t *st);
ngx_int_t crm_sql_count(ngx_pool_t *pool, crm_resource_t *res,
    ngx_str_t *ws, crm_query_t *q, crm_parent_t *parent, crm_stmt_t *st);
/* a campaign's recipients from its audience ("q": a filter, or NULL) */
ngx_int_t crm_sql_audience(ngx_pool_t *pool, ngx_str_t *ws,
    ngx_str_t *campaign, crm_query_t *q, ngx_str_t *problem,
    crm_stmt_t *st);
/* adds (add != 0) or removes "target" in a "through" link's column */
ngx_int_t crm_sql_link(ngx_pool_t *pool, crm_parent_t *parent,
    ngx_str_t *ws, ngx_str_t *target, ngx_uint_t add, ngx_str_t *match,
    crm_stmt_t *st);
/*
 * "as": how a write returns its record: CRM_SQL_COLUMNS (st->ncols
 * columns, for crm_render_row()) or CRM_SQL_JSON (JSON in column 0, for
 * a bulk's db_bulk()); "match": the version the client holds (If-Match),
 * or NULL for any
 */
#define CRM_SQL_JSON          0
#define CRM_SQL_COLUMNS       1

ngx_int_t crm_sql_insert(ngx_pool_t *pool, crm_resource_t *res,
    ngx_str_t *ws, ngx_array_t *values, ngx_uint_t as, crm_stmt_t *st);
ngx_int_t crm_sql_update(ngx_pool_t *pool, crm_resource_t *res,
    ngx_str_t *ws, ngx_str_t *id, ngx_array_t *values, ngx_str_t *match,
    ngx_uint_t as, crm_stmt_t *st);
ngx_int_t crm_sql_delete(ngx_pool_t *pool, crm_resource_t *res,
    ngx_str_t *ws, ngx_str_t *id, ngx_str_t *match, crm_stmt_t *st);
/* POST /<resource>/:id/<action>: the action's function, its events */
ngx_int_t crm_sql_action(ngx_pool_t *pool, crm_resource_t *res,
    ngx_str_t *ws, ngx_str_t *id, ngx_str_t *body, crm_action_t *action,
    ngx_str_t *match, crm_stmt_t *st);
ngx_int_t crm_sql_exists(ngx_pool_t *pool, crm_resource_t *res,
    ngx_str_t *ws, ngx_str_t *id, crm_stmt_t *st);
/* GET /search over "res" (all searchable), best "limit" first */
ngx_int_t crm_sql_search_all(ngx_pool_t *pool, ngx_str_t *ws,
    crm_resource_t **res, ngx_uint_t nres, ngx_str_t *text,
    ngx_uint_t limit, crm_stmt_t *st);
/* the custom-field definitions of the workspace (of one resource) */
ngx_int_t crm_sql_custom_fields(ngx_pool_t *pool, ngx_str_t *ws,
    ngx_str_t *object, crm_stmt_t *st);
/* every problem of a body's customFields (sql/086: db_custom_problems()) */
ngx_int_t crm_sql_custom_problems(ngx_pool_t *pool, ngx_str_t *ws,
    ngx_str_t *object, ngx_str_t *values, crm_stmt_t *st);
/* whether "res" has fields that q= searches */
ngx_uint_t crm_sql_searchable(crm_resource_t *res);
/* a statement as JSON for db_bulk() and db_estimate() (json_t *) */
void *crm_sql_json(ngx_pool_t *pool, crm_stmt_t *st);
/* count=estimated: SELECT db_estimate(<"count", as JSON>) */
ngx_int_t crm_sql_estimate(ngx_pool_t *pool, ngx_str_t *ws,
    crm_stmt_t *count, crm_stmt_t *st);
/* the statement's text with $n written $1[n], for crm_sql_bulk() */
ngx_int_t crm_sql_inline(ngx_pool_t *pool, crm_stmt_t *st, ngx_str_t *out);
/* runs "ops" (JSON: [{"sql", "params"}]) in one call, sql/008_bulk.sql */
ngx_int_t crm_sql_bulk(ngx_pool_t *pool, ngx_str_t *ws, ngx_str_t *ops,
    ngx_uint_t atomic, crm_stmt_t *st);
/*
 * A statement of fixed text (static) with n parameters, each NULL until
 * set: as text ("v" NULL: SQL NULL; its bytes live until it is sent), or
 * a number formatted with "fmt" ("%ui", "%i", "%M milliseconds")
 */
crm_stmt_t *crm_sql_fixed(ngx_pool_t *pool, const char *sql, ngx_uint_t n);
ngx_int_t crm_sql_set(crm_stmt_t *st, ngx_uint_t i, ngx_str_t *v);
ngx_int_t crm_sql_set_num(crm_stmt_t *st, ngx_uint_t i, const char *fmt,
    ngx_uint_t n);


/* crm_render.c: a record's columns (text or binary) -> JSON (pure) */

/* whether field i of "res" is rendered: the id always, hidden never */
ngx_uint_t crm_render_field(crm_resource_t *res, u_char *select,
    ngx_uint_t i);
/* how many fields of "res" are rendered with "select" */
ngx_uint_t crm_render_ncols(crm_resource_t *res, u_char *select);

/*
 * "cols": the rendered fields' values in descriptor order, as
 * PostgreSQL's text output (data NULL: NULL).  crm_render_size() is an
 * upper bound of the JSON's length; crm_render_row() writes it (compact,
 * keys in descriptor order) and returns its end, or NULL for a value that
 * is not its type's text form.
 */
size_t crm_render_size(crm_resource_t *res, u_char *select,
    ngx_str_t *cols);
u_char *crm_render_row(u_char *p, crm_resource_t *res, u_char *select,
    ngx_str_t *cols);
u_char *crm_render_value(u_char *p, crm_field_t *f, ngx_str_t *v);
/* JSON text without white space between tokens: "len" bytes at most, in
   place if p == s */
u_char *crm_render_compact(u_char *p, u_char *s, size_t len);
/* a JSON string, escaped as PostgreSQL's escape_json() does: 6 * len + 2
   bytes at most */
u_char *crm_render_string(u_char *p, u_char *s, size_t len);
/* timestamptz text -> "YYYY-MM-DDTHH:MM:SS.mmmZ" (UTC) or null */
u_char *crm_render_timestamp(u_char *p, u_char *s, size_t len);
/* days since 1970-01-01 of a date of the proleptic Gregorian calendar */
int64_t crm_render_days(int64_t y, ngx_int_t m, ngx_int_t d);

/*
 * The same from PostgreSQL's binary output (a list's page): whether a
 * field's type is rendered from it (crm_render_bin_type()), whether a
 * sort key's can be written back as text (crm_render_bin_key()); the
 * size bound and the row as above; crm_render_bin_text() writes a sort
 * key's value as text PostgreSQL reads back (crm_render_bin_text_size()
 * bytes at most).  NULL: a value that is not its type's binary form.
 */
ngx_uint_t crm_render_bin_type(crm_field_t *f);
ngx_uint_t crm_render_bin_key(crm_field_t *f);
/* whether a column of PostgreSQL type "oid" is read as the field's */
ngx_uint_t crm_render_bin_oid(crm_field_t *f, ngx_uint_t oid);
size_t crm_render_bin_size(crm_resource_t *res, u_char *select,
    ngx_str_t *cols);
u_char *crm_render_bin_row(u_char *p, crm_resource_t *res, u_char *select,
    ngx_str_t *cols);
u_char *crm_render_bin_value(u_char *p, crm_field_t *f, ngx_str_t *v);
size_t crm_render_bin_text_size(ngx_str_t *v);
u_char *crm_render_bin_text(u_char *p, crm_field_t *f, ngx_str_t *v);


/* crm_credential.c: the credential of a request (pure) */

#define CRM_TOKEN_LEN         45        /* "crmk_" + 40 hex digits */

/*
 * From the X-API-Key and Authorization values (NULL: no such header):
 * NGX_OK with *token, or NGX_DECLINED when there is none.
 */
ngx_int_t crm_credential_parse(ngx_str_t *api_key,
    ngx_str_t *authorization, ngx_str_t *token);
/* NGX_OK: a stored key's or session's form, "crmk_"/"crms_" + 40 hex */
ngx_int_t crm_credential_token(ngx_str_t *t);
/* NGX_OK when "scopes" ("a:read,b:write", "*") allow the access */
ngx_int_t crm_auth_scope(ngx_str_t *scopes, ngx_str_t *resource,
    ngx_uint_t write);
/*
 * Events carry their records: reading them all (the feed, a webhook's
 * "*") needs read on every kind of record that has events.  NGX_OK or
 * NGX_DECLINED.
 */
ngx_int_t crm_auth_scope_events(ngx_str_t *scopes);


/* crm_fingerprint.c: an Idempotency-Key request's fingerprint (pure) */

#define CRM_IDEM_FP_LEN       64        /* SHA-256 in hex */

ngx_int_t crm_idem_fingerprint(ngx_str_t *method, ngx_str_t *uri,
    ngx_chain_t *body, ngx_str_t *principal, u_char *fp);


/* crm_sign.c: Standard Webhooks signatures, HMAC-SHA256, SHA-256 (pure) */

/* HMAC-SHA256 of "data" with "key" into md (EVP_MAX_MD_SIZE bytes) */
ngx_int_t crm_hmac_sha256(u_char *key, size_t klen, u_char *data,
    size_t len, u_char *md, size_t *mdlen);
/* its first n bytes (n <= 32), with the key "secret" */
ngx_int_t crm_hmac_sha256_truncated(ngx_str_t *secret, u_char *data,
    size_t len, u_char *mac, size_t n);
/* SHA-256 (OpenSSL's EVP_MD, fetched once; NULL: none), of "data" into md
   (32 bytes) */
struct evp_md_st;
const struct evp_md_st *crm_sha256_md(void);
ngx_int_t crm_sha256(u_char *data, size_t len, u_char *md);
/*
 * "v1,<base64 HMAC-SHA256(key, id.ts.body)>", key = the base64 decoding
 * of "secret" after "whsec_"; NGX_DECLINED: a malformed secret
 */
ngx_int_t crm_webhook_sign(ngx_pool_t *pool, ngx_str_t *secret,
    ngx_str_t *id, ngx_str_t *ts, ngx_str_t *body, ngx_str_t *out);


/* crm_validate.c: JSON body -> crm_value_t array (pure, jansson) */

/*
 * "body" is a json_t object.  create != 0: required fields must be
 * present.  "custom": the definitions crm_validate_needs() asked for (see
 * crm_own_pt), or NULL.  Returns NGX_OK with "values" (crm_value_t) filled,
 * NGX_DECLINED with "errors" (crm_field_error_t) filled, NGX_ERROR on
 * allocation failure.
 */
ngx_int_t crm_validate(ngx_pool_t *pool, crm_resource_t *res, void *body,
    ngx_uint_t create, void *custom, ngx_array_t *values,
    ngx_array_t *errors);
/*
 * whether crm_validate() wants the workspace's custom-field definitions,
 * as "custom", for this body of "res"
 */
ngx_uint_t crm_validate_needs(crm_resource_t *res, void *body);
/*
 * the body of POST /<resource>/:id/<action> (a lead's convert: its parts;
 * a campaign's transitions: no fields): appends crm_field_error_t to
 * "errors"; NGX_ERROR only without memory
 */
ngx_int_t crm_validate_action(ngx_pool_t *pool, crm_resource_t *res,
    ngx_str_t *action, void *body, ngx_array_t *errors);


#endif /* _CRM_H_INCLUDED_ */
