-- One search index a table instead of two (issue 15, direction 2;
-- bench/README, "The insert path"): the full-text GIN indexes (*_fts)
-- are dropped, their condition is served by the trigram index.
--
-- The planner's full-text arm (src/model/crm_sql.c, crm_sql_text_match)
-- becomes
--
--   doc ILIKE db_fts_pattern(q)
--   AND to_tsvector('simple', doc) @@ plainto_tsquery('simple', q)
--
-- The full-text test is kept as it was, so the rows it selects are the
-- same; the ILIKE in front of it is only what the trigram index can
-- serve, and it must never exclude a row the full-text test accepts.
-- It holds because every lexeme of to_tsvector('simple', doc) is a token
-- of doc (the default parser's tokens are substrings of its input) made
-- lower case, and the test requires every lexeme of q in doc's: so doc,
-- lower-cased, contains each lexeme of q, which is what ILIKE '%lexeme%'
-- tests (ILIKE lower-cases both sides).  db_fts_pattern() takes q's
-- longest lexeme (the most selective one), escaped for LIKE; only one
-- made of ASCII characters, whose lower case the text search dictionary
-- and lower() agree on whatever the locale (with libc's case mapping,
-- which both use; in a database whose default collation is ICU, lower()
-- does not use it: there the pattern is always '%%', i.e. every row the
-- index holds, rechecked).  A q without an ASCII lexeme gets '%%' too
-- (exact, but the index is read whole); a q without any lexeme (only
-- punctuation) gets NULL: the full-text test would reject every row, and
-- the index finds none.
--
-- Why: the tsvector GIN index was the largest single item of an insert
-- that could go (45-95 us of PostgreSQL CPU per contact, sustained).


DO $$
DECLARE
    v_any  boolean;
BEGIN
    -- ICU default collation: lower() may differ from the dictionary's
    SELECT datlocprovider = 'i' INTO v_any
      FROM pg_database WHERE datname = current_database();

    EXECUTE format($f$
        CREATE FUNCTION db_fts_pattern(p_q text) RETURNS text
        LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $b$
            SELECT CASE WHEN count(*) = 0 THEN NULL
                        WHEN %L THEN '%%%%'
                        ELSE '%%' || coalesce(
                            (array_agg(replace(replace(replace(l,
                                 '\', '\\'), '%%', '\%%'), '_', '\_')
                              ORDER BY length(l) DESC, l)
                              FILTER (WHERE l ~ '^[[:ascii:]]+$'))[1],
                            '') || '%%'
                   END
              FROM unnest(tsvector_to_array(to_tsvector('simple', p_q))) l
        $b$
    $f$, coalesce(v_any, false));
END
$$;


DROP INDEX contacts_fts;
DROP INDEX companies_fts;
DROP INDEX pipelines_fts;
DROP INDEX deals_fts;
DROP INDEX leads_fts;
DROP INDEX activities_fts;
DROP INDEX api_keys_fts;
DROP INDEX users_fts;
