-- Exact bytes of the event's strings that are not valid UTF-8 (capture.Request.Raw), as JSON; NULL when
-- all are valid, and in rows written before this column or by an older relay.
ALTER TABLE events ADD COLUMN raw TEXT;
