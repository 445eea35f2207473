#!/usr/bin/env python3
"""bench/insert_cost.py: the variants of bench/insert_cost.sh.

    insert_cost.py DSN N ROUNDS "VARIANT ..."   (empty: all, in order)

Each variant is one transaction: the DDL that drops what it leaves out,
EXPLAIN ANALYZE of one statement that creates N contacts the way
bench/create.lua's do (names, a new email, title, two tags, two custom
fields), ROLLBACK.  Printed: the execution time per row of every round,
the time of each trigger per row, then the best (lowest) of the rounds:
the least disturbed by other load on a shared machine.
"""

import random
import re
import subprocess
import sys

PSQL = "/usr/lib/postgresql/15/bin/psql"
WS = "'bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb'::uuid"
COLS = ("(workspace_id, first_name, last_name, email, title, tags,"
        " custom_fields)")
TS = "'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'"
# the row as the planner renders it (src/model/crm_sql.c)
ROW = ("json_build_object('id', id, 'firstName', first_name, 'lastName', "
       "last_name, 'email', email, 'phone', phone, 'title', title, "
       "'companyId', company_id, 'ownerId', owner_id, 'status', status, "
       "'source', source, 'tags', tags, 'customFields', custom_fields, "
       f"'createdAt', to_char(created_at AT TIME ZONE 'UTC', {TS}), "
       f"'updatedAt', to_char(updated_at AT TIME ZONE 'UTC', {TS}))::text")
# the event's data as the planner builds it (since sql/056): jsonb from
# the columns, not the row's JSON text parsed again
ROWB = ROW.replace("json_build_object", "jsonb_build_object")[:-6]


def rows(n, run):
    return (f"SELECT {WS}, 'Bench', 'Create ' || g, "
            f"'c' || g || '-{run}@pg.example', 'Load test', "
            "ARRAY['bench', 'create'], "
            "jsonb_build_object('thread', 1, 'n', g) "
            f"FROM generate_series(1, {n}) g")


def api_text(n, run):
    """the create before sql/056: the event's data the row's JSON parsed"""
    return (f"WITH w AS (INSERT INTO contacts {COLS} {rows(n, run)} "
            f"RETURNING {ROW} AS crm_row, id AS crm_rid, version::text), "
            "e AS (INSERT INTO events (workspace_id, type, record_id, data) "
            f"SELECT {WS}, 'contact.created', crm_rid, "
            "jsonb_build_object('object', crm_row::jsonb) FROM w) "
            "SELECT count(*) FROM w")


def api(n, run):
    """the planner's create: the row's JSON, the event in a CTE"""
    return (f"WITH w AS (INSERT INTO contacts {COLS} {rows(n, run)} "
            f"RETURNING {ROW} AS crm_row, {ROWB} AS crm_data, "
            "id AS crm_rid, version::text), "
            "e AS (INSERT INTO events (workspace_id, type, record_id, data) "
            f"SELECT {WS}, 'contact.created', crm_rid, "
            "jsonb_build_object('object', crm_data) FROM w) "
            "SELECT count(*) FROM w")


def noevent(n, run):
    return (f"WITH w AS (INSERT INTO contacts {COLS} {rows(n, run)} "
            f"RETURNING {ROW}, version::text) SELECT count(*) FROM w")


def plain(n, run):
    return f"INSERT INTO contacts {COLS} {rows(n, run)}"


# what sql/056_events_lean.sql changed, back as it was (sql/018)
OLD_FANOUT = ["""CREATE OR REPLACE FUNCTION db_event_fanout() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.type = 'webhook.test' THEN
        RETURN NULL;
    END IF;
    INSERT INTO webhook_deliveries (workspace_id, webhook_id, event_id,
                                    event_type, record_key)
    SELECT NEW.workspace_id, w.id, NEW.id, NEW.type,
           coalesce(NEW.record_id::text, NEW.id)
      FROM webhooks w
     WHERE w.workspace_id = NEW.workspace_id AND w.active
       AND w.deleted_at IS NULL
       AND db_webhook_matches(w.events, NEW.type);
    IF FOUND THEN
        PERFORM pg_notify('crm_jobs', 'webhook');
    END IF;
    RETURN NULL;
END
$$""", "DROP TRIGGER events_fanout ON events",
              "CREATE TRIGGER events_fanout AFTER INSERT ON events "
              "FOR EACH ROW EXECUTE FUNCTION db_event_fanout()"]
OLD_AGE = ["CREATE INDEX events_age ON events (created_at)"]
DROP_SEARCH = ["DROP INDEX contacts_search", "DROP INDEX contacts_fts"]
DROP_TRIGGER = ["DROP TRIGGER contacts_custom_fields ON contacts"]
VARIANTS = {
    "before": (OLD_FANOUT + OLD_AGE, api_text),
    "api": ([], api),
    "api-text": ([], api_text),
    "+evage": (OLD_AGE, api),
    "+oldfanout": (OLD_FANOUT, api),
    "-fanout": (["DROP TRIGGER events_fanout ON events"], api),
    "-evindex": (["DROP INDEX events_created", "DROP INDEX events_type"],
                 api),
    "api-noevent": ([], noevent),
    "plain": ([], plain),
    "-trgm": (["DROP INDEX contacts_search"], plain),
    "-fts": (["DROP INDEX contacts_fts"], plain),
    "-search": (DROP_SEARCH, plain),
    "-trigger": (DROP_TRIGGER, plain),
    "-unique": (["DROP INDEX contacts_email_live"], plain),
    "bare": (DROP_SEARCH + DROP_TRIGGER
             + ["DROP INDEX contacts_email_live"], plain),
}


def main():
    dsn, n, rounds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    only = (sys.argv[4].split() if len(sys.argv) > 4 and sys.argv[4]
            else list(VARIANTS))
    best = {}

    for rnd in range(1, rounds + 1):
        for name in only:
            ddl, stmt = VARIANTS[name]
            sql = ("BEGIN;\n" + "".join(d + ";\n" for d in ddl)
                   + "EXPLAIN (ANALYZE) " + stmt(n, random.randrange(1 << 40))
                   + ";\nROLLBACK;\n")
            out = subprocess.run([PSQL, "-X", "-q", "-v", "ON_ERROR_STOP=1",
                                  dsn], input=sql, capture_output=True,
                                 text=True)
            if out.returncode != 0:
                sys.exit(f"insert_cost.py: {name}: {out.stderr}")
            total = float(re.search(r"Execution Time: ([\d.]+)",
                                    out.stdout).group(1))
            trig = {m.group(1): float(m.group(2)) for m in re.finditer(
                r"Trigger (\S+?):? .*?time=([\d.]+)", out.stdout)}
            print(f"round {rnd} {name:12} {total * 1000 / n:7.1f} us/row  "
                  + "  ".join(f"{k} {v * 1000 / n:.1f}"
                              for k, v in trig.items()), flush=True)
            if name not in best or total < best[name][0]:
                best[name] = (total, trig)

    print(f"\nbest of {rounds} rounds, {n} rows a statement (us per row;"
          " [trigger: its share]):")
    for name in only:
        total, trig = best[name]
        print(f"  {name:12} {total * 1000 / n:7.1f}  "
              + "  ".join(f"[{k}: {v * 1000 / n:.1f}]"
                          for k, v in trig.items()))


if __name__ == "__main__":
    main()
