package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/hookctl/hookctl/tunnel/capture"
)

// chunkSize is the most body bytes one row holds
// (migrations/0007_body_chunks.sql). Each insert or read of a row costs
// about twice its size in C memory outside the Go heap (the driver's copy of
// the bound value, SQLite's record buffer), so a chunk bounds what storing
// or reading any body costs there. Bodies up to one chunk — nearly every
// webhook — are one row, as before.
const chunkSize = 256 << 10

const (
	// insertBody writes a non-empty body's first row beside its event's
	// (migrations/0006_bodies.sql says why it is not inline); size is set
	// only when more chunks follow.
	insertBody  = `INSERT INTO bodies (event_seq, data, size) VALUES (?, ?, ?)`
	insertChunk = `INSERT INTO body_chunks (event_seq, n, data) VALUES (?, ?, ?)`
	selectChunk = `SELECT n, data FROM body_chunks WHERE event_seq = ? ORDER BY n`
)

// insertBodyRows writes body's rows for the event seq in x's transaction:
// one row up to chunkSize, else chunks. The caller undoes the event's row
// when they fail (a savepoint around chunks, undoInsert for one row), so a
// failure part way leaves none of them.
func insertBodyRows(x *txExec, seq int64, body []byte) error {
	if len(body) == 0 {
		return nil
	}
	if len(body) <= chunkSize {
		_, err := x.exec(insertBody, seq, body, nil)
		return err
	}
	if _, err := x.exec(insertBody, seq, body[:chunkSize], len(body)); err != nil {
		return err
	}
	for n, off := 1, chunkSize; off < len(body); n, off = n+1, off+chunkSize {
		if _, err := x.exec(insertChunk, seq, n, body[off:min(off+chunkSize, len(body))]); err != nil {
			return err
		}
	}
	return nil
}

// savepoint runs fn, a write of several statements, so that it takes
// effect whole or not at all: the batch's other writes commit either way.
func savepoint(x *txExec, fn func() error) error {
	if _, err := x.exec("SAVEPOINT write"); err != nil {
		return err
	}
	if err := fn(); err != nil {
		x.exec("ROLLBACK TO write")
		x.exec("RELEASE write")
		return err
	}
	_, err := x.exec("RELEASE write")
	return err
}

// undoInsert deletes the event row seq, whose body rows failed with err,
// and gives its seq out again, as a rollback would. When that fails the
// row cannot be taken back: the whole transaction fails.
func undoInsert(x *txExec, seq int64, err error) error {
	if _, derr := x.exec("DELETE FROM events WHERE seq = ?", seq); derr != nil {
		return &txAbort{fmt.Errorf("%w; undo: %w", err, derr)}
	}
	// The delete took the newest event, so it raised event_seq_floor to seq.
	if _, serr := x.exec("UPDATE event_seq_floor SET seq = ? WHERE seq = ?", seq-1, seq); serr != nil {
		return &txAbort{fmt.Errorf("%w; undo: %w", err, serr)}
	}
	return err
}

// errGone is a chunked body whose event was deleted (retention, purge)
// between the read of its row and the read of its chunks.
var errGone = errors.New("event deleted while read")

// chunked is an event read with only its body's first chunk.
type chunked struct {
	seq  int64
	ev   *capture.Request
	size int64 // the whole body's
}

// readChunks completes the body of each event in cs from body_chunks,
// into one buffer of the body's size per event. It runs once the rows that
// named cs are closed, so a read never holds two of the pool's connections.
// gone reports the events deleted meanwhile; callers leave them out.
func (s *Store) readChunks(ctx context.Context, cs []chunked) (gone map[int64]bool, err error) {
	for _, c := range cs {
		err := s.readRest(ctx, c)
		if errors.Is(err, errGone) {
			if gone == nil {
				gone = map[int64]bool{}
			}
			gone[c.seq] = true
			continue
		}
		if err != nil {
			return nil, err
		}
	}
	return gone, nil
}

func (s *Store) readRest(ctx context.Context, c chunked) error {
	body := make([]byte, len(c.ev.Body), c.size)
	copy(body, c.ev.Body)
	rows, err := s.rdb.QueryContext(ctx, selectChunk, c.seq)
	if err != nil {
		return fmt.Errorf("event %s body: %w", c.ev.ID, err)
	}
	defer rows.Close()
	want := int64(1)
	for rows.Next() {
		var (
			n    int64
			data sql.RawBytes // the driver's copy, not one more
		)
		if err := rows.Scan(&n, &data); err != nil {
			return fmt.Errorf("event %s body: %w", c.ev.ID, err)
		}
		if n != want || int64(len(body)+len(data)) > c.size {
			return fmt.Errorf("event %s body: chunk %d (%d bytes) does not follow %d of %d bytes", c.ev.ID, n, len(data), len(body), c.size)
		}
		body = append(body, data...)
		want++
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("event %s body: %w", c.ev.ID, err)
	}
	if int64(len(body)) == c.size {
		c.ev.Body = body
		return nil
	}
	var one int
	err = s.rdb.QueryRowContext(ctx, "SELECT 1 FROM events WHERE seq = ?", c.seq).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return errGone
	}
	if err != nil {
		return fmt.Errorf("event %s body: %w", c.ev.ID, err)
	}
	return fmt.Errorf("event %s body: %d of %d bytes stored", c.ev.ID, len(body), c.size)
}
