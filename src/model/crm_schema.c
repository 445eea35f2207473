
/*
 * ngx_http_crm_module: resource descriptors.
 *
 * What a resource is, written once as data: its table, its fields with
 * their types, limits and capabilities, and its sub-collections.  CRUD,
 * validation, filtering, sorting and rendering all derive from these
 * tables.  Adding a resource is an entry here plus a migration in sql/.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <jansson.h>
#include "model/crm.h"


/* a custom field's name, at most (sql/010_custom_fields.sql) */
#define CRM_CUSTOM_NAME_MAX   63

/* an integer column of 32 bits: its "max" */
#define CRM_INT4_MAX  2147483647

#define crm_fld(name, column, type, flags, max)                              \
    { ngx_string(name), ngx_string(column), type, flags, max, NULL, NULL,  \
      NULL }

#define crm_derived(name, column, type, flags, max, from)                    \
    { ngx_string(name), ngx_string(column), type, flags, max, NULL, NULL,  \
      from }

#define crm_ref(name, column, flags, target)                                 \
    { ngx_string(name), ngx_string(column), CRM_FT_UUID, flags, 0, NULL,    \
      target, NULL }

#define crm_refs(name, column, flags, target)                                \
    { ngx_string(name), ngx_string(column), CRM_FT_UUID_ARRAY, flags,       \
      CRM_MAX_LINKED, NULL, target, NULL }

#define crm_enum(name, column, flags, values)                                \
    { ngx_string(name), ngx_string(column), CRM_FT_ENUM, flags, 0, values,  \
      NULL, NULL }

/* sub-collections (crm.h): by a column, a typed column, a member array,
   or through the parent's array */

#define crm_link(name, target, fk)                                           \
    { ngx_string(name), target, ngx_string(fk), ngx_null_string,            \
      ngx_null_string, ngx_null_string, ngx_null_string }

#define crm_link_typed(name, target, fk, kind, value, member)                \
    { ngx_string(name), target, ngx_string(fk), ngx_string(kind),           \
      ngx_string(value), ngx_string(member), ngx_null_string }

#define crm_link_member(name, target, member)                                \
    { ngx_string(name), target, ngx_null_string, ngx_null_string,           \
      ngx_null_string, ngx_string(member), ngx_null_string }

#define crm_link_through(name, target, through)                              \
    { ngx_string(name), target, ngx_null_string, ngx_null_string,           \
      ngx_null_string, ngx_null_string, ngx_string(through) }

#define crm_nlinks(links)  (sizeof(links) / sizeof(crm_link_t))

#define CRM_FS     (CRM_F_FILTER|CRM_F_SORT)
#define CRM_FSS    (CRM_F_FILTER|CRM_F_SORT|CRM_F_SEARCH)
#define CRM_RO     (CRM_F_READONLY|CRM_F_FILTER|CRM_F_SORT|CRM_F_NOTNULL)

#define crm_common_head                                                      \
    crm_fld("id", "id", CRM_FT_UUID, CRM_RO, 0)

#define crm_common_tail                                                      \
    crm_fld("createdAt", "created_at", CRM_FT_TIMESTAMP, CRM_RO, 0),         \
    crm_fld("updatedAt", "updated_at", CRM_FT_TIMESTAMP, CRM_RO, 0)


static ngx_int_t crm_schema_custom_field(ngx_pool_t *pool, json_t *def,
    crm_field_t *f);
static ngx_int_t crm_schema_custom_name_valid(const char *name);


static const char  *crm_contact_statuses[] = {
    "lead", "prospect", "customer", "active", "inactive", "churned", NULL
};


static crm_field_t  crm_contact_fields[] = {
    crm_common_head,
    crm_fld("firstName", "first_name", CRM_FT_TEXT, CRM_FSS, 100),
    crm_fld("lastName", "last_name", CRM_FT_TEXT, CRM_FSS, 100),
    crm_fld("email", "email", CRM_FT_EMAIL, CRM_FSS|CRM_F_REQUIRED, 254),
    crm_fld("phone", "phone", CRM_FT_TEXT, CRM_F_FILTER|CRM_F_SEARCH, 50),
    crm_fld("title", "title", CRM_FT_TEXT, CRM_FS, 200),
    crm_ref("companyId", "company_id", CRM_F_FILTER, "companies"),
    crm_ref("ownerId", "owner_id", CRM_F_FILTER, "users"),
    crm_enum("status", "status", CRM_FS|CRM_F_NOTNULL, crm_contact_statuses),
    crm_fld("source", "source", CRM_FT_TEXT, CRM_FS, 100),
    crm_fld("tags", "tags", CRM_FT_TEXT_ARRAY,
            CRM_F_FILTER|CRM_F_NOTNULL, 50),
    crm_fld("customFields", "custom_fields", CRM_FT_OBJECT, CRM_F_NOTNULL,
            16384),
    crm_common_tail
};


static crm_link_t  crm_contact_links[] = {
    crm_link("emails", "emails", "contact_id"),
    crm_link_typed("activities", "activities", "related_id", "related_type",
                   "contact", "contact_ids"),
    crm_link_member("deals", "deals", "contact_ids")
};


static crm_field_t  crm_company_fields[] = {
    crm_common_head,
    crm_fld("name", "name", CRM_FT_TEXT, CRM_FSS|CRM_F_REQUIRED, 200),
    crm_fld("domain", "domain", CRM_FT_TEXT, CRM_FSS, 253),
    crm_fld("website", "website", CRM_FT_TEXT, CRM_F_FILTER, 2048),
    crm_fld("industry", "industry", CRM_FT_TEXT, CRM_FS, 100),
    crm_fld("employees", "employees", CRM_FT_INT, CRM_FS, 0),
    crm_fld("annualRevenue", "annual_revenue", CRM_FT_NUMERIC, CRM_FS, 0),
    crm_fld("phone", "phone", CRM_FT_TEXT, CRM_F_FILTER, 50),
    crm_fld("address", "address", CRM_FT_OBJECT, 0, 4096),
    crm_ref("ownerId", "owner_id", CRM_F_FILTER, "users"),
    crm_fld("customFields", "custom_fields", CRM_FT_OBJECT, CRM_F_NOTNULL,
            16384),
    crm_common_tail
};


static crm_link_t  crm_company_links[] = {
    crm_link("contacts", "contacts", "company_id"),
    crm_link("deals", "deals", "company_id"),
    crm_link_typed("activities", "activities", "related_id", "related_type",
                   "company", "")
};


static crm_field_t  crm_api_key_fields[] = {
    crm_common_head,
    crm_fld("name", "name", CRM_FT_TEXT, CRM_FSS|CRM_F_REQUIRED, 100),
    crm_fld("prefix", "prefix", CRM_FT_TEXT,
            CRM_F_READONLY|CRM_F_FILTER|CRM_F_NOTNULL, 16),
    crm_fld("scopes", "scopes", CRM_FT_TEXT_ARRAY,
            CRM_F_REQUIRED|CRM_F_FILTER|CRM_F_NOTNULL, 32),
    crm_fld("expiresAt", "expires_at", CRM_FT_TIMESTAMP, CRM_FS, 0),
    crm_fld("lastUsedAt", "last_used_at", CRM_FT_TIMESTAMP,
            CRM_F_READONLY|CRM_F_SORT, 0),
    crm_fld("createdBy", "created_by", CRM_FT_UUID,
            CRM_F_READONLY|CRM_F_FILTER, 0),
    crm_fld("rateLimitPerMinute", "rate_limit_per_minute", CRM_FT_INT,
            CRM_F_MIN1, CRM_INT4_MAX),
    crm_fld("rateLimitPerHour", "rate_limit_per_hour", CRM_FT_INT,
            CRM_F_MIN1, CRM_INT4_MAX),
    crm_common_tail
};


static crm_field_t  crm_pipeline_fields[] = {
    crm_common_head,
    crm_fld("name", "name", CRM_FT_TEXT, CRM_FSS|CRM_F_REQUIRED, 200),
    crm_fld("stages", "stages", CRM_FT_LIST, CRM_F_NOTNULL, 16384),
    crm_common_tail
};


static crm_link_t  crm_pipeline_links[] = {
    crm_link("deals", "deals", "pipeline_id")
};


static const char  *crm_deal_statuses[] = {
    "open", "won", "lost", NULL
};


/* a deal's probability is its stage's unless one is sent (sql/082) */
static const char  *crm_deal_probability_from[] = {
    "pipelineId", "stage", NULL
};


static crm_field_t  crm_deal_fields[] = {
    crm_common_head,
    crm_fld("name", "name", CRM_FT_TEXT, CRM_FSS|CRM_F_REQUIRED, 200),
    crm_fld("amount", "amount", CRM_FT_NUMERIC, CRM_FS|CRM_F_MIN0, 0),
    crm_fld("currency", "currency", CRM_FT_TEXT,
            CRM_F_FILTER|CRM_F_CURRENCY, 3),
    crm_ref("pipelineId", "pipeline_id", CRM_F_FILTER, "pipelines"),
    crm_fld("stage", "stage", CRM_FT_TEXT, CRM_FS, 100),
    crm_derived("probability", "probability", CRM_FT_INT,
                CRM_FS|CRM_F_PERCENT, CRM_INT4_MAX,
                crm_deal_probability_from),
    crm_fld("closeDate", "close_date", CRM_FT_DATE, CRM_FS, 0),
    crm_enum("status", "status", CRM_FS|CRM_F_NOTNULL, crm_deal_statuses),
    crm_ref("companyId", "company_id", CRM_F_FILTER, "companies"),
    crm_refs("contactIds", "contact_ids", CRM_F_FILTER|CRM_F_NOTNULL,
             "contacts"),
    crm_ref("ownerId", "owner_id", CRM_F_FILTER, "users"),
    crm_fld("customFields", "custom_fields", CRM_FT_OBJECT, CRM_F_NOTNULL,
            16384),
    crm_common_tail
};


static crm_link_t  crm_deal_links[] = {
    crm_link_through("contacts", "contacts", "contact_ids"),
    crm_link_typed("activities", "activities", "related_id", "related_type",
                   "deal", "")
};


static const char  *crm_lead_statuses[] = {
    "new", "contacted", "qualified", "unqualified", "converted", NULL
};


static crm_field_t  crm_lead_fields[] = {
    crm_common_head,
    crm_fld("firstName", "first_name", CRM_FT_TEXT, CRM_FSS, 100),
    crm_fld("lastName", "last_name", CRM_FT_TEXT, CRM_FSS, 100),
    crm_fld("email", "email", CRM_FT_EMAIL, CRM_FSS, 254),
    crm_fld("phone", "phone", CRM_FT_TEXT, CRM_F_FILTER|CRM_F_SEARCH, 50),
    crm_fld("companyName", "company_name", CRM_FT_TEXT, CRM_FSS, 200),
    crm_fld("industry", "industry", CRM_FT_TEXT, CRM_FS, 100),
    crm_fld("source", "source", CRM_FT_TEXT, CRM_FS, 100),
    crm_enum("status", "status", CRM_FS|CRM_F_NOTNULL, crm_lead_statuses),
    crm_fld("convertedAt", "converted_at", CRM_FT_TIMESTAMP,
            CRM_F_READONLY|CRM_F_FILTER|CRM_F_SORT, 0),
    crm_fld("convertedContactId", "converted_contact_id", CRM_FT_UUID,
            CRM_F_READONLY|CRM_F_FILTER, 0),
    crm_fld("convertedCompanyId", "converted_company_id", CRM_FT_UUID,
            CRM_F_READONLY|CRM_F_FILTER, 0),
    crm_fld("convertedDealId", "converted_deal_id", CRM_FT_UUID,
            CRM_F_READONLY|CRM_F_FILTER, 0),
    crm_fld("customFields", "custom_fields", CRM_FT_OBJECT, CRM_F_NOTNULL,
            16384),
    crm_common_tail
};


/* what a conversion made, as events, in this order (sql/018) */

static crm_action_event_t  crm_lead_convert_events[] = {
    { "company", "companies", "created" },
    { "contact", "contacts", "created" },
    { "deal", "deals", "created" },
    { "lead", "leads", "converted" }
};


static crm_action_t  crm_lead_actions[] = {
    { ngx_string("convert"), ngx_string("db_lead_convert_rows"),
      crm_lead_convert_events,
      sizeof(crm_lead_convert_events) / sizeof(crm_action_event_t), 0, 0 }
};


static crm_link_t  crm_lead_links[] = {
    crm_link_typed("activities", "activities", "related_id", "related_type",
                   "lead", "")
};


static const char  *crm_activity_types[] = {
    "call", "meeting", "task", "note", NULL
};


static const char  *crm_activity_statuses[] = {
    "open", "completed", "cancelled", NULL
};


static const char  *crm_activity_priorities[] = {
    "low", "normal", "high", NULL
};


static const char  *crm_activity_directions[] = {
    "inbound", "outbound", NULL
};


static const char  *crm_activity_related[] = {
    "contact", "company", "deal", "lead", NULL
};


static crm_field_t  crm_activity_fields[] = {
    crm_common_head,
    crm_enum("type", "type", CRM_FS|CRM_F_REQUIRED|CRM_F_NOTNULL,
             crm_activity_types),
    crm_fld("subject", "subject", CRM_FT_TEXT, CRM_FSS, 500),
    crm_fld("body", "body", CRM_FT_TEXT, 0, 65536),
    crm_enum("status", "status", CRM_FS|CRM_F_NOTNULL,
             crm_activity_statuses),
    crm_enum("priority", "priority", CRM_FS|CRM_F_NOTNULL,
             crm_activity_priorities),
    crm_fld("dueAt", "due_at", CRM_FT_TIMESTAMP, CRM_FS, 0),
    crm_fld("startAt", "start_at", CRM_FT_TIMESTAMP, CRM_FS, 0),
    crm_fld("endAt", "end_at", CRM_FT_TIMESTAMP, CRM_FS, 0),
    crm_fld("durationSec", "duration_sec", CRM_FT_INT, CRM_FS|CRM_F_MIN0, 0),
    crm_enum("direction", "direction", CRM_F_FILTER,
             crm_activity_directions),
    crm_enum("relatedType", "related_type", CRM_F_FILTER,
             crm_activity_related),
    crm_fld("relatedId", "related_id", CRM_FT_UUID, CRM_F_FILTER, 0),
    crm_refs("contactIds", "contact_ids", CRM_F_FILTER|CRM_F_NOTNULL,
             "contacts"),
    crm_ref("assignedUserId", "assigned_user_id", CRM_F_FILTER,
            "users"),
    crm_fld("customFields", "custom_fields", CRM_FT_OBJECT, CRM_F_NOTNULL,
            16384),
    crm_common_tail
};


static crm_link_t  crm_activity_links[] = {
    crm_link_through("contacts", "contacts", "contact_ids")
};


/* resources whose records have customFields */

static const char  *crm_custom_objects[] = {
    "contacts", "companies", "deals", "leads", "activities", NULL
};


static const char  *crm_custom_types[] = {
    "text", "number", "boolean", "date", "select", NULL
};


static crm_field_t  crm_custom_field_fields[] = {
    crm_common_head,
    crm_enum("object", "object",
             CRM_FS|CRM_F_REQUIRED|CRM_F_NOTNULL|CRM_F_CREATEONLY,
             crm_custom_objects),
    crm_fld("name", "name", CRM_FT_TEXT,
            CRM_FS|CRM_F_REQUIRED|CRM_F_CREATEONLY, 63),
    crm_fld("label", "label", CRM_FT_TEXT, CRM_FS, 200),
    crm_enum("type", "type",
             CRM_FS|CRM_F_REQUIRED|CRM_F_NOTNULL|CRM_F_CREATEONLY,
             crm_custom_types),
    crm_fld("options", "options", CRM_FT_LIST, CRM_F_NOTNULL, 16384),
    crm_fld("required", "required", CRM_FT_BOOL, CRM_FS|CRM_F_NOTNULL, 0),
    crm_common_tail
};


static const char  *crm_user_roles[] = {
    "owner", "admin", "member", NULL
};


static crm_field_t  crm_user_fields[] = {
    crm_common_head,
    crm_fld("email", "email", CRM_FT_EMAIL, CRM_FSS|CRM_F_REQUIRED, 254),
    crm_fld("name", "name", CRM_FT_TEXT, CRM_FSS, 200),
    crm_enum("role", "role", CRM_FS|CRM_F_NOTNULL, crm_user_roles),
    crm_fld("password", "password_hash", CRM_FT_PASSWORD, CRM_F_WRITEONLY,
            72),
    crm_fld("lastLoginAt", "last_login_at", CRM_FT_TIMESTAMP,
            CRM_F_READONLY|CRM_F_SORT, 0),
    crm_common_tail
};


static crm_field_t  crm_workspace_fields[] = {
    crm_common_head,
    crm_fld("name", "name", CRM_FT_TEXT, CRM_F_REQUIRED, 200),
    crm_fld("settings", "settings", CRM_FT_OBJECT, CRM_F_NOTNULL, 16384),
    crm_common_tail
};


static const char  *crm_email_statuses[] = {
    "queued", "sending", "sent", "deferred", "bounced", "failed",
    "suppressed", "cancelled", NULL
};


/*
 * An email of the outbox (sql/016_emails.sql): made by POST /emails/send,
 * then changed only by the delivery job and tracking.  "to" is an
 * address or a contact id; the database resolves it, and renders the
 * address.
 */

static crm_field_t  crm_email_fields[] = {
    crm_common_head,
    crm_fld("to", "to_email", CRM_FT_TEXT,
            CRM_FS|CRM_F_REQUIRED|CRM_F_CREATEONLY|CRM_F_ADDRESS, 254),
    crm_fld("toName", "to_name", CRM_FT_TEXT, CRM_F_READONLY, 0),
    crm_fld("cc", "cc", CRM_FT_TEXT_ARRAY, CRM_F_CREATEONLY|CRM_F_NOTNULL,
            50),
    crm_fld("bcc", "bcc", CRM_FT_TEXT_ARRAY, CRM_F_CREATEONLY|CRM_F_NOTNULL,
            50),
    crm_fld("from", "from_email", CRM_FT_TEXT,
            CRM_F_FILTER|CRM_F_CREATEONLY|CRM_F_ADDRESS, 254),
    crm_fld("fromName", "from_name", CRM_FT_TEXT, CRM_F_CREATEONLY, 200),
    crm_fld("replyTo", "reply_to", CRM_FT_TEXT, CRM_F_CREATEONLY, 254),
    crm_fld("subject", "subject", CRM_FT_TEXT,
            CRM_FS|CRM_F_REQUIRED|CRM_F_CREATEONLY, 998),
    crm_fld("text", "body_text", CRM_FT_TEXT, CRM_F_CREATEONLY, 1048576),
    crm_fld("html", "body_html", CRM_FT_TEXT, CRM_F_CREATEONLY, 1048576),
    crm_ref("contactId", "contact_id", CRM_F_FILTER|CRM_F_CREATEONLY,
            "contacts"),
    crm_ref("campaignId", "campaign_id", CRM_F_READONLY|CRM_F_FILTER,
            "campaigns"),
    crm_enum("status", "status", CRM_RO, crm_email_statuses),
    crm_fld("messageId", "message_id", CRM_FT_TEXT, CRM_F_READONLY, 0),
    crm_fld("attempts", "attempts", CRM_FT_INT, CRM_RO, 0),
    /* when it is sent next: none once it is done with */
    crm_fld("nextAttemptAt",
            "CASE WHEN status IN ('queued', 'deferred') THEN next_attempt_at"
            " END", CRM_FT_TIMESTAMP, CRM_F_READONLY|CRM_F_EXPR, 0),
    crm_fld("smtpCode", "smtp_code", CRM_FT_INT, CRM_F_READONLY|CRM_F_FILTER,
            0),
    crm_fld("lastError", "last_error", CRM_FT_TEXT, CRM_F_READONLY, 0),
    crm_fld("sentAt", "sent_at", CRM_FT_TIMESTAMP,
            CRM_F_READONLY|CRM_F_FILTER|CRM_F_SORT, 0),
    crm_fld("events", "db_email_events(workspace_id, id)", CRM_FT_LIST,
            CRM_F_READONLY|CRM_F_EXPR, 0),
    crm_common_tail
};


static const char  *crm_suppression_reasons[] = {
    "hard_bounce", "unsubscribe", "complaint", "manual", NULL
};


static crm_field_t  crm_suppression_fields[] = {
    crm_common_head,
    crm_fld("email", "email", CRM_FT_EMAIL, CRM_FS|CRM_F_REQUIRED, 254),
    crm_enum("reason", "reason", CRM_FS|CRM_F_NOTNULL, crm_suppression_reasons),
    crm_ref("emailId", "email_id", CRM_F_READONLY|CRM_F_FILTER, NULL),
    crm_fld("details", "details", CRM_FT_TEXT, 0, 1000),
    crm_common_tail
};


static const char  *crm_campaign_statuses[] = {
    "draft", "scheduled", "running", "paused", "completed", "cancelled",
    NULL
};


/*
 * A campaign (sql/020_campaigns.sql, docs/CAMPAIGNS.md): its templates'
 * merge fields and its audience are checked by crm_campaign_check(); its
 * status changes by its actions only
 */

static crm_field_t  crm_campaign_fields[] = {
    crm_common_head,
    crm_fld("name", "name", CRM_FT_TEXT, CRM_FS|CRM_F_REQUIRED, 200),
    crm_fld("subject", "subject", CRM_FT_TEXT, CRM_F_REQUIRED, 998),
    crm_fld("fromName", "from_name", CRM_FT_TEXT, 0, 200),
    crm_fld("fromEmail", "from_email", CRM_FT_EMAIL, CRM_F_FILTER, 254),
    crm_fld("replyTo", "reply_to", CRM_FT_EMAIL, 0, 254),
    crm_fld("html", "body_html", CRM_FT_TEXT, 0, 1048576),
    crm_fld("text", "body_text", CRM_FT_TEXT, 0, 1048576),
    crm_fld("audience", "audience", CRM_FT_OBJECT,
            CRM_F_REQUIRED|CRM_F_NOTNULL, 524288),
    crm_fld("scheduledAt", "scheduled_at", CRM_FT_TIMESTAMP, CRM_FS, 0),
    crm_fld("sendRate", "send_rate", CRM_FT_INT, CRM_F_MIN1, CRM_INT4_MAX),
    crm_enum("status", "status", CRM_RO, crm_campaign_statuses),
    crm_fld("counters", "db_campaign_counters(workspace_id, id)",
            CRM_FT_OBJECT, CRM_F_READONLY|CRM_F_EXPR, 0),
    crm_fld("startedAt", "started_at", CRM_FT_TIMESTAMP,
            CRM_F_READONLY|CRM_F_FILTER|CRM_F_SORT, 0),
    crm_fld("completedAt", "completed_at", CRM_FT_TIMESTAMP,
            CRM_F_READONLY|CRM_F_FILTER|CRM_F_SORT, 0),
    crm_fld("cancelledAt", "cancelled_at", CRM_FT_TIMESTAMP,
            CRM_F_READONLY, 0),
    crm_fld("recipientsAt", "materialized_at", CRM_FT_TIMESTAMP,
            CRM_F_READONLY, 0),
    crm_fld("audienceProblem", "audience_problem", CRM_FT_TEXT,
            CRM_F_READONLY, 0),
    crm_common_tail
};


static crm_action_t  crm_campaign_actions[] = {
    { ngx_string("start"), ngx_string("db_campaign_start"), NULL, 0, 1, 1 },
    { ngx_string("pause"), ngx_string("db_campaign_pause"), NULL, 0, 1, 0 },
    { ngx_string("resume"), ngx_string("db_campaign_resume"), NULL, 0, 1,
      0 },
    { ngx_string("cancel"), ngx_string("db_campaign_cancel"), NULL, 0, 1,
      0 }
};


static crm_link_t  crm_campaign_links[] = {
    crm_link("emails", "emails", "campaign_id"),
    crm_link("recipients", "campaign-recipients", "campaign_id")
};


static const char  *crm_recipient_statuses[] = {
    "pending", "rendering", "queued", "sent", "bounced", "failed",
    "suppressed", "unsubscribed", "no_address", "cancelled", NULL
};


/*
 * A campaign's recipient (one per contact: its id is the contact's),
 * listed as GET /campaigns/:id/recipients only
 */

static crm_field_t  crm_recipient_fields[] = {
    crm_fld("id", "contact_id", CRM_FT_UUID, CRM_RO, 0),
    crm_fld("email", "email", CRM_FT_TEXT,
            CRM_F_READONLY|CRM_F_FILTER|CRM_F_ADDRESS, 0),
    crm_enum("status", "status", CRM_RO, crm_recipient_statuses),
    crm_ref("emailId", "email_id", CRM_F_READONLY|CRM_F_FILTER, "emails"),
    crm_common_tail
};


/*
 * The event feed (sql/018_webhooks.sql): written by the writes
 * themselves, read-only here.  Ids are "evt_" + 32 hex digits.
 */

static crm_field_t  crm_event_fields[] = {
    crm_fld("id", "id", CRM_FT_TEXT, CRM_RO, 0),
    crm_fld("type", "type", CRM_FT_TEXT,
            CRM_F_READONLY|CRM_F_FILTER|CRM_F_SORT|CRM_F_NOTNULL, 0),
    crm_fld("sequence", "seq", CRM_FT_INT, CRM_RO, 0),
    crm_fld("recordId", "record_id", CRM_FT_UUID,
            CRM_F_READONLY|CRM_F_FILTER, 0),
    crm_fld("data", "data", CRM_FT_OBJECT, CRM_F_READONLY|CRM_F_NOTNULL, 0),
    crm_fld("createdAt", "created_at", CRM_FT_TIMESTAMP, CRM_RO, 0)
};


/*
 * Webhook subscriptions: the secret is written (made by the server when
 * the body has none, crm_webhooks.c) and never rendered; it is shown
 * once, at creation and by rotate-secret
 */

static crm_field_t  crm_webhook_fields[] = {
    crm_common_head,
    crm_fld("url", "url", CRM_FT_TEXT, CRM_FS|CRM_F_REQUIRED, 2048),
    crm_fld("events", "events", CRM_FT_TEXT_ARRAY,
            CRM_F_REQUIRED|CRM_F_FILTER|CRM_F_NOTNULL, 100),
    crm_fld("active", "active", CRM_FT_BOOL, CRM_FS|CRM_F_NOTNULL, 0),
    crm_fld("description", "description", CRM_FT_TEXT, CRM_F_FILTER, 1000),
    crm_fld("secret", "secret", CRM_FT_TEXT,
            CRM_F_WRITEONLY|CRM_F_CREATEONLY|CRM_F_NOTNULL, 100),
    crm_fld("disabledReason", "disabled_reason", CRM_FT_TEXT,
            CRM_F_READONLY, 0),
    crm_fld("disabledAt", "disabled_at", CRM_FT_TIMESTAMP,
            CRM_F_READONLY|CRM_F_FILTER, 0),
    crm_fld("failingSince", "failing_since", CRM_FT_TIMESTAMP,
            CRM_F_READONLY, 0),
    crm_fld("previousSecretExpiresAt", "previous_secret_until",
            CRM_FT_TIMESTAMP, CRM_F_READONLY, 0),
    crm_common_tail
};


static const char  *crm_delivery_statuses[] = {
    "pending", "sending", "succeeded", "failed", NULL
};


static crm_field_t  crm_delivery_fields[] = {
    crm_common_head,
    crm_ref("webhookId", "webhook_id", CRM_F_READONLY|CRM_F_FILTER, NULL),
    crm_fld("eventId", "event_id", CRM_FT_TEXT,
            CRM_F_READONLY|CRM_F_FILTER, 0),
    crm_fld("eventType", "event_type", CRM_FT_TEXT,
            CRM_F_READONLY|CRM_F_FILTER|CRM_F_SORT, 0),
    crm_enum("status", "status", CRM_RO, crm_delivery_statuses),
    crm_fld("attempts", "attempts", CRM_FT_INT, CRM_RO, 0),
    crm_fld("nextAttemptAt", "next_attempt_at", CRM_FT_TIMESTAMP,
            CRM_F_READONLY|CRM_F_FILTER|CRM_F_SORT, 0),
    crm_fld("responseStatus", "response_status", CRM_FT_INT,
            CRM_F_READONLY|CRM_F_FILTER, 0),
    crm_fld("responseBody", "response_body", CRM_FT_TEXT, CRM_F_READONLY, 0),
    crm_fld("responseTruncated", "response_truncated", CRM_FT_BOOL,
            CRM_F_READONLY|CRM_F_NOTNULL, 0),
    crm_fld("durationMs", "duration_ms", CRM_FT_INT, CRM_F_READONLY, 0),
    crm_fld("lastError", "last_error", CRM_FT_TEXT, CRM_F_READONLY, 0),
    crm_fld("lastAttemptAt", "last_attempt_at", CRM_FT_TIMESTAMP,
            CRM_F_READONLY|CRM_F_SORT, 0),
    crm_fld("deliveredAt", "delivered_at", CRM_FT_TIMESTAMP,
            CRM_F_READONLY|CRM_F_FILTER|CRM_F_SORT, 0),
    crm_common_tail
};


static crm_link_t  crm_webhook_links[] = {
    crm_link("deliveries", "webhook-deliveries", "webhook_id")
};


/*
 * name, table, singular, fields, links, CRM_RES_* flags, and the tenant
 * column ("" = workspace_id); item actions (POST /<name>/:id/<action>)
 * with crm_resource_actions()
 */

#define crm_resource(name, table, singular, fields, links, nlinks, flags,    \
                     tenant)                                                 \
    crm_resource_actions(name, table, singular, fields, links, nlinks,       \
                         flags, tenant, NULL, 0)

#define crm_resource_actions(name, table, singular, fields, links, nlinks,   \
                             flags, tenant, actions, nactions)               \
    crm_resource_checked(name, table, singular, fields, links, nlinks,       \
                         flags, tenant, actions, nactions, NULL)

#define crm_resource_checked(name, table, singular, fields, links, nlinks,   \
                             flags, tenant, actions, nactions, check)        \
    { ngx_string(name), ngx_string(table), ngx_string(singular),             \
      fields, sizeof(fields) / sizeof(crm_field_t), links, nlinks,           \
      ((flags) & CRM_RES_ADMIN) != 0, ((flags) & CRM_RES_IMMUTABLE) != 0,    \
      ((flags) & CRM_RES_CREDENTIAL) != 0, ((flags) & CRM_RES_REVOKES) != 0, \
      ((flags) & CRM_RES_SINGLETON) != 0, ((flags) & CRM_RES_VERSIONED) != 0,\
      ((flags) & CRM_RES_QUEUED) != 0, ((flags) & CRM_RES_EVENTS) != 0,      \
      ((flags) & CRM_RES_READONLY) != 0, ((flags) & CRM_RES_NESTED) != 0,    \
      ((flags) & CRM_RES_HOOKS) != 0, ((flags) & CRM_RES_PREVIEW) != 0,      \
      ((flags) & CRM_RES_FEED) != 0,                                         \
      ngx_string(tenant), actions, nactions, check }


static crm_resource_t  crm_resources[] = {

    crm_resource("contacts", "contacts", "contact", crm_contact_fields,
                 crm_contact_links, crm_nlinks(crm_contact_links),
                 CRM_RES_VERSIONED|CRM_RES_EVENTS, ""),

    crm_resource("companies", "companies", "company", crm_company_fields,
                 crm_company_links, crm_nlinks(crm_company_links),
                 CRM_RES_VERSIONED|CRM_RES_EVENTS, ""),

    crm_resource("pipelines", "pipelines", "pipeline", crm_pipeline_fields,
                 crm_pipeline_links, crm_nlinks(crm_pipeline_links),
                 CRM_RES_VERSIONED|CRM_RES_EVENTS, ""),

    crm_resource("deals", "deals", "deal", crm_deal_fields,
                 crm_deal_links, crm_nlinks(crm_deal_links),
                 CRM_RES_VERSIONED|CRM_RES_EVENTS, ""),

    crm_resource_actions("leads", "leads", "lead", crm_lead_fields,
                         crm_lead_links, crm_nlinks(crm_lead_links),
                         CRM_RES_VERSIONED|CRM_RES_EVENTS, "",
                         crm_lead_actions,
                         sizeof(crm_lead_actions) / sizeof(crm_action_t)),

    crm_resource("activities", "activities", "activity",
                 crm_activity_fields, crm_activity_links,
                 crm_nlinks(crm_activity_links),
                 CRM_RES_VERSIONED|CRM_RES_EVENTS, ""),

    crm_resource("custom-fields", "custom_fields", "custom_field",
                 crm_custom_field_fields, NULL, 0,
                 CRM_RES_ADMIN|CRM_RES_VERSIONED, ""),

    crm_resource("api-keys", "api_keys", "api_key", crm_api_key_fields,
                 NULL, 0,
                 CRM_RES_ADMIN|CRM_RES_IMMUTABLE|CRM_RES_CREDENTIAL
                 |CRM_RES_REVOKES, ""),

    crm_resource_checked("campaigns", "campaigns", "campaign",
                         crm_campaign_fields, crm_campaign_links,
                         crm_nlinks(crm_campaign_links),
                         CRM_RES_VERSIONED|CRM_RES_EVENTS,
                         "", crm_campaign_actions,
                         sizeof(crm_campaign_actions) / sizeof(crm_action_t),
                         NULL),

    crm_resource("campaign-recipients", "campaign_recipients",
                 "campaign_recipient", crm_recipient_fields, NULL, 0,
                 CRM_RES_IMMUTABLE|CRM_RES_NESTED|CRM_RES_PREVIEW, ""),

    crm_resource("emails", "emails", "email", crm_email_fields,
                 NULL, 0, CRM_RES_IMMUTABLE|CRM_RES_QUEUED, ""),

    crm_resource("suppressions", "suppressions", "suppression",
                 crm_suppression_fields, NULL, 0,
                 CRM_RES_ADMIN|CRM_RES_IMMUTABLE, ""),

    crm_resource("events", "events", "event", crm_event_fields,
                 NULL, 0, CRM_RES_READONLY|CRM_RES_FEED, ""),

    crm_resource("webhooks", "webhooks", "webhook", crm_webhook_fields,
                 crm_webhook_links, crm_nlinks(crm_webhook_links),
                 CRM_RES_ADMIN|CRM_RES_VERSIONED|CRM_RES_HOOKS, ""),

    crm_resource("webhook-deliveries", "webhook_deliveries",
                 "webhook_delivery", crm_delivery_fields, NULL, 0,
                 CRM_RES_READONLY|CRM_RES_NESTED, ""),

    crm_resource("users", "users", "user", crm_user_fields,
                 NULL, 0, CRM_RES_ADMIN|CRM_RES_REVOKES|CRM_RES_VERSIONED, ""),

    crm_resource("workspaces", "workspaces", "workspace",
                 crm_workspace_fields, NULL, 0,
                 CRM_RES_ADMIN|CRM_RES_SINGLETON, "id")
};


crm_resource_t *
crm_schema_find(ngx_str_t *name)
{
    ngx_uint_t  i;

    for (i = 0; i < sizeof(crm_resources) / sizeof(crm_resource_t); i++) {
        if (crm_resources[i].name.len == name->len
            && ngx_strncmp(crm_resources[i].name.data, name->data, name->len)
               == 0)
        {
            return &crm_resources[i];
        }
    }

    return NULL;
}


/*
 * A field by its JSON name (camelCase) or by its column name, which is
 * the snake_case spelling: "createdAt" and "created_at" are the same.
 */

crm_field_t *
crm_schema_field(crm_resource_t *res, u_char *name, size_t len)
{
    ngx_uint_t    i;
    crm_field_t  *f;

    for (i = 0; i < res->nfields; i++) {
        f = &res->fields[i];

        if (f->flags & (CRM_F_HIDDEN|CRM_F_WRITEONLY)) {
            continue;
        }

        if ((f->name.len == len && ngx_strncmp(f->name.data, name, len) == 0)
            || (f->column.len == len
                && ngx_strncmp(f->column.data, name, len) == 0))
        {
            return f;
        }
    }

    return NULL;
}


crm_action_t *
crm_schema_action(crm_resource_t *res, ngx_str_t *name)
{
    ngx_uint_t  i;

    for (i = 0; i < res->nactions; i++) {
        if (res->actions[i].name.len == name->len
            && ngx_strncmp(res->actions[i].name.data, name->data, name->len)
               == 0)
        {
            return &res->actions[i];
        }
    }

    return NULL;
}


crm_link_t *
crm_schema_link(crm_resource_t *res, ngx_str_t *name)
{
    ngx_uint_t  i;

    for (i = 0; i < res->nlinks; i++) {
        if (res->links[i].name.len == name->len
            && ngx_strncmp(res->links[i].name.data, name->data, name->len)
               == 0)
        {
            return &res->links[i];
        }
    }

    return NULL;
}


ngx_uint_t
crm_schema_field_index(crm_resource_t *res, crm_field_t *f)
{
    return (ngx_uint_t) (f - res->fields);
}


/* every resource: the table itself, *n of them */

crm_resource_t *
crm_schema_all(ngx_uint_t *n)
{
    *n = sizeof(crm_resources) / sizeof(crm_resource_t);

    return crm_resources;
}


/*
 * The resource of an event pattern's kind ("contact" of "contact.*"): a
 * resource whose writes publish events, the emails or the webhook
 * subscriptions; NULL for "*" and for a kind that has no events
 */

crm_resource_t *
crm_schema_event_kind(u_char *p, size_t len)
{
    u_char      *dot;
    ngx_uint_t   k, n;

    dot = ngx_strlchr(p, p + len, '.');
    len = (dot != NULL) ? (size_t) (dot - p) : len;

    n = sizeof(crm_resources) / sizeof(crm_resource_t);

    for (k = 0; k < n; k++) {
        if (crm_resources[k].singular.len == len
            && ngx_strncmp(crm_resources[k].singular.data, p, len) == 0
            && crm_schema_has_events(&crm_resources[k]))
        {
            return &crm_resources[k];
        }
    }

    return NULL;
}


/*
 * A kind of event: a resource whose writes publish events, the emails
 * (email.sent, ...) or the webhook subscriptions (webhook.disabled)
 */

ngx_uint_t
crm_schema_has_events(crm_resource_t *res)
{
    return res->events || res->queued || res->hooks;
}


/* a resource with custom fields (a customFields field) */

ngx_uint_t
crm_schema_custom(crm_resource_t *res)
{
    return crm_schema_field(res, (u_char *) "customFields",
                            sizeof("customFields") - 1)
           != NULL;
}


/*
 * A resource's custom-field definitions ("definitions", a JSON array
 * of {"name", "type", "options"}, as crm_sql_custom_fields() reads them;
 * NULL: none) as fields the query parser knows:
 * "customFields.<name>", filterable and sortable, typed, the column an
 * expression on custom_fields.  The name becomes SQL text: it is checked
 * again here against the database's own rule (letters, digits and "_",
 * starting with a letter), and a definition that fails it is left out.
 */

ngx_int_t
crm_schema_custom_fields(ngx_pool_t *pool, void *definitions,
    crm_field_t **out, ngx_uint_t *n)
{
    size_t        i;
    json_t       *defs, *def;
    crm_field_t  *f;

    *out = NULL;
    *n = 0;

    defs = definitions;

    if (defs == NULL || json_array_size(defs) == 0) {
        return NGX_OK;
    }

    f = ngx_pcalloc(pool, json_array_size(defs) * sizeof(crm_field_t));
    if (f == NULL) {
        return NGX_ERROR;
    }

    json_array_foreach(defs, i, def) {
        switch (crm_schema_custom_field(pool, def, &f[*n])) {

        case NGX_OK:
            (*n)++;
            break;

        case NGX_DECLINED:
            break;

        default:
            return NGX_ERROR;
        }
    }

    *out = f;

    return NGX_OK;
}


static ngx_int_t
crm_schema_custom_field(ngx_pool_t *pool, json_t *def, crm_field_t *f)
{
    u_char       *p;
    size_t        i, len;
    json_t       *options, *o;
    const char   *name, *type, *expr, **values;

    name = json_string_value(json_object_get(def, "name"));
    type = json_string_value(json_object_get(def, "type"));

    if (name == NULL || type == NULL
        || crm_schema_custom_name_valid(name) != NGX_OK)
    {
        return NGX_DECLINED;
    }

    /*
     * A typed value is read only when the stored JSON has that type: a
     * definition deleted and made again with another type leaves the
     * old values (strings under a number), which are then NULL, not an
     * error of every filter and sort on the field
     */

    expr = "((custom_fields ->> '%s'))%Z";

    if (ngx_strcmp(type, "number") == 0) {
        f->type = CRM_FT_NUMERIC;
        expr = "(CASE WHEN jsonb_typeof(custom_fields -> '%s') = 'number'"
               " THEN (custom_fields ->> '%s')::numeric END)%Z";

    } else if (ngx_strcmp(type, "boolean") == 0) {
        f->type = CRM_FT_BOOL;
        expr = "(CASE WHEN jsonb_typeof(custom_fields -> '%s') = 'boolean'"
               " THEN (custom_fields ->> '%s')::boolean END)%Z";

    } else if (ngx_strcmp(type, "date") == 0) {
        f->type = CRM_FT_DATE;
        expr = "(CASE WHEN db_custom_date_valid(custom_fields -> '%s')"
               " THEN (custom_fields ->> '%s')::date END)%Z";

    } else if (ngx_strcmp(type, "select") == 0) {
        f->type = CRM_FT_ENUM;

        options = json_object_get(def, "options");

        values = ngx_pcalloc(pool, (json_array_size(options) + 1)
                                   * sizeof(char *));
        if (values == NULL) {
            return NGX_ERROR;
        }

        json_array_foreach(options, i, o) {
            len = json_string_length(o);

            p = ngx_pnalloc(pool, len + 1);
            if (p == NULL) {
                return NGX_ERROR;
            }

            ngx_memcpy(p, json_string_value(o), len);
            p[len] = '\0';
            values[i] = (char *) p;
        }

        f->enum_values = values;

    } else {
        f->type = CRM_FT_TEXT;
    }

    len = ngx_strlen(name);

    f->name.len = sizeof("customFields.") - 1 + len;
    f->name.data = ngx_pnalloc(pool, f->name.len);

    f->column.data = ngx_pnalloc(pool, ngx_strlen(expr) + 2 * len + 1);

    if (f->name.data == NULL || f->column.data == NULL) {
        return NGX_ERROR;
    }

    ngx_sprintf(f->name.data, "customFields.%s", name);
    f->column.len = ngx_sprintf(f->column.data, expr, name, name)
                    - f->column.data - 1;

    f->flags = CRM_F_FILTER|CRM_F_SORT|CRM_F_EXPR;

    return NGX_OK;
}


static ngx_int_t
crm_schema_custom_name_valid(const char *name)
{
    size_t  i, len;

    len = ngx_strlen(name);

    if (len == 0 || len > CRM_CUSTOM_NAME_MAX
        || !((name[0] >= 'a' && name[0] <= 'z')
             || (name[0] >= 'A' && name[0] <= 'Z')))
    {
        return NGX_DECLINED;
    }

    for (i = 1; i < len; i++) {
        if (!((name[i] >= 'a' && name[i] <= 'z')
              || (name[i] >= 'A' && name[i] <= 'Z')
              || (name[i] >= '0' && name[i] <= '9') || name[i] == '_'))
        {
            return NGX_DECLINED;
        }
    }

    return NGX_OK;
}
