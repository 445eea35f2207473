-- Pipelines (ordered stages with default probabilities) and deals.

-- stages: an array of {"name": non-empty text, "probability": 0..100},
-- names unique
CREATE FUNCTION crm_stages_valid(p_stages jsonb) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
    SELECT jsonb_typeof(p_stages) = 'array'
       AND NOT EXISTS (
           SELECT 1 FROM jsonb_array_elements(p_stages) AS s
            WHERE jsonb_typeof(s) <> 'object'
               OR jsonb_typeof(s -> 'name') IS DISTINCT FROM 'string'
               OR length(s ->> 'name') = 0
               OR jsonb_typeof(s -> 'probability') IS DISTINCT FROM 'number'
               OR (s ->> 'probability')::numeric NOT BETWEEN 0 AND 100
               OR (SELECT count(*) FROM jsonb_object_keys(s)) <> 2)
       AND (SELECT count(DISTINCT s ->> 'name') = count(*)
              FROM jsonb_array_elements(p_stages) AS s);
$$;

CREATE TABLE pipelines (
    workspace_id    uuid        NOT NULL REFERENCES workspaces (id),
    id              uuid        NOT NULL DEFAULT gen_random_uuid(),
    name            text        NOT NULL,
    -- [{"name": "Qualified", "probability": 20}, ...], in order
    stages          jsonb       NOT NULL DEFAULT '[]',
    version         integer     NOT NULL DEFAULT 1,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    deleted_at      timestamptz,
    PRIMARY KEY (workspace_id, id),
    CONSTRAINT pipelines_stages_check CHECK (crm_stages_valid(stages))
);

CREATE INDEX pipelines_created ON pipelines (workspace_id, created_at, id)
    WHERE deleted_at IS NULL;

CREATE TABLE deals (
    workspace_id    uuid        NOT NULL REFERENCES workspaces (id),
    id              uuid        NOT NULL DEFAULT gen_random_uuid(),
    name            text        NOT NULL,
    amount          numeric
        CONSTRAINT deals_amount_check CHECK (amount >= 0),
    currency        text
        CONSTRAINT deals_currency_check CHECK (currency ~ '^[A-Z]{3}$'),
    pipeline_id     uuid,
    stage           text,
    probability     integer
        CONSTRAINT deals_probability_check
        CHECK (probability BETWEEN 0 AND 100),
    close_date      date,
    status          text        NOT NULL DEFAULT 'open',
    company_id      uuid,
    owner_id        uuid,
    custom_fields   jsonb       NOT NULL DEFAULT '{}',
    version         integer     NOT NULL DEFAULT 1,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    deleted_at      timestamptz,
    PRIMARY KEY (workspace_id, id),
    CONSTRAINT deals_pipeline_id_fk FOREIGN KEY (workspace_id, pipeline_id)
        REFERENCES pipelines (workspace_id, id),
    CONSTRAINT deals_company_id_fk FOREIGN KEY (workspace_id, company_id)
        REFERENCES companies (workspace_id, id)
);

CREATE INDEX deals_created ON deals (workspace_id, created_at, id)
    WHERE deleted_at IS NULL;
CREATE INDEX deals_company ON deals (workspace_id, company_id)
    WHERE deleted_at IS NULL;
CREATE INDEX deals_pipeline ON deals (workspace_id, pipeline_id, stage)
    WHERE deleted_at IS NULL;

-- A deal's stage must be one of its pipeline's (422 "stage"); a deal
-- without a probability takes its stage's.
CREATE FUNCTION crm_deal_stage() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    v_probability integer;
    v_found       boolean := false;
BEGIN
    IF NEW.stage IS NULL THEN
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

CREATE TRIGGER deals_stage BEFORE INSERT OR UPDATE ON deals
    FOR EACH ROW EXECUTE FUNCTION crm_deal_stage();
