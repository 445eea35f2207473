-- Leads, and their conversion into a contact (+ company, + deal) in one
-- transaction: one function call.

CREATE TABLE leads (
    workspace_id          uuid        NOT NULL REFERENCES workspaces (id),
    id                    uuid        NOT NULL DEFAULT gen_random_uuid(),
    first_name            text,
    last_name             text,
    email                 text,
    phone                 text,
    company_name          text,
    industry              text,
    source                text,
    status                text        NOT NULL DEFAULT 'new',
    converted_at          timestamptz,
    converted_contact_id  uuid,
    converted_company_id  uuid,
    converted_deal_id     uuid,
    custom_fields         jsonb       NOT NULL DEFAULT '{}',
    version               integer     NOT NULL DEFAULT 1,
    created_at            timestamptz NOT NULL DEFAULT now(),
    updated_at            timestamptz NOT NULL DEFAULT now(),
    deleted_at            timestamptz,
    PRIMARY KEY (workspace_id, id)
);

CREATE INDEX leads_created ON leads (workspace_id, created_at, id)
    WHERE deleted_at IS NULL;

-- crm_lead_convert(workspace, lead, options): options (all optional)
--   {"contact": {"firstName", "lastName", "email"},   overrides the lead's
--    "company": {"name"} | false,  default: the lead's companyName if any
--    "deal": {"name", "amount", "currency", "pipelineId", "stage"}}
-- Returns {"leadId", "contactId", "companyId", "dealId"} (null where none
-- was made), NULL when the lead does not exist in the workspace.  A lead
-- converted before raises SQLSTATE CR409 (the API's 409 INVALID_STATE).
-- The inserts go through the tables' own constraints and triggers.
CREATE FUNCTION crm_lead_convert(p_workspace uuid, p_lead uuid,
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
            coalesce(v_c ->> 'email', l.email),
            l.phone, v_company, l.source, 'prospect')
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
