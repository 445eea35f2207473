-- Copies (cc, bcc) are tried with every attempt of their email until
-- each has its answer (issue 15, carried over: "cc/bcc go out on the
-- first attempt only").
--
-- Each recipient of an email is its own SMTP transfer (docs/EMAIL.md).
-- Copies used to go with the first attempt only: a relay that was down
-- then (connection refused, a timeout) deferred the email, and its next
-- attempts reached the recipient but never the copies.  Now the email
-- keeps the copies that have their answer, copies_done: accepted, or
-- refused for good (a 5xx).  Every attempt sends the copies not in it
-- (db_email_claim()'s new column "copies", each address once, as first
-- written, case aside), and
-- db_email_outcome() adds the ones answered on this attempt, with the
-- outcome, under the same lease.  So a copy accepted while the
-- recipient was deferred is not sent again, and one refused for now is
-- tried again with the next attempt.  Once the email is final (sent,
-- bounced, failed) there is no next attempt: a copy still refused for
-- now then is given up (the worker logs it), as before.
--
-- Emails attempted before this migration had their copies sent with the
-- first attempt: those still to be tried again are marked done, so that
-- none is sent twice.  The 8-argument db_email_outcome() stays for the
-- workers of the previous version while nginx is upgraded after the
-- migration: they send the copies with the first attempt, and it marks
-- them done then.  A copy that is the recipient's own address is not
-- sent (it had two messages).

ALTER TABLE emails ADD COLUMN copies_done text[] NOT NULL DEFAULT '{}';

UPDATE emails SET copies_done = cc || bcc
 WHERE attempts > 0 AND cardinality(cc || bcc) > 0
   AND status IN ('queued', 'deferred', 'sending');


-- sql/016's, with the copies still to send (the return type changes)

DROP FUNCTION db_email_claim(integer, interval, text, text, text, integer);

CREATE FUNCTION db_email_claim(p_batch integer, p_lease interval,
    p_owner text, p_domain text, p_relay text, p_rate integer)
RETURNS TABLE (workspace_id uuid, id uuid, from_name text, from_email text,
               to_email text, to_name text, cc text[], bcc text[],
               reply_to text, subject text, body_text text, body_html text,
               message_id text, attempts integer, sent_at timestamptz,
               copies text[])
LANGUAGE plpgsql AS $$
DECLARE
    v_n     integer := p_batch;
    v_now   timestamptz := date_trunc('second', clock_timestamp());
    v_used  integer;
BEGIN
    IF p_rate > 0 THEN
        INSERT INTO email_send_rate AS r (relay, second, sent)
        VALUES (p_relay, v_now, 0)
        ON CONFLICT (relay) DO UPDATE
           SET second = v_now,
               sent = CASE WHEN r.second = v_now THEN r.sent ELSE 0 END
        RETURNING r.sent INTO v_used;

        v_n := least(v_n, greatest(p_rate - v_used, 0));

        IF v_n = 0 THEN
            RETURN;
        END IF;
    END IF;

    RETURN QUERY
    WITH due AS (
        SELECT e.workspace_id, e.id
          FROM emails e
         WHERE ((e.status IN ('queued', 'deferred')
                 AND e.next_attempt_at <= now())
                OR (e.status = 'sending' AND e.lease_until < now()))
           AND (e.campaign_id IS NULL
                OR db_email_campaign_sendable(e.workspace_id, e.campaign_id))
         ORDER BY e.next_attempt_at
         LIMIT v_n
           FOR UPDATE SKIP LOCKED
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
          FROM due
         WHERE e.workspace_id = due.workspace_id AND e.id = due.id
        RETURNING e.*
    ), gone AS (
        INSERT INTO email_events (workspace_id, email_id, type, details)
        SELECT c.workspace_id, c.id, 'suppressed',
               jsonb_build_object('reason', 'the address was suppressed '
                                            'after the email was queued')
          FROM claimed c
         WHERE c.status = 'suppressed'
    )
    SELECT c.workspace_id, c.id, c.from_name, c.from_email, c.to_email,
           c.to_name, c.cc, c.bcc, c.reply_to, c.subject, c.body_text,
           c.body_html, c.message_id, c.attempts, c.sent_at,
           ARRAY(SELECT DISTINCT ON (lower(u.a)) u.a
                   FROM unnest(c.cc || c.bcc) WITH ORDINALITY u (a, o)
                  WHERE lower(u.a) <> lower(c.to_email)
                    AND lower(u.a) <> ALL (SELECT lower(d)
                                             FROM unnest(c.copies_done) d)
                  ORDER BY lower(u.a), u.o)
      FROM claimed c
     WHERE c.status = 'sending';

    IF p_rate > 0 THEN
        GET DIAGNOSTICS v_used = ROW_COUNT;
        UPDATE email_send_rate SET sent = sent + v_used
         WHERE relay = p_relay;
    END IF;
END
$$;


/*
 * The outcome of one attempt (sql/040's), with the copies answered on it:
 * p_copies, space-separated addresses, added to copies_done while the
 * lease is the caller's.
 */

CREATE FUNCTION db_email_outcome(p_ws uuid, p_id uuid, p_owner text,
    p_outcome text, p_code integer, p_detail text, p_base interval,
    p_max_age interval, p_copies text)
RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
    IF coalesce(p_copies, '') <> '' THEN
        UPDATE emails
           SET copies_done = copies_done || string_to_array(p_copies, ' ')
         WHERE workspace_id = p_ws AND id = p_id
           AND status = 'sending' AND lease_owner = p_owner;
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


/*
 * sql/040's, called by the workers of the previous version only: they
 * send every copy with the first attempt, so the first attempt's outcome
 * records them all as answered
 */

CREATE OR REPLACE FUNCTION db_email_outcome(p_ws uuid, p_id uuid,
    p_owner text, p_outcome text, p_code integer, p_detail text,
    p_base interval, p_max_age interval)
RETURNS text
LANGUAGE sql AS $$
    SELECT db_email_outcome(p_ws, p_id, p_owner, p_outcome, p_code,
               p_detail, p_base, p_max_age,
               (SELECT array_to_string(cc || bcc, ' ')
                  FROM emails
                 WHERE workspace_id = p_ws AND id = p_id AND attempts = 1))
$$;
