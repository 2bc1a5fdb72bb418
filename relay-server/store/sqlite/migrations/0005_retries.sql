-- Retries kept by the relay (store.Store.Retry): how many retryable answers the event got, and when it may be
-- sent again (Unix nanoseconds; NULL: at once).
ALTER TABLE events ADD COLUMN retries INTEGER NOT NULL DEFAULT 0;
ALTER TABLE events ADD COLUMN next_attempt_at INTEGER;
