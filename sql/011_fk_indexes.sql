-- Indexes that foreign keys can use.  The lists need only live rows and
-- had partial indexes (WHERE deleted_at IS NULL); but removing a company
-- or pipeline for good (a workspace's erasure, util/seed.sh emptying its
-- workspace) checks every referencing row, deleted ones included, and
-- without a full index that is a sequential scan per removed row.  The
-- full indexes serve the lists as well (deleted_at is then a filter).

DROP INDEX contacts_company;
CREATE INDEX contacts_company ON contacts (workspace_id, company_id);

DROP INDEX deals_company;
CREATE INDEX deals_company ON deals (workspace_id, company_id);

DROP INDEX deals_pipeline;
CREATE INDEX deals_pipeline ON deals (workspace_id, pipeline_id, stage);
