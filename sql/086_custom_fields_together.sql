-- Custom fields: every problem of a record's customFields at once, and the
-- codes of the ordinary fields' checks.
--
-- sql/055's trigger raised the first problem only, so a body with two bad
-- custom values named one, and its client learnt of the second on its next
-- try.  db_custom_problems() now lists them all, as a JSON array of
-- {"field", "code", "message"} in the order sql/055 chose the first by
-- (undefined keys by name, then definitions by name); the trigger raises
-- the first as before (SQLSTATE CR422, COLUMN, CONSTRAINT, MESSAGE) with
-- the whole array as its DETAIL, which the module turns into
-- details.fields[] (crm_exec.c).  The module also calls the function
-- itself when a body's ordinary fields are refused before any write, so
-- that their errors and the custom fields' come in one answer.
--
-- The codes follow the ordinary fields' (src/model/crm_validate.c): a
-- value that is not a string where one is wanted is invalid_type; a
-- string that is no date is invalid_format; a text over 10000 characters
-- is too_long.  sql/055 said invalid_type for all three.


-- a value's problem under its definition: {code, message}, or NULL when
-- the value is fine (none of these raises: the date's cast is inside
-- db_custom_date_valid())

CREATE FUNCTION db_custom_problem(p_type text, p_options jsonb,
                                  p_value jsonb)
RETURNS text[]
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE p_type
           WHEN 'text' THEN
               CASE WHEN jsonb_typeof(p_value) <> 'string'
                    THEN ARRAY['invalid_type', 'must be a string']
                    WHEN length(p_value #>> '{}') > 10000
                    THEN ARRAY['too_long',
                               'must be at most 10000 characters']
                    END
           WHEN 'number' THEN
               CASE WHEN jsonb_typeof(p_value) <> 'number'
                    THEN ARRAY['invalid_type', 'must be a number']
                    END
           WHEN 'boolean' THEN
               CASE WHEN jsonb_typeof(p_value) <> 'boolean'
                    THEN ARRAY['invalid_type', 'must be a boolean']
                    END
           WHEN 'date' THEN
               CASE WHEN jsonb_typeof(p_value) <> 'string'
                    THEN ARRAY['invalid_type',
                               'must be a date string (YYYY-MM-DD)']
                    WHEN NOT db_custom_date_valid(p_value)
                    THEN ARRAY['invalid_format',
                               'must be a date (YYYY-MM-DD)']
                    END
           WHEN 'select' THEN
               CASE WHEN jsonb_typeof(p_value) <> 'string'
                         OR NOT p_options @> p_value
                    THEN ARRAY['invalid_value',
                               'must be one of ' || p_options::text]
                    END
           ELSE ARRAY['invalid_value', 'the field''s type is unknown']
           END;
$$;


-- every problem of p_values (a record's customFields, nulls dropped) as
-- customFields of p_object in p_workspace: a JSON array, or NULL

CREATE FUNCTION db_custom_problems(p_workspace uuid, p_object text,
                                   p_values jsonb)
RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN (
    SELECT jsonb_agg(jsonb_build_object('field', 'customFields.' || p.name,
                                        'code', p.problem[1],
                                        'message', p.problem[2])
                     ORDER BY p.defined, p.name)
      FROM (SELECT coalesce(c.name, k.key) AS name,
                   c.name IS NOT NULL AS defined,
                   CASE WHEN c.name IS NULL
                        THEN ARRAY['unknown_field',
                                   'is not a custom field of ' || p_object]
                        WHEN k.value IS NULL
                        THEN ARRAY['required', 'is required']
                        ELSE db_custom_problem(c.type, c.options, k.value)
                        END AS problem
              FROM (SELECT f.name, f.type, f.options, f.required
                      FROM custom_fields f
                     WHERE f.workspace_id = p_workspace
                       AND f.object = p_object
                       AND f.deleted_at IS NULL) c
              FULL JOIN jsonb_each(jsonb_strip_nulls(p_values)) k
                ON k.key = c.name
             WHERE c.name IS NULL OR k.value IS NOT NULL OR c.required) p
     WHERE p.problem IS NOT NULL);
END
$$;


-- BEFORE INSERT OR UPDATE of a table with custom_fields; TG_ARGV[0] is
-- the resource ("contacts").  Nulls are dropped (a null is no value).

CREATE OR REPLACE FUNCTION db_custom_fields_check() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    v_problems  jsonb;
BEGIN
    IF TG_OP = 'UPDATE'
       AND NEW.custom_fields IS NOT DISTINCT FROM OLD.custom_fields
    THEN
        RETURN NEW;
    END IF;

    NEW.custom_fields := jsonb_strip_nulls(NEW.custom_fields);

    v_problems := db_custom_problems(NEW.workspace_id, TG_ARGV[0],
                                     NEW.custom_fields);

    IF v_problems IS NULL THEN
        RETURN NEW;
    END IF;

    RAISE EXCEPTION '%', v_problems -> 0 ->> 'message'
        USING ERRCODE = 'CR422', COLUMN = v_problems -> 0 ->> 'field',
              CONSTRAINT = v_problems -> 0 ->> 'code',
              DETAIL = v_problems::text;
END
$$;


-- sql/018's db_bulk(), an operation's error with its DETAIL too (the
-- custom fields' problems: crm_bulk.c reads "detail")

CREATE OR REPLACE FUNCTION db_bulk(p_workspace uuid, p_ops jsonb,
    p_atomic boolean)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE SECURITY INVOKER
AS $$
DECLARE
    v_op         jsonb;
    v_params     text[];
    v_cols       text[];
    v_row        record;
    v_n          bigint;
    v_results    jsonb := '[]';
    v_failed     boolean := false;
    v_rolled     boolean := false;
    v_state      text;
    v_message    text;
    v_constraint text;
    v_column     text;
    v_detail     text;
BEGIN
    BEGIN
        FOR v_op IN SELECT value FROM jsonb_array_elements(p_ops)
                    WITH ORDINALITY AS o (value, n) ORDER BY n
        LOOP
            v_params := ARRAY(SELECT e
                                FROM jsonb_array_elements_text(v_op -> 'params')
                                     WITH ORDINALITY AS x (e, n)
                               ORDER BY n);

            IF v_params[1] IS DISTINCT FROM p_workspace::text THEN
                RAISE EXCEPTION 'crm_bulk: a statement for another workspace';
            END IF;

            BEGIN
                EXECUTE (v_op ->> 'sql') INTO v_row USING v_params;
                GET DIAGNOSTICS v_n = ROW_COUNT;

                IF v_n > 0 THEN
                    v_cols := ARRAY(SELECT value FROM
                                    json_each_text(row_to_json(v_row)));
                ELSE
                    v_cols := NULL;
                    v_failed := true;
                END IF;

                v_results := v_results
                             || jsonb_build_object('cols', to_jsonb(v_cols));

            EXCEPTION WHEN OTHERS THEN
                GET STACKED DIAGNOSTICS
                    v_state = RETURNED_SQLSTATE,
                    v_message = MESSAGE_TEXT,
                    v_constraint = CONSTRAINT_NAME,
                    v_column = COLUMN_NAME,
                    v_detail = PG_EXCEPTION_DETAIL;

                v_failed := true;
                v_results := v_results || jsonb_build_object('error',
                    jsonb_build_object('state', v_state,
                                       'message', v_message,
                                       'constraint', nullif(v_constraint, ''),
                                       'column', nullif(v_column, ''),
                                       'detail', nullif(v_detail, '')));
            END;

            IF p_atomic AND v_failed THEN
                RAISE EXCEPTION USING ERRCODE = 'CR000';
            END IF;
        END LOOP;

    EXCEPTION WHEN SQLSTATE 'CR000' THEN
        v_rolled := true;
    END;

    RETURN jsonb_build_object('rolledBack', v_rolled, 'results', v_results);
END
$$;


-- sql/085's db_lead_convert(), a part's custom-field error raised again
-- with its DETAIL (every problem; the module puts the part's name before
-- each field, as before the first)

CREATE OR REPLACE FUNCTION db_lead_convert(p_workspace uuid, p_lead uuid,
                                           p_options jsonb)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE SECURITY INVOKER
AS $$
DECLARE
    l          leads%ROWTYPE;
    v_contact  uuid;
    v_company  uuid;
    v_deal     uuid;
    v_opts     jsonb := coalesce(p_options, '{}');
    v_c        jsonb := coalesce(v_opts -> 'contact', '{}');
    v_d        jsonb := v_opts -> 'deal';
    v_name     text;
    v_email    text;
    v_part     text;
    v_column   text;
    v_code     text;
    v_message  text;
    v_detail   text;
BEGIN
    SELECT * INTO l FROM leads
     WHERE workspace_id = p_workspace AND id = p_lead
       AND deleted_at IS NULL
       FOR UPDATE;

    IF NOT FOUND THEN
        RETURN NULL;
    END IF;

    IF l.status = 'converted' THEN
        RAISE EXCEPTION 'the lead was converted already'
            USING ERRCODE = 'CR409';
    END IF;

    -- a contact has an address (docs/API.md): the body's or the lead's
    v_email := coalesce(v_c ->> 'email', l.email);

    IF v_email IS NULL THEN
        RAISE EXCEPTION 'the lead has no email: send contact.email'
            USING ERRCODE = 'CR422', COLUMN = 'contact.email',
                  CONSTRAINT = 'required';
    END IF;

    IF jsonb_typeof(v_opts -> 'company') = 'object' THEN
        v_name := v_opts -> 'company' ->> 'name';
    ELSIF (v_opts -> 'company') IS NULL THEN
        v_name := l.company_name;
    END IF;

    BEGIN
        v_part := 'company';

        IF v_name IS NOT NULL THEN
            INSERT INTO companies (workspace_id, name, industry,
                                   custom_fields)
            VALUES (p_workspace, v_name, l.industry,
                    coalesce(v_opts -> 'company' -> 'customFields', '{}'))
            RETURNING id INTO v_company;
        END IF;

        v_part := 'contact';

        INSERT INTO contacts (workspace_id, first_name, last_name, email,
                              phone, company_id, source, status,
                              custom_fields)
        VALUES (p_workspace,
                coalesce(v_c ->> 'firstName', l.first_name),
                coalesce(v_c ->> 'lastName', l.last_name),
                v_email, l.phone, v_company, l.source, 'prospect',
                coalesce(v_c -> 'customFields', '{}'))
        RETURNING id INTO v_contact;

        v_part := 'deal';

        IF jsonb_typeof(v_d) = 'object' THEN
            INSERT INTO deals (workspace_id, name, amount, currency,
                               pipeline_id, stage, company_id, contact_ids,
                               custom_fields)
            VALUES (p_workspace,
                    coalesce(v_d ->> 'name',
                             coalesce(v_name, v_c ->> 'lastName',
                                      l.last_name, v_email) || ' deal'),
                    (v_d ->> 'amount')::numeric, v_d ->> 'currency',
                    (v_d ->> 'pipelineId')::uuid, v_d ->> 'stage', v_company,
                    ARRAY[v_contact],
                    coalesce(v_d -> 'customFields', '{}'))
            RETURNING id INTO v_deal;
        END IF;

    EXCEPTION WHEN SQLSTATE 'CR422' THEN
        -- a custom field's error names its field as the body does
        GET STACKED DIAGNOSTICS v_column = COLUMN_NAME,
                                v_code = CONSTRAINT_NAME,
                                v_message = MESSAGE_TEXT,
                                v_detail = PG_EXCEPTION_DETAIL;
        RAISE EXCEPTION '%', v_message
            USING ERRCODE = 'CR422', DETAIL = v_detail,
                  COLUMN = v_part || coalesce('.' || nullif(v_column, ''),
                                              ''),
                  CONSTRAINT = coalesce(nullif(v_code, ''),
                                        'invalid_value');
    END;

    UPDATE leads
       SET status = 'converted', converted_at = now(),
           converted_contact_id = v_contact,
           converted_company_id = v_company,
           converted_deal_id = v_deal,
           version = version + 1, updated_at = now()
     WHERE workspace_id = p_workspace AND id = p_lead;

    RETURN jsonb_build_object('leadId', p_lead, 'contactId', v_contact,
                              'companyId', v_company, 'dealId', v_deal);
END
$$;
