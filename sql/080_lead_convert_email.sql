-- A converted lead's contact has an email (found by probing the running
-- API: a lead without one, converted with {}, made a contact without
-- one, which POST and PUT /contacts refuse).  db_lead_convert() as in
-- 006_leads.sql, with its email checked before anything is written:
-- 422 on contact.email, required.

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

    IF v_name IS NOT NULL THEN
        INSERT INTO companies (workspace_id, name, industry)
        VALUES (p_workspace, v_name, l.industry)
        RETURNING id INTO v_company;
    END IF;

    INSERT INTO contacts (workspace_id, first_name, last_name, email, phone,
                          company_id, source, status)
    VALUES (p_workspace,
            coalesce(v_c ->> 'firstName', l.first_name),
            coalesce(v_c ->> 'lastName', l.last_name),
            v_email, l.phone, v_company, l.source, 'prospect')
    RETURNING id INTO v_contact;

    IF jsonb_typeof(v_d) = 'object' THEN
        INSERT INTO deals (workspace_id, name, amount, currency, pipeline_id,
                           stage, company_id)
        VALUES (p_workspace,
                coalesce(v_d ->> 'name',
                         coalesce(v_name, l.last_name, l.email) || ' deal'),
                (v_d ->> 'amount')::numeric, v_d ->> 'currency',
                (v_d ->> 'pipelineId')::uuid, v_d ->> 'stage', v_company)
        RETURNING id INTO v_deal;
    END IF;

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

