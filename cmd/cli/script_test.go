package cli

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/hookctl/hookctl/relay-server/relay"
	"github.com/hookctl/hookctl/relay-server/store/sqlite"
)

// TestScripts runs the replay and export flows in testdata/script against
// a real relay and app on loopback ports. hookctl runs in-process through
// Run (the same entry point as the binary) so these scripts need no
// TestMain; the listen scripts in cmd/hookctl use real processes.
//
// Commands: hookctl ARGS...; relay (starts a relay, sets $RELAY); app
// (starts an app answering 201, logging "METHOD URI len=N" lines to
// app.out, sets $APP); sendhook URL FILE (POSTs FILE, prints the status);
// setenvre NAME FILE REGEXP (sets NAME to REGEXP's first group in FILE).
func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir: "testdata/script",
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"hookctl":  scriptHookctl,
			"relay":    scriptRelay,
			"app":      scriptApp,
			"sendhook": scriptSendhook,
			"setenvre": scriptSetenvre,
		},
	})
}

func scriptHookctl(ts *testscript.TestScript, neg bool, args []string) {
	f := &Factory{
		IO:        &IOStreams{In: strings.NewReader(""), Out: ts.Stdout(), ErrOut: ts.Stderr()},
		Getenv:    ts.Getenv,
		Now:       time.Now,
		ConfigDir: ts.MkAbs("config"),
		DataDir:   ts.MkAbs("data"),
	}
	code := Run(context.Background(), args, f)
	if (code != 0) != neg {
		ts.Fatalf("hookctl %s: exit %d", strings.Join(args, " "), code)
	}
}

func scriptRelay(ts *testscript.TestScript, neg bool, args []string) {
	st, err := sqlite.Open(ts.MkAbs("relay.db"))
	ts.Check(err)
	r, err := relay.New(relay.Config{Open: true}, st)
	ts.Check(err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	ts.Check(err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { r.Serve(ctx, ln); close(done) }()
	ts.Defer(func() { cancel(); <-done; st.Close() })
	ts.Setenv("RELAY", "http://"+ln.Addr().String())
}

func scriptApp(ts *testscript.TestScript, neg bool, args []string) {
	logPath := ts.MkAbs("app.out")
	var mu sync.Mutex
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		lf, err := os.OpenFile(logPath, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
		if err == nil {
			fmt.Fprintf(lf, "%s %s len=%d sig=%t\n", r.Method, r.RequestURI, len(b), r.Header.Get("Stripe-Signature") != "")
			lf.Close()
		}
		w.WriteHeader(http.StatusCreated)
		w.Write([]byte("created"))
	})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	ts.Check(err)
	go srv.Serve(ln)
	ts.Defer(func() { srv.Close() })
	ts.Setenv("APP", "http://"+ln.Addr().String())
}

func scriptSendhook(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: sendhook URL FILE")
	}
	req, err := http.NewRequest(http.MethodPost, args[0], strings.NewReader(ts.ReadFile(args[1])))
	ts.Check(err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Stripe-Signature", "t=1,v1=00")
	resp, err := http.DefaultClient.Do(req)
	ts.Check(err)
	resp.Body.Close()
	fmt.Fprintln(ts.Stdout(), resp.StatusCode)
}

func scriptSetenvre(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 3 {
		ts.Fatalf("usage: setenvre NAME FILE REGEXP")
	}
	m := regexp.MustCompile(args[2]).FindStringSubmatch(ts.ReadFile(args[1]))
	if len(m) < 2 {
		ts.Fatalf("%s: no match for %s", args[1], args[2])
	}
	ts.Setenv(args[0], m[1])
}
