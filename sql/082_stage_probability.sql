-- A probability sent with a stage move is kept even when it equals the
-- deal's old one (found by probing the running API).  db_deal_stage()
-- took "unchanged" for "not sent" and put the new stage's probability in
-- its place: PATCH {"stage": "won", "probability": 40} on a deal at 40
-- gave the won stage's 100.  A trigger cannot tell the two apart, so the
-- planner now says it: an update that moves the stage or pipeline
-- without a probability writes it null (crm_field_t.derived_from), and
-- the trigger fills a null from the stage, as it did on insert.
-- Writers other than the API that move a stage without a probability
-- keep the old one.

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

    -- a probability sent with the move is kept, even the old one: the
    -- API's update writes it null when the stage or pipeline changes
    -- without one (crm_field_t.derived_from)
    IF NEW.probability IS NULL THEN
        NEW.probability := v_probability;
    END IF;

    RETURN NEW;
END
$$;
