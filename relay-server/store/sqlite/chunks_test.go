package sqlite_test

// undoSeqFloor takes a database back to before migration 0008 as far as
// that migration needs to run again: events keeps its rebuilt form (no
// AUTOINCREMENT), which the migration rebuilds once more.
const undoSeqFloor = `DROP TRIGGER events_delete_seq_floor; DROP TABLE event_seq_floor; `

// undoChunks takes a database back to before migration 0007: every body
// whole in bodies.data (undoSeqFloor first). (|| and group_concat keep a
// blob's bytes, NULs and invalid UTF-8 included, in a UTF-8 database.)
const undoChunks = undoSeqFloor + `UPDATE bodies SET data = CAST(data || coalesce((SELECT group_concat(c.data, '' ORDER BY c.n)
		FROM body_chunks c WHERE c.event_seq = bodies.event_seq), x'') AS BLOB) WHERE size IS NOT NULL;
	DROP TRIGGER events_delete_body_chunks; DROP TABLE body_chunks; ALTER TABLE bodies DROP COLUMN size; `
