-- A body larger than one chunk (256 KiB) is stored in chunks: the first in bodies.data, with the whole
-- body's size in bodies.size, the rest in body_chunks (n = 1, 2, ...). SQLite builds each row it inserts
-- in one buffer of the row's size, after the driver has copied the bound value into C memory, so a 20 MiB
-- body inline cost two 20 MiB copies outside the Go heap on every insert, and as much again on every read.
-- Rows written before this migration keep their whole body in bodies.data (size NULL), as do bodies of one
-- chunk or less.
ALTER TABLE bodies ADD COLUMN size INTEGER;
CREATE TABLE body_chunks (
	event_seq INTEGER NOT NULL, -- events.seq
	n         INTEGER NOT NULL, -- 1, 2, ...: the body's chunks after the one in bodies
	data      BLOB NOT NULL,
	PRIMARY KEY (event_seq, n)
);
CREATE TRIGGER events_delete_body_chunks AFTER DELETE ON events BEGIN
	DELETE FROM body_chunks WHERE event_seq = old.seq;
END;
