package store_test

import (
	"strings"
	"testing"
	"testing/fstest"

	"github.com/hookctl/hookctl/relay-server/store"
)

func TestMigrations(t *testing.T) {
	fsys := fstest.MapFS{
		"m/0002_b.sql":   {Data: []byte("B")},
		"m/0001_a.sql":   {Data: []byte("A")},
		"m/0003_c.sql":   {Data: []byte("C")},
		"m/readme.txt":   {Data: []byte("not a migration")},
		"other/0009.sql": {Data: []byte("elsewhere")},
	}
	ms, err := store.Migrations(fsys, "m/*.sql", 1)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range ms {
		got = append(got, m.Name+"="+m.SQL)
		if !strings.HasPrefix(m.Name, "m/000") {
			t.Errorf("%+v", m)
		}
	}
	if strings.Join(got, " ") != "m/0002_b.sql=B m/0003_c.sql=C" || ms[0].Version != 2 || ms[1].Version != 3 {
		t.Errorf("after 1: %v", ms)
	}
	fsys["m/x_bad.sql"] = &fstest.MapFile{Data: []byte("X")}
	if _, err := store.Migrations(fsys, "m/*.sql", 0); err == nil || err.Error() != "migration m/x_bad.sql: bad name" {
		t.Errorf("a file without a number: %v", err)
	}
}
