-- Core tables: workspaces, companies, contacts.
--
-- Every tenant table's primary key leads with workspace_id, so that the
-- tables can later be distributed by workspace.  References between
-- tenant tables are composite (workspace_id, id), so that no row can
-- point into another workspace.  Rows are soft-deleted (deleted_at).

CREATE TABLE workspaces (
    id              uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    name            text        NOT NULL,
    settings        jsonb       NOT NULL DEFAULT '{}',
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    deleted_at      timestamptz
);

CREATE TABLE companies (
    workspace_id    uuid        NOT NULL REFERENCES workspaces (id),
    id              uuid        NOT NULL DEFAULT gen_random_uuid(),
    name            text        NOT NULL,
    domain          text,
    website         text,
    industry        text,
    employees       bigint,
    annual_revenue  numeric,
    phone           text,
    address         jsonb,
    owner_id        uuid,
    custom_fields   jsonb       NOT NULL DEFAULT '{}',
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    deleted_at      timestamptz,
    PRIMARY KEY (workspace_id, id)
);

CREATE INDEX companies_created ON companies (workspace_id, created_at, id)
    WHERE deleted_at IS NULL;
CREATE INDEX companies_name ON companies (workspace_id, name, id)
    WHERE deleted_at IS NULL;

CREATE TABLE contacts (
    workspace_id    uuid        NOT NULL REFERENCES workspaces (id),
    id              uuid        NOT NULL DEFAULT gen_random_uuid(),
    first_name      text,
    last_name       text,
    email           text,
    phone           text,
    title           text,
    company_id      uuid,
    owner_id        uuid,
    status          text        DEFAULT 'active',
    source          text,
    tags            text[]      NOT NULL DEFAULT '{}',
    custom_fields   jsonb       NOT NULL DEFAULT '{}',
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    deleted_at      timestamptz,
    PRIMARY KEY (workspace_id, id),
    CONSTRAINT contacts_company_id_fk FOREIGN KEY (workspace_id, company_id)
        REFERENCES companies (workspace_id, id)
);

-- constraint and index names are <table>_<column>_<kind>: the module
-- maps a violation back to the field through that name
CREATE UNIQUE INDEX contacts_email_live ON contacts (workspace_id, lower(email))
    WHERE deleted_at IS NULL AND email IS NOT NULL;
CREATE INDEX contacts_created ON contacts (workspace_id, created_at, id)
    WHERE deleted_at IS NULL;
CREATE INDEX contacts_company ON contacts (workspace_id, company_id)
    WHERE deleted_at IS NULL;
