package relaycmd

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hookctl/hookctl/relay-server/store"
	"github.com/hookctl/hookctl/relay-server/store/sqlite"
	"github.com/hookctl/hookctl/relay-server/store/storetest"
)

// TestPurgeAsks answers the --pending question as a person at a terminal
// would: anything but yes deletes nothing.
func TestPurgeAsks(t *testing.T) {
	data := t.TempDir()
	st, err := sqlite.Open(filepath.Join(data, "relay.db"))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	now := time.Now()
	if err := st.CreateEndpoint(ctx, store.Endpoint{Name: "alpha", CreatedAt: now}); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"evt_1", "evt_2"} {
		if err := st.InsertEvent(ctx, storetest.Event(id, "alpha", now)); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	purge := func(answer string) (string, string, error) {
		var out, errOut bytes.Buffer
		ios := &streams{in: strings.NewReader(answer), interactive: true, out: &out, errOut: &errOut, now: time.Now}
		err := eventsPurgeRun(ctx, ios, &purgeOptions{data: location{data: data}, endpoint: "alpha", pending: true})
		return out.String(), errOut.String(), err
	}
	for _, answer := range []string{"", "n\n", "no\n", "maybe\n"} {
		out, question, err := purge(answer)
		if err != errNotConfirmed || out != "" || !strings.Contains(question, "Endpoint alpha has 2 undelivered events.") ||
			!strings.HasSuffix(question, "[y/N] ") {
			t.Errorf("answer %q: %v, stdout %q, asked %q", answer, err, out, question)
		}
	}
	out, _, err := purge("Y\n")
	if err != nil || out != "deleted 2 events of endpoint alpha\n" {
		t.Errorf("answer y: %q, %v", out, err)
	}
}
