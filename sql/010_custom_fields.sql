-- Custom fields: per workspace and resource, admins define the keys of
-- a record's customFields, their type and whether they are required.
--
-- Values are checked here, in a trigger of every table with
-- custom_fields, so that every write path (single routes, bulk, lead
-- conversion) obeys the definitions in force when it commits.  A value
-- that breaks them raises SQLSTATE CR422 with COLUMN = the field's path
-- ("customFields.budget"), CONSTRAINT = the error code and the message
-- for the client; the module answers 422 VALIDATION_FAILED with it.

CREATE FUNCTION crm_select_options_valid(p_options jsonb) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
    SELECT NOT EXISTS (SELECT 1 FROM jsonb_array_elements(p_options) AS o
                        WHERE jsonb_typeof(o) <> 'string'
                           OR length(o #>> '{}') NOT BETWEEN 1 AND 200)
       AND (SELECT count(DISTINCT o) = count(*)
              FROM jsonb_array_elements(p_options) AS o);
$$;

CREATE TABLE custom_fields (
    workspace_id    uuid        NOT NULL REFERENCES workspaces (id),
    id              uuid        NOT NULL DEFAULT gen_random_uuid(),
    object          text        NOT NULL
        CONSTRAINT custom_fields_object_check
        CHECK (object IN ('contacts', 'companies', 'deals', 'leads',
                          'activities')),
    name            text        NOT NULL
        CONSTRAINT custom_fields_name_check
        CHECK (name ~ '^[a-zA-Z][a-zA-Z0-9_]{0,62}$'),
    label           text,
    type            text        NOT NULL
        CONSTRAINT custom_fields_type_check
        CHECK (type IN ('text', 'number', 'boolean', 'date', 'select')),
    options         jsonb       NOT NULL DEFAULT '[]',
    required        boolean     NOT NULL DEFAULT false,
    version         integer     NOT NULL DEFAULT 1,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    deleted_at      timestamptz,
    PRIMARY KEY (workspace_id, id),
    -- select: 1..100 distinct non-empty strings; other types: none
    CONSTRAINT custom_fields_options_check CHECK (
        CASE WHEN type = 'select'
             THEN jsonb_typeof(options) = 'array'
                  AND jsonb_array_length(options) BETWEEN 1 AND 100
                  AND crm_select_options_valid(options)
             ELSE options = '[]'::jsonb
        END)
);

CREATE UNIQUE INDEX custom_fields_name_key ON custom_fields
    (workspace_id, object, name) WHERE deleted_at IS NULL;
CREATE INDEX custom_fields_created ON custom_fields
    (workspace_id, created_at, id) WHERE deleted_at IS NULL;

-- a value of a custom field of type p_type (and options): well-formed?
CREATE FUNCTION crm_custom_value_valid(p_type text, p_options jsonb,
                                       p_value jsonb)
RETURNS boolean
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    CASE p_type
    WHEN 'text' THEN
        RETURN jsonb_typeof(p_value) = 'string'
           AND length(p_value #>> '{}') <= 10000;
    WHEN 'number' THEN
        RETURN jsonb_typeof(p_value) = 'number';
    WHEN 'boolean' THEN
        RETURN jsonb_typeof(p_value) = 'boolean';
    WHEN 'date' THEN
        IF jsonb_typeof(p_value) <> 'string'
           OR (p_value #>> '{}') !~ '^\d{4}-\d{2}-\d{2}$'
        THEN
            RETURN false;
        END IF;

        RETURN to_char((p_value #>> '{}')::date, 'YYYY-MM-DD')
               = (p_value #>> '{}');
    WHEN 'select' THEN
        RETURN jsonb_typeof(p_value) = 'string' AND p_options @> p_value;
    ELSE
        RETURN false;
    END CASE;
EXCEPTION WHEN data_exception THEN
    RETURN false;
END
$$;

-- BEFORE INSERT OR UPDATE of a table with custom_fields; TG_ARGV[0] is
-- the resource ("contacts").  Nulls are dropped (a null is no value).
CREATE FUNCTION crm_custom_fields_check() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    d       record;
    v_key   text;
    v_value jsonb;
BEGIN
    IF TG_OP = 'UPDATE'
       AND NEW.custom_fields IS NOT DISTINCT FROM OLD.custom_fields
    THEN
        RETURN NEW;
    END IF;

    NEW.custom_fields := jsonb_strip_nulls(NEW.custom_fields);

    SELECT k INTO v_key
      FROM jsonb_object_keys(NEW.custom_fields) AS k
     WHERE NOT EXISTS (SELECT 1 FROM custom_fields c
                        WHERE c.workspace_id = NEW.workspace_id
                          AND c.object = TG_ARGV[0] AND c.name = k
                          AND c.deleted_at IS NULL)
     ORDER BY k
     LIMIT 1;

    IF FOUND THEN
        RAISE EXCEPTION 'is not a custom field of %', TG_ARGV[0]
            USING ERRCODE = 'CR422', COLUMN = 'customFields.' || v_key,
                  CONSTRAINT = 'unknown_field';
    END IF;

    FOR d IN SELECT name, type, options, required FROM custom_fields
              WHERE workspace_id = NEW.workspace_id
                AND object = TG_ARGV[0] AND deleted_at IS NULL
              ORDER BY name
    LOOP
        v_value := NEW.custom_fields -> d.name;

        IF v_value IS NULL THEN
            IF d.required THEN
                RAISE EXCEPTION 'is required'
                    USING ERRCODE = 'CR422',
                          COLUMN = 'customFields.' || d.name,
                          CONSTRAINT = 'required';
            END IF;

            CONTINUE;
        END IF;

        IF NOT crm_custom_value_valid(d.type, d.options, v_value) THEN
            RAISE EXCEPTION '%',
                CASE d.type
                WHEN 'text' THEN 'must be a string of at most 10000 characters'
                WHEN 'number' THEN 'must be a number'
                WHEN 'boolean' THEN 'must be a boolean'
                WHEN 'date' THEN 'must be a date string (YYYY-MM-DD)'
                ELSE 'must be one of ' || d.options::text
                END
                USING ERRCODE = 'CR422', COLUMN = 'customFields.' || d.name,
                      CONSTRAINT = CASE d.type WHEN 'select'
                                   THEN 'invalid_value'
                                   ELSE 'invalid_type' END;
        END IF;
    END LOOP;

    RETURN NEW;
END
$$;

CREATE TRIGGER contacts_custom_fields BEFORE INSERT OR UPDATE ON contacts
    FOR EACH ROW EXECUTE FUNCTION crm_custom_fields_check('contacts');
CREATE TRIGGER companies_custom_fields BEFORE INSERT OR UPDATE ON companies
    FOR EACH ROW EXECUTE FUNCTION crm_custom_fields_check('companies');
CREATE TRIGGER deals_custom_fields BEFORE INSERT OR UPDATE ON deals
    FOR EACH ROW EXECUTE FUNCTION crm_custom_fields_check('deals');
CREATE TRIGGER leads_custom_fields BEFORE INSERT OR UPDATE ON leads
    FOR EACH ROW EXECUTE FUNCTION crm_custom_fields_check('leads');
CREATE TRIGGER activities_custom_fields BEFORE INSERT OR UPDATE ON activities
    FOR EACH ROW EXECUTE FUNCTION crm_custom_fields_check('activities');
