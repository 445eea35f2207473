-- Copies (cc, bcc): a relay's rate= counts their transfers, and a
-- suppressed address is not mailed as a copy either (issue 15, carried
-- over: "a relay's rate= counts emails, not copy transfers", "a refused
-- copy's address is not suppressed").
--
-- The rate.  Each recipient of an email is its own SMTP transfer
-- (docs/EMAIL.md): the recipient's, and one for each copy still to send.
-- A relay's limit (a provider's "messages per second") counts what it
-- is given, so db_email_claim() now takes the transfers of each email it
-- claims from the second's room in email_send_rate, where it took one
-- per email: an email with three copies to send costs four.  The emails
-- are taken in their order while the second has room, and the last one
-- taken may need more than is left: an email with more transfers than
-- the rate is never held back for good.  What a second overdraws is
-- taken from the following ones: the count a new second starts with is
-- what is left of the last one's after rate= a second has gone by, not
-- 0.  So over any stretch of seconds the relay is given no more than
-- rate= transfers a second, plus one email's at the start.  The second
-- is now() (the claim is one statement in its own transaction) instead
-- of clock_timestamp(), and a claim that started before the row's
-- second (it waited for the row's lock) counts in that second instead of
-- starting it again at 0.
--
-- Suppressions.  An address in the workspace's suppressions is "never
-- mailed again" (the API's words), whoever names it: the claim leaves
-- out the copies to suppressed addresses (they are not counted either),
-- as it leaves a suppressed recipient's email unsent.  A copy refused
-- for good (a 5xx) suppresses its address as a recipient's hard bounce
-- does: db_email_outcome() takes a tenth argument, the copies refused
-- for good on this attempt.  The 9-argument form stays, for the workers
-- of the previous version while nginx is upgraded after the migration.
--
-- The copies to send are computed once, where the emails are picked, and
-- returned as before.

CREATE OR REPLACE FUNCTION db_email_claim(p_batch integer, p_lease interval,
    p_owner text, p_domain text, p_relay text, p_rate integer)
RETURNS TABLE (workspace_id uuid, id uuid, from_name text, from_email text,
               to_email text, to_name text, cc text[], bcc text[],
               reply_to text, subject text, body_text text, body_html text,
               message_id text, attempts integer, sent_at timestamptz,
               copies text[])
LANGUAGE plpgsql AS $$
DECLARE
    v_n     integer := p_batch;
    v_now   timestamptz := date_trunc('second', now());
    v_used  integer;
    v_room  integer;                  /* NULL: no rate */
BEGIN
    IF p_rate > 0 THEN
        INSERT INTO email_send_rate AS r (relay, second, sent)
        VALUES (p_relay, v_now, 0)
        ON CONFLICT (relay) DO UPDATE
           SET second = greatest(r.second, v_now),
               sent = CASE WHEN r.second >= v_now THEN r.sent
                           ELSE greatest(r.sent - p_rate
                                         * extract(epoch FROM v_now
                                                              - r.second),
                                         0)::integer
                      END
        RETURNING r.sent INTO v_used;

        v_room := p_rate - v_used;

        IF v_room <= 0 THEN
            RETURN;
        END IF;

        /* every email is at least one transfer */
        v_n := least(v_n, v_room);
    END IF;

    RETURN QUERY
    WITH due AS (
        SELECT e.workspace_id, e.id, e.next_attempt_at,
               ARRAY(SELECT DISTINCT ON (lower(u.a)) u.a
                       FROM unnest(e.cc || e.bcc) WITH ORDINALITY u (a, o)
                      WHERE lower(u.a) <> lower(e.to_email)
                        AND lower(u.a) <> ALL (SELECT lower(d)
                                                 FROM unnest(e.copies_done) d)
                        AND NOT db_email_suppressed(e.workspace_id, u.a)
                      ORDER BY lower(u.a), u.o) AS to_copy
          FROM emails e
         WHERE ((e.status IN ('queued', 'deferred')
                 AND e.next_attempt_at <= now())
                OR (e.status = 'sending' AND e.lease_until < now()))
           AND (e.campaign_id IS NULL
                OR db_email_campaign_sendable(e.workspace_id, e.campaign_id))
         ORDER BY e.next_attempt_at
         LIMIT v_n
           FOR UPDATE SKIP LOCKED
    ), costed AS (
        SELECT d.workspace_id, d.id, d.to_copy,
               1 + cardinality(d.to_copy) AS transfers,
               sum(1 + cardinality(d.to_copy))
                   OVER (ORDER BY d.next_attempt_at, d.id
                         ROWS UNBOUNDED PRECEDING)
               - (1 + cardinality(d.to_copy)) AS before
          FROM due d
    ), taken AS (
        SELECT t.workspace_id, t.id, t.to_copy, t.transfers
          FROM costed t
         WHERE v_room IS NULL OR t.before < v_room
    ), claimed AS (
        UPDATE emails e
           SET status = CASE WHEN db_email_suppressed(e.workspace_id,
                                                      e.to_email)
                             THEN 'suppressed' ELSE 'sending' END,
               lease_until = now() + p_lease,
               lease_owner = p_owner,
               attempts = e.attempts + 1,
               message_id = coalesce(e.message_id,
                                     '<' || e.id || '@' || p_domain || '>'),
               updated_at = now()
          FROM taken
         WHERE e.workspace_id = taken.workspace_id AND e.id = taken.id
        RETURNING e.*, taken.to_copy, taken.transfers
    ), gone AS (
        INSERT INTO email_events (workspace_id, email_id, type, details)
        SELECT c.workspace_id, c.id, 'suppressed',
               jsonb_build_object('reason', 'the address was suppressed '
                                            'after the email was queued')
          FROM claimed c
         WHERE c.status = 'suppressed'
    ), counted AS (
        UPDATE email_send_rate r
           SET sent = r.sent + (SELECT coalesce(sum(c.transfers), 0)
                                  FROM claimed c
                                 WHERE c.status = 'sending')
         WHERE r.relay = p_relay AND v_room IS NOT NULL
    )
    SELECT c.workspace_id, c.id, c.from_name, c.from_email, c.to_email,
           c.to_name, c.cc, c.bcc, c.reply_to, c.subject, c.body_text,
           c.body_html, c.message_id, c.attempts, c.sent_at, c.to_copy
      FROM claimed c
     WHERE c.status = 'sending';
END
$$;

COMMENT ON TABLE email_send_rate IS
    'transfers per relay per second, across every host: db_email_claim() '
    'takes each email''s transfers (its recipient and its copies to send) '
    'from the second''s room; what a second overdraws is taken from the '
    'following ones';


/*
 * The outcome of one attempt (sql/071's), with the copies answered on
 * it (p_copies) and those of them refused for good (p_refused), both
 * space-separated addresses: the answered are added to copies_done, the
 * refused suppressed in the workspace (reason hard_bounce, the email
 * named), while the lease is the caller's.
 */

CREATE FUNCTION db_email_outcome(p_ws uuid, p_id uuid, p_owner text,
    p_outcome text, p_code integer, p_detail text, p_base interval,
    p_max_age interval, p_copies text, p_refused text)
RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
    IF coalesce(p_copies, '') <> '' THEN
        UPDATE emails
           SET copies_done = copies_done || string_to_array(p_copies, ' ')
         WHERE workspace_id = p_ws AND id = p_id
           AND status = 'sending' AND lease_owner = p_owner;

        IF FOUND AND coalesce(p_refused, '') <> '' THEN
            INSERT INTO suppressions (workspace_id, email, reason, email_id,
                                      details)
            SELECT p_ws, a, 'hard_bounce', p_id,
                   'refused as a copy (cc or bcc) of the email'
              FROM unnest(string_to_array(p_refused, ' ')) a
            ON CONFLICT DO NOTHING;
        END IF;
    END IF;

    IF NOT db_email_result(p_ws, p_id, p_owner, p_outcome, p_code,
                           p_detail, p_base, p_max_age)
    THEN
        RETURN NULL;
    END IF;

    RETURN (SELECT status FROM emails
             WHERE workspace_id = p_ws AND id = p_id);
END
$$;


/* sql/071's, for the workers of the previous version: nothing refused */

CREATE OR REPLACE FUNCTION db_email_outcome(p_ws uuid, p_id uuid,
    p_owner text, p_outcome text, p_code integer, p_detail text,
    p_base interval, p_max_age interval, p_copies text)
RETURNS text
LANGUAGE sql AS $$
    SELECT db_email_outcome(p_ws, p_id, p_owner, p_outcome, p_code,
               p_detail, p_base, p_max_age, p_copies, NULL)
$$;
