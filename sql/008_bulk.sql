-- Bulk operations: the statements of one POST /<resource>/bulk, run in
-- one call and so in one transaction.
--
-- p_ops: [{"sql": "...", "params": ["...", null, ...]}, ...].  Each "sql"
-- is a statement made by the module's planner (src/crm_sql.c), never
-- text from a request, with its parameters written $1[n] (the n-th
-- element of "params"); every statement's first parameter is the
-- workspace, which must be p_workspace.
--
-- Each statement runs in its own subtransaction: one that fails is undone
-- alone and reported.  With p_atomic, the first failure undoes all and
-- stops.  Returns {"rolledBack": bool, "results": [...]} with, in order,
-- {"cols": [...]} (the statement's first row, as text), {"cols": null}
-- (no row: not found), or {"error": {"state", "message", "constraint",
-- "column"}}; an atomic batch that failed stops at the failure.
CREATE FUNCTION crm_bulk(p_workspace uuid, p_ops jsonb, p_atomic boolean)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE SECURITY INVOKER
AS $$
DECLARE
    v_op         jsonb;
    v_params     text[];
    v_cols       text[];
    v_results    jsonb := '[]';
    v_failed     boolean := false;
    v_rolled     boolean := false;
    v_state      text;
    v_message    text;
    v_constraint text;
    v_column     text;
BEGIN
    BEGIN
        FOR v_op IN SELECT value FROM jsonb_array_elements(p_ops)
                    WITH ORDINALITY AS o (value, n) ORDER BY n
        LOOP
            v_params := ARRAY(SELECT e
                                FROM jsonb_array_elements_text(v_op -> 'params')
                                     WITH ORDINALITY AS x (e, n)
                               ORDER BY n);

            IF v_params[1] IS DISTINCT FROM p_workspace::text THEN
                RAISE EXCEPTION 'crm_bulk: a statement for another workspace';
            END IF;

            BEGIN
                EXECUTE 'WITH t AS (' || (v_op ->> 'sql') || ') '
                        'SELECT ARRAY(SELECT value FROM '
                        'json_each_text(row_to_json(t))) FROM t'
                   INTO v_cols USING v_params;

                IF v_cols IS NULL THEN
                    v_failed := true;
                END IF;

                v_results := v_results
                             || jsonb_build_object('cols', to_jsonb(v_cols));

            EXCEPTION WHEN OTHERS THEN
                GET STACKED DIAGNOSTICS
                    v_state = RETURNED_SQLSTATE,
                    v_message = MESSAGE_TEXT,
                    v_constraint = CONSTRAINT_NAME,
                    v_column = COLUMN_NAME;

                v_failed := true;
                v_results := v_results || jsonb_build_object('error',
                    jsonb_build_object('state', v_state,
                                       'message', v_message,
                                       'constraint', nullif(v_constraint, ''),
                                       'column', nullif(v_column, '')));
            END;

            IF p_atomic AND v_failed THEN
                RAISE EXCEPTION USING ERRCODE = 'CR000';
            END IF;
        END LOOP;

    EXCEPTION WHEN SQLSTATE 'CR000' THEN
        v_rolled := true;
    END;

    RETURN jsonb_build_object('rolledBack', v_rolled, 'results', v_results);
END
$$;
