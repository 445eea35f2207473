-- ownerId (contacts, companies, deals) and assignedUserId (activities)
-- name a user of the record's own workspace, as companyId names one of
-- its companies: composite foreign keys (workspace_id, x) -> users
-- (workspace_id, id), so that no record points into another workspace
-- (docs/DESIGN.md).  A violation is 23503 on "<table>_<column>_fk",
-- which the module maps to 422 not_found on the field, on every write
-- path (POST, PUT, PATCH, bulk).
--
-- Users are soft-deleted, so a record keeps naming a user who left;
-- should a user row be removed for good (an erasure), the records it
-- owned lose their owner (SET NULL of that column alone) instead of
-- blocking the removal.
--
-- Before this migration any UUID was accepted.  A reference that names
-- no user of the record's workspace points at nothing the workspace can
-- see and cannot stay under the constraint: it is cleared (NULL), with
-- a WARNING that counts what was cleared per column.  The rows' own
-- triggers are off for that repair only (a deal's stage check, for
-- example, would refuse an old deal whose pipeline was deleted since);
-- version and updatedAt are left alone.
--
-- The indexes serve the ownerId= / assignedUserId= filters and the
-- removal of a user (every referencing row is checked, see 011).

DO $$
DECLARE
    r  record;
    n  bigint;
BEGIN
    FOR r IN SELECT * FROM (VALUES ('contacts', 'owner_id'),
                                   ('companies', 'owner_id'),
                                   ('deals', 'owner_id'),
                                   ('activities', 'assigned_user_id'))
                           AS t (tbl, col)
    LOOP
        EXECUTE format('ALTER TABLE %I DISABLE TRIGGER USER', r.tbl);

        EXECUTE format('UPDATE %1$I t SET %2$I = NULL'
                       ' WHERE %2$I IS NOT NULL'
                       '   AND NOT EXISTS (SELECT 1 FROM users u'
                       '                    WHERE u.workspace_id'
                       '                          = t.workspace_id'
                       '                      AND u.id = t.%2$I)',
                       r.tbl, r.col);

        GET DIAGNOSTICS n = ROW_COUNT;

        EXECUTE format('ALTER TABLE %I ENABLE TRIGGER USER', r.tbl);

        IF n > 0 THEN
            RAISE WARNING '%.%: % references to no user of the workspace '
                          'cleared', r.tbl, r.col, n;
        END IF;
    END LOOP;
END
$$;

ALTER TABLE contacts
    ADD CONSTRAINT contacts_owner_id_fk FOREIGN KEY (workspace_id, owner_id)
        REFERENCES users (workspace_id, id) ON DELETE SET NULL (owner_id);

ALTER TABLE companies
    ADD CONSTRAINT companies_owner_id_fk FOREIGN KEY (workspace_id, owner_id)
        REFERENCES users (workspace_id, id) ON DELETE SET NULL (owner_id);

ALTER TABLE deals
    ADD CONSTRAINT deals_owner_id_fk FOREIGN KEY (workspace_id, owner_id)
        REFERENCES users (workspace_id, id) ON DELETE SET NULL (owner_id);

ALTER TABLE activities
    ADD CONSTRAINT activities_assigned_user_id_fk
        FOREIGN KEY (workspace_id, assigned_user_id)
        REFERENCES users (workspace_id, id)
        ON DELETE SET NULL (assigned_user_id);

CREATE INDEX contacts_owner ON contacts (workspace_id, owner_id);
CREATE INDEX companies_owner ON companies (workspace_id, owner_id);
CREATE INDEX deals_owner ON deals (workspace_id, owner_id);
CREATE INDEX activities_assigned_user ON activities
    (workspace_id, assigned_user_id);
