-- A version per record, raised by every update: ETag on reads, If-Match
-- on writes (lost-update protection).

ALTER TABLE contacts  ADD COLUMN version integer NOT NULL DEFAULT 1;
ALTER TABLE companies ADD COLUMN version integer NOT NULL DEFAULT 1;
ALTER TABLE users     ADD COLUMN version integer NOT NULL DEFAULT 1;
