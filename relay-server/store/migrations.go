package store

import (
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
)

// Migration is one schema change of a backend, from an embedded file named
// NNNN_what.sql. Each backend applies them in its own dialect and records
// the version its own way.
type Migration struct {
	Version int
	Name    string // the file's path in its file system
	SQL     string
}

// Migrations returns the migrations matching pattern in fsys (such as
// "migrations/*.sql") whose version is above after, in order of name.
func Migrations(fsys fs.FS, pattern string, after int) ([]Migration, error) {
	names, err := fs.Glob(fsys, pattern)
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	var out []Migration
	for _, name := range names {
		n, err := strconv.Atoi(strings.SplitN(path.Base(name), "_", 2)[0])
		if err != nil {
			return nil, fmt.Errorf("migration %s: bad name", name)
		}
		if n <= after {
			continue
		}
		body, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, err
		}
		out = append(out, Migration{Version: n, Name: name, SQL: string(body)})
	}
	return out, nil
}
