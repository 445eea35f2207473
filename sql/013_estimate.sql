-- count=estimated: PostgreSQL's own estimate of the rows a list's filters
-- select, from EXPLAIN of the planned statement (src/crm_sql.c,
-- crm_sql_estimate: {"sql", "params"} as for crm_bulk(), its first
-- parameter the workspace).  No rows are read: it costs a plan, not a
-- scan, and is as good as the table's statistics.
CREATE FUNCTION crm_estimate(p_workspace uuid, p_stmt jsonb)
RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY INVOKER
AS $$
DECLARE
    v_params text[];
    v_plan   json;
BEGIN
    v_params := ARRAY(SELECT e
                        FROM jsonb_array_elements_text(p_stmt -> 'params')
                             WITH ORDINALITY AS x (e, n)
                       ORDER BY n);

    IF v_params[1] IS DISTINCT FROM p_workspace::text THEN
        RAISE EXCEPTION 'crm_estimate: a statement for another workspace';
    END IF;

    EXECUTE 'EXPLAIN (FORMAT JSON) ' || (p_stmt ->> 'sql')
       INTO v_plan USING v_params;

    RETURN round((v_plan -> 0 -> 'Plan' ->> 'Plan Rows')::numeric);
END
$$;
