-- A pipeline's stages are ones a deal can take (found by probing the
-- running API): a probability of 5.5 or 1e2 (stored as 100.0) and a
-- name longer than a deal's stage (100 characters) were stored, and
-- every deal then put in that stage was refused with a 422 naming no
-- field (db_deal_stage() reads the probability as an integer).  Now a
-- stage's probability is an integer from 0 to 100 written as one, and
-- its name has 1 to 100 characters, not all of them spaces.  Rows
-- stored before are not checked again.

CREATE OR REPLACE FUNCTION db_stages_valid(p_stages jsonb) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
    SELECT jsonb_typeof(p_stages) = 'array'
       AND NOT EXISTS (
           SELECT 1 FROM jsonb_array_elements(p_stages) AS s
            WHERE jsonb_typeof(s) <> 'object'
               OR jsonb_typeof(s -> 'name') IS DISTINCT FROM 'string'
               OR btrim(s ->> 'name') = ''
               OR length(s ->> 'name') > 100
               OR jsonb_typeof(s -> 'probability') IS DISTINCT FROM 'number'
               OR (s ->> 'probability') !~ '^[0-9]{1,3}$'
               OR (s ->> 'probability')::integer > 100
               OR (SELECT count(*) FROM jsonb_object_keys(s)) <> 2)
       AND (SELECT count(DISTINCT s ->> 'name') = count(*)
              FROM jsonb_array_elements(p_stages) AS s);
$$;
