-- Custom fields: the same checks as sql/010 (db_custom_fields_check(),
-- db_custom_value_valid()), cheaper on every write (issue 15; bench/README,
-- "The insert path").
--
-- Before, a write with custom fields ran two queries in the trigger (the
-- unknown keys, then a loop over every definition of the resource) and,
-- per value, a PL/pgSQL function whose EXCEPTION block opened a
-- subtransaction.  Measured with pgbench (single-row INSERTs, bench/README)
-- the trigger cost a contact insert ~80-90 us of PostgreSQL CPU, of which
-- an empty PL/pgSQL trigger is ~15 us.  Now one query joins the record's
-- keys with the definitions and returns the first problem in the order the
-- checks had (unknown keys by name, then definitions by name), and the
-- value check is an SQL expression; only a date goes through a cast that
-- can fail, in db_custom_date_valid().  Errors are the same: SQLSTATE
-- CR422, COLUMN "customFields.<name>", CONSTRAINT the code, the same
-- messages; t/140-custom-fields.t checks them.


-- a date value: a string YYYY-MM-DD that is a real date

CREATE FUNCTION db_custom_date_valid(p_value jsonb) RETURNS boolean
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    IF jsonb_typeof(p_value) <> 'string'
       OR (p_value #>> '{}') !~ '^\d{4}-\d{2}-\d{2}$'
    THEN
        RETURN false;
    END IF;

    RETURN to_char((p_value #>> '{}')::date, 'YYYY-MM-DD')
           = (p_value #>> '{}');
EXCEPTION WHEN data_exception THEN
    RETURN false;
END
$$;


-- a value of a custom field of type p_type (and options): well-formed?
-- (none of these raises: no exception block but the date's)

CREATE OR REPLACE FUNCTION db_custom_value_valid(p_type text,
                                                 p_options jsonb,
                                                 p_value jsonb)
RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE p_type
           WHEN 'text' THEN jsonb_typeof(p_value) = 'string'
                            AND length(p_value #>> '{}') <= 10000
           WHEN 'number' THEN jsonb_typeof(p_value) = 'number'
           WHEN 'boolean' THEN jsonb_typeof(p_value) = 'boolean'
           WHEN 'date' THEN db_custom_date_valid(p_value)
           WHEN 'select' THEN jsonb_typeof(p_value) = 'string'
                              AND p_options @> p_value
           ELSE false
           END;
$$;


-- BEFORE INSERT OR UPDATE of a table with custom_fields; TG_ARGV[0] is
-- the resource ("contacts").  Nulls are dropped (a null is no value).

CREATE OR REPLACE FUNCTION db_custom_fields_check() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    d  record;
BEGIN
    IF TG_OP = 'UPDATE'
       AND NEW.custom_fields IS NOT DISTINCT FROM OLD.custom_fields
    THEN
        RETURN NEW;
    END IF;

    NEW.custom_fields := jsonb_strip_nulls(NEW.custom_fields);

    -- the first problem: a key without a definition (c.name is null),
    -- a required field without a value, a value of the wrong shape
    SELECT coalesce(c.name, k.key) AS name, c.name IS NULL AS unknown,
           c.type, c.options, k.value IS NULL AS missing
      INTO d
      FROM (SELECT f.name, f.type, f.options, f.required
              FROM custom_fields f
             WHERE f.workspace_id = NEW.workspace_id
               AND f.object = TG_ARGV[0] AND f.deleted_at IS NULL) c
      FULL JOIN jsonb_each(NEW.custom_fields) k ON k.key = c.name
     WHERE c.name IS NULL
        OR (k.value IS NULL AND c.required)
        OR (k.value IS NOT NULL
            AND NOT db_custom_value_valid(c.type, c.options, k.value))
     ORDER BY c.name IS NOT NULL, 1
     LIMIT 1;

    IF NOT FOUND THEN
        RETURN NEW;
    END IF;

    IF d.unknown THEN
        RAISE EXCEPTION 'is not a custom field of %', TG_ARGV[0]
            USING ERRCODE = 'CR422', COLUMN = 'customFields.' || d.name,
                  CONSTRAINT = 'unknown_field';
    END IF;

    IF d.missing THEN
        RAISE EXCEPTION 'is required'
            USING ERRCODE = 'CR422', COLUMN = 'customFields.' || d.name,
                  CONSTRAINT = 'required';
    END IF;

    RAISE EXCEPTION '%',
        CASE d.type
        WHEN 'text' THEN 'must be a string of at most 10000 characters'
        WHEN 'number' THEN 'must be a number'
        WHEN 'boolean' THEN 'must be a boolean'
        WHEN 'date' THEN 'must be a date string (YYYY-MM-DD)'
        ELSE 'must be one of ' || d.options::text
        END
        USING ERRCODE = 'CR422', COLUMN = 'customFields.' || d.name,
              CONSTRAINT = CASE d.type WHEN 'select'
                           THEN 'invalid_value'
                           ELSE 'invalid_type' END;
END
$$;
