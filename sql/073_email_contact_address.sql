-- An email to a contact (POST /emails/send with "to" a contact id) is
-- refused when the contact's address is one the relay cannot be given
-- (found by probing the running API).
--
-- The contacts resource takes any address its email type accepts, which
-- is wider than what can be mailed (db_email_address_valid(): an ASCII
-- dot-atom, "@", a host name; the MIME renderer's rule).  An email to an
-- address was checked against that rule, an email to a contact was not:
-- it was queued, failed to render at every attempt (an error-log line
-- each) and ended failed a day later.  Now it is 422 on "to"
-- (invalid_format), as an email to that address is; campaigns already
-- count such contacts no_address.  sql/016's function, restated whole
-- with that one check added.

CREATE OR REPLACE FUNCTION db_email_before_insert() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    c        record;
    v_addr   text;
BEGIN
    IF NEW.to_email ~ '^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$'
    THEN
        -- "to" names a contact
        SELECT id, email, first_name, last_name INTO c
          FROM contacts
         WHERE workspace_id = NEW.workspace_id
           AND id = NEW.to_email::uuid AND deleted_at IS NULL;

        IF NOT FOUND THEN
            RAISE EXCEPTION 'the contact does not exist'
                USING ERRCODE = 'CR422', COLUMN = 'to',
                      CONSTRAINT = 'not_found';
        END IF;

        IF c.email IS NULL THEN
            RAISE EXCEPTION 'the contact has no email address'
                USING ERRCODE = 'CR422', COLUMN = 'to',
                      CONSTRAINT = 'no_address';
        END IF;

        IF NOT db_email_address_valid(c.email) THEN
            RAISE EXCEPTION 'the contact''s email address cannot be '
                            'mailed (an ASCII dot-atom, "@", a host name)'
                USING ERRCODE = 'CR422', COLUMN = 'to',
                      CONSTRAINT = 'invalid_format';
        END IF;

        IF NEW.contact_id IS NOT NULL AND NEW.contact_id <> c.id THEN
            RAISE EXCEPTION 'contactId names another contact than to'
                USING ERRCODE = 'CR422', COLUMN = 'contactId',
                      CONSTRAINT = 'invalid_value';
        END IF;

        NEW.contact_id := c.id;
        NEW.to_email := c.email;
        NEW.to_name := nullif(trim(concat_ws(' ', c.first_name,
                                             c.last_name)), '');

    ELSIF NOT db_email_address_valid(NEW.to_email) THEN
        RAISE EXCEPTION 'an email address or a contact id is expected'
            USING ERRCODE = 'CR422', COLUMN = 'to',
                  CONSTRAINT = 'invalid_format';

    ELSIF NEW.contact_id IS NULL THEN
        -- the contact of that address, if the workspace has one
        SELECT id INTO NEW.contact_id
          FROM contacts
         WHERE workspace_id = NEW.workspace_id
           AND lower(email) = lower(NEW.to_email) AND deleted_at IS NULL;
    END IF;

    FOREACH v_addr IN ARRAY NEW.cc || NEW.bcc LOOP
        IF NOT db_email_address_valid(v_addr) THEN
            RAISE EXCEPTION '"%" is not an email address', v_addr
                USING ERRCODE = 'CR422',
                      COLUMN = CASE WHEN v_addr = ANY (NEW.cc) THEN 'cc'
                                    ELSE 'bcc' END,
                      CONSTRAINT = 'invalid_format';
        END IF;
    END LOOP;

    IF NEW.from_email IS NOT NULL
       AND NOT db_email_address_valid(NEW.from_email)
    THEN
        RAISE EXCEPTION 'not an email address'
            USING ERRCODE = 'CR422', COLUMN = 'from',
                  CONSTRAINT = 'invalid_format';
    END IF;

    IF NEW.reply_to IS NOT NULL AND NOT db_email_address_valid(NEW.reply_to)
    THEN
        RAISE EXCEPTION 'not an email address'
            USING ERRCODE = 'CR422', COLUMN = 'replyTo',
                  CONSTRAINT = 'invalid_format';
    END IF;

    IF coalesce(NEW.body_text, '') = '' AND coalesce(NEW.body_html, '') = ''
    THEN
        RAISE EXCEPTION 'text or html is required'
            USING ERRCODE = 'CR422', COLUMN = 'text',
                  CONSTRAINT = 'required';
    END IF;

    IF db_email_suppressed(NEW.workspace_id, NEW.to_email) THEN
        RAISE EXCEPTION 'the address is suppressed in this workspace '
                        '(a hard bounce, an unsubscribe or by hand): see '
                        'GET /suppressions'
            USING ERRCODE = 'CR422', COLUMN = 'to',
                  CONSTRAINT = 'suppressed';
    END IF;

    NEW.status := 'queued';
    NEW.attempts := 0;
    NEW.next_attempt_at := now();

    PERFORM db_email_event(NEW.workspace_id, NEW.id, 'queued', NULL);

    /*
     * Wake the delivery jobs only when nothing else waits for them: a
     * NOTIFY serializes committing transactions (PostgreSQL takes a
     * global lock to queue it), which halves the inserts a second under
     * load (bench/README).  When other queued emails are due, the jobs
     * were woken for them, and a run that claims a full batch runs again
     * at once; at worst an email waits one crm_jobs_interval.
     */
    IF NOT EXISTS (SELECT 1 FROM emails
                    WHERE status = 'queued' AND next_attempt_at <= now()
                      AND NOT (workspace_id = NEW.workspace_id
                               AND id = NEW.id))
    THEN
        PERFORM pg_notify('crm_jobs', 'email');
    END IF;

    RETURN NEW;
END
$$;
