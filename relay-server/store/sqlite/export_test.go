package sqlite

import (
	"context"
	"fmt"

	"modernc.org/sqlite"
)

// WriterPages reports the pages the writer's connection has written (to the
// WAL: one frame each) and read from the file (cache misses) since it
// opened. It runs as a write of its own, which writes nothing.
func WriterPages(s *Store) (written, missed int, err error) {
	err = s.write(context.Background(), true, func(x *txExec) error {
		st, ok := x.conn.(sqlite.DBStatus)
		if !ok {
			return fmt.Errorf("driver connection %T reports no status", x.conn)
		}
		if written, _, err = st.Status(sqlite.DBStatusCacheWrite, false); err != nil {
			return err
		}
		missed, _, err = st.Status(sqlite.DBStatusCacheMiss, false)
		return err
	})
	return written, missed, err
}
