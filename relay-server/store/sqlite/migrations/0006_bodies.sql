-- Bodies live in a table of their own, keyed by the event's seq: an UPDATE of an events row (mark-sent, ack,
-- retry) that changes the row's size makes SQLite rewrite the whole record, overflow pages included, so with
-- the body inline every ack of a 1 MiB event wrote 1 MiB again. An empty body has no row.
CREATE TABLE bodies (
	event_seq INTEGER PRIMARY KEY, -- events.seq
	data      BLOB NOT NULL
);
INSERT INTO bodies (event_seq, data) SELECT seq, body FROM events WHERE length(body) > 0;
ALTER TABLE events DROP COLUMN body;
-- Every deletion of an event (retention, purge) takes its body with it.
CREATE TRIGGER events_delete_body AFTER DELETE ON events BEGIN
	DELETE FROM bodies WHERE event_seq = old.seq;
END;
