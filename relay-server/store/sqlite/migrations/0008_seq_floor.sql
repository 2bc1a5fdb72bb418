-- Seqs without AUTOINCREMENT. AUTOINCREMENT kept the highest seq ever given out in sqlite_sequence, which
-- every insert rewrote: one more page written to the WAL on every commit. Seqs are still never reused (a
-- connected CLI's cursor is a seq: an event given a purged event's seq could be skipped): an insert takes
-- max(max(seq), event_seq_floor.seq) + 1 (insertEvent), and event_seq_floor holds the highest seq deleted
-- while no stored event had a higher one, written by the trigger below only when a delete (retention,
-- purge) takes the newest event. SQLite's table rebuild (https://www.sqlite.org/lang_altertable.html,
-- "Making Other Kinds Of Table Schema Changes"), in this migration's transaction, keeps every row and seq.
CREATE TABLE event_seq_floor (
	seq INTEGER NOT NULL
);
INSERT INTO event_seq_floor (seq) VALUES (coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'events'), 0));

CREATE TABLE events_rebuilt (
	seq             INTEGER PRIMARY KEY, -- delivery order, never reused (above)
	id              TEXT NOT NULL UNIQUE,
	endpoint        TEXT NOT NULL,
	received_at     INTEGER NOT NULL,
	method          TEXT NOT NULL,
	path            TEXT NOT NULL,
	query           TEXT NOT NULL,
	headers         TEXT NOT NULL, -- JSON capture.Headers
	host            TEXT NOT NULL,
	proto           TEXT NOT NULL,
	remote_addr     TEXT NOT NULL,
	replay_of       TEXT NOT NULL DEFAULT '',
	state           TEXT NOT NULL, -- pending | delivered
	attempts        INTEGER NOT NULL DEFAULT 0,
	response        TEXT, -- JSON capture.Response
	delivered_at    INTEGER,
	force_query     INTEGER NOT NULL DEFAULT 0,
	raw             TEXT,
	retries         INTEGER NOT NULL DEFAULT 0,
	next_attempt_at INTEGER
);
INSERT INTO events_rebuilt (seq, id, endpoint, received_at, method, path, query, headers, host, proto, remote_addr,
	replay_of, state, attempts, response, delivered_at, force_query, raw, retries, next_attempt_at)
SELECT seq, id, endpoint, received_at, method, path, query, headers, host, proto, remote_addr,
	replay_of, state, attempts, response, delivered_at, force_query, raw, retries, next_attempt_at FROM events;
DROP TABLE events;
ALTER TABLE events_rebuilt RENAME TO events;

CREATE INDEX events_pending ON events (endpoint, seq) WHERE state = 'pending';
CREATE INDEX events_endpoint ON events (endpoint, seq);
CREATE INDEX events_received ON events (received_at);
CREATE TRIGGER events_delete_body AFTER DELETE ON events BEGIN
	DELETE FROM bodies WHERE event_seq = old.seq;
END;
CREATE TRIGGER events_delete_body_chunks AFTER DELETE ON events BEGIN
	DELETE FROM body_chunks WHERE event_seq = old.seq;
END;
-- Rows are deleted one at a time, so of the events one statement deletes, the one with the highest seq finds
-- none left above it.
CREATE TRIGGER events_delete_seq_floor AFTER DELETE ON events
	WHEN old.seq > (SELECT seq FROM event_seq_floor) AND old.seq > coalesce((SELECT max(seq) FROM events), 0)
BEGIN
	UPDATE event_seq_floor SET seq = old.seq;
END;
