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
-- longest lexeme (the most selective one), escaped for LIKE.  That needs
-- the dictionary's lower case and lower()'s to agree on the lexeme's
-- characters: in a UTF-8 database with libc's locales both are towlower()
-- of each character under the database's LC_CTYPE, so any lexeme will
-- do; in a single-byte encoding they agree on ASCII letters only through
-- ASCII (tolower() against pg_tolower(): a Turkish locale's "I"), so
-- only an all-ASCII lexeme is taken; in a database whose default
-- collation is ICU, lower() follows ICU and the dictionary does not, so
-- none is (the choice is made here, once, from the database).  Without
-- a lexeme to take the pattern is '%%': exact, but the index is read
-- whole, as it is for a lexeme of one or two characters (no trigram);
-- a q without any lexeme (only punctuation) gets NULL: the full-text
-- test rejects every row, and the index finds none.
--
-- Why: the tsvector GIN index was the largest single item of an insert
-- that could go (45-95 us of PostgreSQL CPU per contact, sustained).


DO $$
DECLARE
    v_take  text;
BEGIN
    -- which lexemes lower() and the dictionary lower-case alike
    SELECT CASE WHEN datlocprovider = 'i' THEN '^$'
                WHEN pg_encoding_max_length(encoding) > 1 THEN ''
                ELSE '^[[:ascii:]]+$' END
      INTO v_take
      FROM pg_database WHERE datname = current_database();

    EXECUTE format($f$
        CREATE FUNCTION db_fts_pattern(p_q text) RETURNS text
        LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $b$
            SELECT CASE WHEN count(*) = 0 THEN NULL
                        ELSE '%%' || coalesce(
                            (array_agg(replace(replace(replace(l,
                                 '\', '\\'), '%%', '\%%'), '_', '\_')
                              ORDER BY length(l) DESC, l)
                              FILTER (WHERE l ~ %L))[1],
                            '') || '%%'
                   END
              FROM unnest(tsvector_to_array(to_tsvector('simple', p_q))) l
        $b$
    $f$, v_take);
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
