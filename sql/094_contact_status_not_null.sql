-- A contact's status is never null in the API (a write of null is
-- refused; a create without one takes 'active'), and the planner pages a
-- sort by status on that promise: its cursor's comparison leaves out
-- rows whose status is null.  The column still allowed null, so a row
-- written by another program (or by SQL) with none was skipped by
-- "sort=status" paging while count=exact counted it (found by a probe).
-- Such rows take the default, as a change of the record, and the column
-- holds the promise from now on.

UPDATE contacts
   SET status = 'active',
       version = version + 1,
       updated_at = now()
 WHERE status IS NULL;

ALTER TABLE contacts ALTER COLUMN status SET NOT NULL;
