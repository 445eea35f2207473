-- Search: q= on every list and GET /search across resources.
--
-- A record's searchable fields (the descriptors' CRM_F_SEARCH fields, in
-- descriptor order) are joined into one text, crm_doc(...), and matched
-- three ways, each backed by an index on that same expression:
--   crm_doc(...) ILIKE '%q%'              a substring (trigram GIN)
--   q <% crm_doc(...)                     a word like q, typos allowed
--                                         (trigram word similarity)
--   to_tsvector('simple', crm_doc(...))
--       @@ plainto_tsquery('simple', q)   all of q's words, any order
-- The planner (src/crm_sql.c, crm_sql_search) writes the same
-- expressions; t/130-search.t checks that every searchable resource has
-- both indexes on exactly its planner's expression.

CREATE EXTENSION IF NOT EXISTS pg_trgm;

-- the fields, NULLs skipped, separated by spaces; immutable (text in,
-- text out) so that it can be indexed
CREATE FUNCTION crm_doc(VARIADIC p_fields text[]) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT array_to_string(p_fields, ' ');
$$;

CREATE INDEX contacts_search ON contacts
    USING gin (crm_doc(first_name, last_name, email, phone) gin_trgm_ops)
    WHERE deleted_at IS NULL;
CREATE INDEX contacts_fts ON contacts
    USING gin (to_tsvector('simple',
                           crm_doc(first_name, last_name, email, phone)))
    WHERE deleted_at IS NULL;

CREATE INDEX companies_search ON companies
    USING gin (crm_doc(name, domain) gin_trgm_ops)
    WHERE deleted_at IS NULL;
CREATE INDEX companies_fts ON companies
    USING gin (to_tsvector('simple', crm_doc(name, domain)))
    WHERE deleted_at IS NULL;

CREATE INDEX pipelines_search ON pipelines
    USING gin (crm_doc(name) gin_trgm_ops)
    WHERE deleted_at IS NULL;
CREATE INDEX pipelines_fts ON pipelines
    USING gin (to_tsvector('simple', crm_doc(name)))
    WHERE deleted_at IS NULL;

CREATE INDEX deals_search ON deals
    USING gin (crm_doc(name) gin_trgm_ops)
    WHERE deleted_at IS NULL;
CREATE INDEX deals_fts ON deals
    USING gin (to_tsvector('simple', crm_doc(name)))
    WHERE deleted_at IS NULL;

CREATE INDEX leads_search ON leads
    USING gin (crm_doc(first_name, last_name, email, phone, company_name)
               gin_trgm_ops)
    WHERE deleted_at IS NULL;
CREATE INDEX leads_fts ON leads
    USING gin (to_tsvector('simple',
                           crm_doc(first_name, last_name, email, phone,
                                   company_name)))
    WHERE deleted_at IS NULL;

CREATE INDEX activities_search ON activities
    USING gin (crm_doc(subject) gin_trgm_ops)
    WHERE deleted_at IS NULL;
CREATE INDEX activities_fts ON activities
    USING gin (to_tsvector('simple', crm_doc(subject)))
    WHERE deleted_at IS NULL;

CREATE INDEX api_keys_search ON api_keys
    USING gin (crm_doc(name) gin_trgm_ops)
    WHERE deleted_at IS NULL;
CREATE INDEX api_keys_fts ON api_keys
    USING gin (to_tsvector('simple', crm_doc(name)))
    WHERE deleted_at IS NULL;

CREATE INDEX users_search ON users
    USING gin (crm_doc(email, name) gin_trgm_ops)
    WHERE deleted_at IS NULL;
CREATE INDEX users_fts ON users
    USING gin (to_tsvector('simple', crm_doc(email, name)))
    WHERE deleted_at IS NULL;
