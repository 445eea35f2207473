-- References to deleted records, and what a deleted pipeline leaves
-- (found by probing the running API).
--
-- A contact's or a deal's companyId, and a deal's pipelineId, must name a
-- live record when they are written, as contactIds and relatedId do: the
-- foreign keys took a soft-deleted company or pipeline.  A write that
-- names one is 422 not_found on the field (the foreign key's constraint
-- name, so the API maps it as it maps the key's own violation).  Rows
-- that name one from before keep it, and take other changes.
--
-- A pipeline with live deals cannot be deleted (409 INVALID_STATE):
-- its deals kept a pipelineId that /pipelines/:id/deals no longer found.
--
-- A deal's stage is checked when its stage or its pipeline is written,
-- not on every update (sql/005's function, restated whole with that
-- test added): a deal whose pipeline lost its stage refused every later
-- PATCH on "stage", a field the client had not sent.

-- The referenced row is read FOR SHARE: a delete of it (an UPDATE of
-- deleted_at, FOR NO KEY UPDATE) running at the same time waits for this
-- write, or this write for it, and the second one sees the first.

CREATE FUNCTION db_live_company() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.company_id IS NULL
       OR (TG_OP = 'UPDATE'
           AND NEW.company_id IS NOT DISTINCT FROM OLD.company_id)
    THEN
        RETURN NEW;
    END IF;

    PERFORM 1 FROM companies c
     WHERE c.workspace_id = NEW.workspace_id AND c.id = NEW.company_id
       AND c.deleted_at IS NULL
       FOR SHARE;

    IF NOT FOUND THEN
        RAISE EXCEPTION 'company % does not exist', NEW.company_id
            USING ERRCODE = 'foreign_key_violation',
                  CONSTRAINT = TG_TABLE_NAME || '_company_id_fk',
                  COLUMN = 'company_id';
    END IF;

    RETURN NEW;
END
$$;

CREATE TRIGGER contacts_live_company BEFORE INSERT OR UPDATE OF company_id
    ON contacts FOR EACH ROW EXECUTE FUNCTION db_live_company();

CREATE TRIGGER deals_live_company BEFORE INSERT OR UPDATE OF company_id
    ON deals FOR EACH ROW EXECUTE FUNCTION db_live_company();


CREATE FUNCTION db_live_pipeline() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.pipeline_id IS NULL
       OR (TG_OP = 'UPDATE'
           AND NEW.pipeline_id IS NOT DISTINCT FROM OLD.pipeline_id)
    THEN
        RETURN NEW;
    END IF;

    PERFORM 1 FROM pipelines p
     WHERE p.workspace_id = NEW.workspace_id AND p.id = NEW.pipeline_id
       AND p.deleted_at IS NULL
       FOR SHARE;

    IF NOT FOUND THEN
        RAISE EXCEPTION 'pipeline % does not exist', NEW.pipeline_id
            USING ERRCODE = 'foreign_key_violation',
                  CONSTRAINT = 'deals_pipeline_id_fk',
                  COLUMN = 'pipeline_id';
    END IF;

    RETURN NEW;
END
$$;

-- named to run before deals_stage (triggers run in name order)
CREATE TRIGGER deals_live_pipeline BEFORE INSERT OR UPDATE OF pipeline_id
    ON deals FOR EACH ROW EXECUTE FUNCTION db_live_pipeline();


CREATE FUNCTION db_pipeline_in_use() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.deleted_at IS NOT NULL AND OLD.deleted_at IS NULL
       AND EXISTS (SELECT 1 FROM deals d
                    WHERE d.workspace_id = NEW.workspace_id
                      AND d.pipeline_id = NEW.id
                      AND d.deleted_at IS NULL)
    THEN
        RAISE EXCEPTION 'the pipeline has deals: move or delete them first'
            USING ERRCODE = 'CR409';
    END IF;

    RETURN NEW;
END
$$;

CREATE TRIGGER pipelines_in_use BEFORE UPDATE OF deleted_at ON pipelines
    FOR EACH ROW EXECUTE FUNCTION db_pipeline_in_use();


CREATE OR REPLACE FUNCTION db_deal_stage() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    v_probability integer;
    v_found       boolean := false;
BEGIN
    IF NEW.stage IS NULL THEN
        RETURN NEW;
    END IF;

    -- checked when the stage or the pipeline is written, not on every
    -- update: a deal whose pipeline was deleted or lost the stage keeps
    -- taking its other changes (a probability cleared takes the stage's
    -- again when the pipeline still has it)
    IF TG_OP = 'UPDATE' AND NEW.stage IS NOT DISTINCT FROM OLD.stage
       AND NEW.pipeline_id IS NOT DISTINCT FROM OLD.pipeline_id
    THEN
        IF NEW.probability IS NULL THEN
            SELECT (s ->> 'probability')::integer INTO NEW.probability
              FROM pipelines p, jsonb_array_elements(p.stages) AS s
             WHERE p.workspace_id = NEW.workspace_id
               AND p.id = NEW.pipeline_id
               AND p.deleted_at IS NULL
               AND s ->> 'name' = NEW.stage;
        END IF;

        RETURN NEW;
    END IF;

    IF NEW.pipeline_id IS NULL THEN
        RAISE EXCEPTION 'a stage needs a pipeline'
            USING ERRCODE = 'check_violation',
                  CONSTRAINT = 'deals_stage_check', COLUMN = 'stage';
    END IF;

    SELECT true, (s ->> 'probability')::integer
      INTO v_found, v_probability
      FROM pipelines p, jsonb_array_elements(p.stages) AS s
     WHERE p.workspace_id = NEW.workspace_id
       AND p.id = NEW.pipeline_id
       AND p.deleted_at IS NULL
       AND s ->> 'name' = NEW.stage;

    IF NOT coalesce(v_found, false) THEN
        RAISE EXCEPTION 'stage "%" is not a stage of the pipeline', NEW.stage
            USING ERRCODE = 'check_violation',
                  CONSTRAINT = 'deals_stage_check', COLUMN = 'stage';
    END IF;

    IF NEW.probability IS NULL
       OR (TG_OP = 'UPDATE' AND NEW.stage IS DISTINCT FROM OLD.stage
           AND NEW.probability IS NOT DISTINCT FROM OLD.probability)
    THEN
        NEW.probability := v_probability;
    END IF;

    RETURN NEW;
END
$$;
