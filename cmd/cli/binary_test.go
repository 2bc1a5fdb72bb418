package cli

import (
	"encoding/json"
	"io"
	"net"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hookctl/hookctl/tunnel/wire"
)

// TestEventsNotUTF8: a webhook whose path, query and a header value are not
// valid UTF-8 (Latin-1 bytes, sent raw), read back through a real relay's
// API: events show escapes the exact bytes for the terminal (\xe9, not
// U+FFFD), events show --json carries them in "raw", and events export
// --format http writes them as they were sent.
func TestEventsNotUTF8(t *testing.T) {
	relayURL := startTestRelay(t)
	c, err := net.Dial("tcp", strings.TrimPrefix(relayURL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(c, "POST /h/latin/caf\xe9?q=\xe9t\xe9 HTTP/1.1\r\nHost: x\r\nX-Name: caf\xe9\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi")
	answer, err := io.ReadAll(c)
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`"id":"(evt_[^"]+)"`).FindSubmatch(answer)
	if m == nil {
		t.Fatalf("relay answered %q", answer)
	}
	id := string(m[1])
	env := map[string]string{"HOOKCTL_RELAY": relayURL}

	code, out, errOut := runWithEnv(t, env, "events", "show", id)
	if code != 0 {
		t.Fatalf("show: exit %d: %s", code, errOut)
	}
	if !strings.Contains(out, `POST /caf\xe9?q=\xe9t\xe9`) || !strings.Contains(out, `X-Name: caf\xe9`) {
		t.Errorf("show printed:\n%s", out)
	}

	code, out, errOut = runWithEnv(t, env, "events", "show", id, "--json")
	if code != 0 {
		t.Fatalf("show --json: exit %d: %s", code, errOut)
	}
	var rec wire.EventRecord
	if err := json.Unmarshal([]byte(out), &rec); err != nil {
		t.Fatal(err)
	}
	if rec.Request.Raw == nil {
		t.Errorf("show --json has no raw:\n%s", out)
	}
	rec.RestoreRaw()
	if rec.Request.URI() != "/caf\xe9?q=\xe9t\xe9" || rec.Request.Headers.Get("X-Name") != "caf\xe9" {
		t.Errorf("show --json, restored: %q %q", rec.Request.URI(), rec.Request.Headers)
	}

	code, out, errOut = runWithEnv(t, env, "events", "export", id, "--format", "http")
	if code != 0 {
		t.Fatalf("export: exit %d: %s", code, errOut)
	}
	if !strings.HasPrefix(out, "POST /caf\xe9?q=\xe9t\xe9 HTTP/1.1\r\n") || !strings.Contains(out, "\r\nX-Name: caf\xe9\r\n") {
		t.Errorf("export --format http wrote %q", out)
	}
}
