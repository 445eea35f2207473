-- Lists in their default order read their index in order (issue 15).
--
-- A list's default order is -createdAt with the id ascending as the
-- final tiebreaker (docs/API.md, "Sorting"): ORDER BY created_at DESC
-- NULLS FIRST, id ASC NULLS LAST.  The <table>_created indexes were
-- (workspace_id, created_at, id): read backwards they give created_at
-- DESC but id DESC too, so every page went through an Incremental Sort
-- of the rows of each created_at.  With created_at DESC in the index a
-- forward scan gives the default order and a backward scan the order of
-- a backward page (created_at ASC NULLS LAST, id DESC NULLS FIRST);
-- sort=createdAt (ascending) takes the Incremental Sort instead.  The
-- indexes are replaced, not added: an insert maintains as many as
-- before.

DROP INDEX companies_created;
CREATE INDEX companies_created ON companies
    (workspace_id, created_at DESC, id)
    WHERE deleted_at IS NULL;

DROP INDEX contacts_created;
CREATE INDEX contacts_created ON contacts
    (workspace_id, created_at DESC, id)
    WHERE deleted_at IS NULL;

DROP INDEX users_created;
CREATE INDEX users_created ON users
    (workspace_id, created_at DESC, id)
    WHERE deleted_at IS NULL;

DROP INDEX api_keys_created;
CREATE INDEX api_keys_created ON api_keys
    (workspace_id, created_at DESC, id)
    WHERE deleted_at IS NULL;

DROP INDEX pipelines_created;
CREATE INDEX pipelines_created ON pipelines
    (workspace_id, created_at DESC, id)
    WHERE deleted_at IS NULL;

DROP INDEX deals_created;
CREATE INDEX deals_created ON deals
    (workspace_id, created_at DESC, id)
    WHERE deleted_at IS NULL;

DROP INDEX leads_created;
CREATE INDEX leads_created ON leads
    (workspace_id, created_at DESC, id)
    WHERE deleted_at IS NULL;

DROP INDEX activities_created;
CREATE INDEX activities_created ON activities
    (workspace_id, created_at DESC, id)
    WHERE deleted_at IS NULL;

DROP INDEX custom_fields_created;
CREATE INDEX custom_fields_created ON custom_fields
    (workspace_id, created_at DESC, id)
    WHERE deleted_at IS NULL;

DROP INDEX emails_created;
CREATE INDEX emails_created ON emails
    (workspace_id, created_at DESC, id);

DROP INDEX suppressions_created;
CREATE INDEX suppressions_created ON suppressions
    (workspace_id, created_at DESC, id)
    WHERE deleted_at IS NULL;

DROP INDEX events_created;
CREATE INDEX events_created ON events
    (workspace_id, created_at DESC, id);

DROP INDEX webhooks_created;
CREATE INDEX webhooks_created ON webhooks
    (workspace_id, created_at DESC, id)
    WHERE deleted_at IS NULL;

DROP INDEX webhook_deliveries_created;
CREATE INDEX webhook_deliveries_created ON webhook_deliveries
    (workspace_id, created_at DESC, id);

DROP INDEX campaigns_created;
CREATE INDEX campaigns_created ON campaigns
    (workspace_id, created_at DESC, id)
    WHERE deleted_at IS NULL;
