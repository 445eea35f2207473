-- An empty tag names nothing, and a write now refuses one (an element of
-- an array of strings is 1 to 255 characters, docs/API.md).  A contact
-- stored with one before held a tag that no write could send back: a
-- client that read the contact and wrote its tags back was refused.
-- Such tags are dropped here, as a change of the record (its version
-- and updatedAt move, so that a sync sees it).

UPDATE contacts
   SET tags = array_remove(tags, ''),
       version = version + 1,
       updated_at = now()
 WHERE tags @> ARRAY['']::text[];
