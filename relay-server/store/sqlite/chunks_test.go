package sqlite_test

// undoChunks takes a database back to before migration 0007: every body
// whole in bodies.data. (|| and group_concat keep a blob's bytes, NULs and
// invalid UTF-8 included, in a UTF-8 database.)
const undoChunks = `UPDATE bodies SET data = CAST(data || coalesce((SELECT group_concat(c.data, '' ORDER BY c.n)
		FROM body_chunks c WHERE c.event_seq = bodies.event_seq), x'') AS BLOB) WHERE size IS NOT NULL;
	DROP TRIGGER events_delete_body_chunks; DROP TABLE body_chunks; ALTER TABLE bodies DROP COLUMN size; `
