-- A lead's conversion (found by probing the running API): the deal it
-- made was not linked to the contact it made (contactIds []); a deal
-- named after the lead's email when the body gave the contact another;
-- and, once a kind had a required custom field, no conversion could
-- make that record, since the body took no customFields.  Now each part
-- takes customFields (checked by db_custom_fields_check(), its errors
-- named "deal.customFields.<name>" as the body names them), the deal
-- has the new contact among its contactIds, and a deal without a name
-- is named after the company, else the contact as made.  db_lead_convert()
-- as in 080_lead_convert_email.sql otherwise.

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
                                v_message = MESSAGE_TEXT;
        RAISE EXCEPTION '%', v_message
            USING ERRCODE = 'CR422',
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

