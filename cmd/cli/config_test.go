package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hookctl/hookctl/tunnel/wire"
)

// testFactory returns a Factory with buffers for streams, env from the map
// and temporary config and data directories.
func testFactory(t *testing.T, env map[string]string) (*Factory, *bytes.Buffer, *bytes.Buffer) {
	t.Helper()
	var out, errOut bytes.Buffer
	f := &Factory{
		IO:        &IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut},
		Getenv:    func(k string) string { return env[k] },
		Now:       time.Now,
		ConfigDir: t.TempDir(),
		DataDir:   t.TempDir(),
	}
	return f, &out, &errOut
}

func TestResolveRelayPrecedence(t *testing.T) {
	f, _, _ := testFactory(t, map[string]string{})
	tgt, err := resolveRelay(f, relayFlags{})
	if err != nil || !tgt.Embedded || tgt.key() != "embedded" {
		t.Fatalf("no relay anywhere: %+v, %v; want embedded", tgt, err)
	}

	os.WriteFile(filepath.Join(f.ConfigDir, "config.json"), []byte(`{"relay":"http://cfg:1/","token":"cfgtok","other":{"keep":true}}`), 0o600)
	tgt, _ = resolveRelay(f, relayFlags{})
	if tgt.URL != "http://cfg:1" || tgt.Token != "cfgtok" || tgt.Embedded {
		t.Errorf("config: %+v", tgt)
	}
	env := map[string]string{"HOOKCTL_RELAY": "https://env", "HOOKCTL_TOKEN": "envtok"}
	f.Getenv = func(k string) string { return env[k] }
	tgt, _ = resolveRelay(f, relayFlags{})
	if tgt.URL != "https://env" || tgt.Token != "envtok" {
		t.Errorf("env: %+v", tgt)
	}
	tgt, _ = resolveRelay(f, relayFlags{Relay: "http://flag", Token: "flagtok"})
	if tgt.URL != "http://flag" || tgt.Token != "flagtok" {
		t.Errorf("flags: %+v", tgt)
	}
	if _, err := resolveRelay(f, relayFlags{Relay: "relay.example"}); err == nil {
		t.Error("relay URL without scheme accepted")
	}

	// Saving an endpoint keeps keys hookctl does not know.
	tgt.Config.Endpoints["http://flag"] = "brave-otter-42"
	if err := tgt.Config.save(); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(filepath.Join(f.ConfigDir, "config.json"))
	for _, want := range []string{`"keep": true`, `"http://flag": "brave-otter-42"`, `"token": "cfgtok"`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("saved config lacks %s:\n%s", want, b)
		}
	}
	if fi, _ := os.Stat(filepath.Join(f.ConfigDir, "config.json")); fi.Mode().Perm() != 0o600 {
		t.Errorf("config mode %v, want 0600", fi.Mode().Perm())
	}
}

func TestParseReply(t *testing.T) {
	for in, want := range map[string]wire.ReplyOptions{
		"":           {Mode: wire.ReplyPassthrough, Timeout: time.Second},
		"ack":        {Mode: wire.ReplyAck, Timeout: time.Second},
		"status:503": {Mode: wire.ReplyStatus, Status: 503, Timeout: time.Second},
	} {
		got, err := parseReply(in, time.Second)
		if err != nil || *got != want {
			t.Errorf("parseReply(%q) = %+v, %v", in, got, err)
		}
	}
	for _, bad := range []string{"status:99", "status:150", "status:600", "status:x", "nack"} {
		if _, err := parseReply(bad, 0); err == nil {
			t.Errorf("parseReply(%q) accepted", bad)
		}
	}
}

func TestListenUsageErrorsExitTwo(t *testing.T) {
	for _, args := range [][]string{
		{"listen"},
		{"listen", "--forward", "ftp://x"},
		{"listen", "--forward", "3000", "--output", "yaml"},
		{"listen", "--forward", "3000", "--reply", "status:9"},
		{"listen", "--forward", "3000", "--route", "github=3001"},
		{"listen", "--forward", "3000", "--endpoint", "Bad_Name", "--relay", "http://127.0.0.1:1"},
	} {
		f, _, errOut := testFactory(t, nil)
		if code := Run(context.Background(), args, f); code != ExitUsage {
			t.Errorf("%v: exit %d, want %d; stderr %s", args, code, ExitUsage, errOut)
		}
		if !strings.HasPrefix(errOut.String(), "Error: ") {
			t.Errorf("%v: stderr %q", args, errOut)
		}
	}
}
