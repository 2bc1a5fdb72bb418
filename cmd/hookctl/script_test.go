package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/hookctl/hookctl/cmd/cli"
	"github.com/hookctl/hookctl/relay-server/relaycmd"
)

// The scripts run real processes: hookctl and relay-server are this test
// binary re-executed under those names, like the echo-app target and the
// sendhook sender, which stand in for a local app and for curl.
func TestMain(m *testing.M) {
	os.Exit(testscript.RunMain(m, map[string]func() int{
		"hookctl":      cli.Main,
		"relay-server": relaycmd.Main,
		"echo-app":     echoAppMain,
		"sendhook":     sendhookMain,
	}))
}

func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir: "testdata/script",
		Setup: func(env *testscript.Env) error {
			// HOOKCTL_EMBEDDED_PORT: the usual 8787 may be taken by a
			// hookctl listen the developer is running.
			for _, name := range []string{"RELAY_PORT", "APP_PORT", "APP2_PORT", "APP3_PORT", "HOOKCTL_EMBEDDED_PORT"} {
				port, err := freePort()
				if err != nil {
					return err
				}
				env.Setenv(name, port)
			}
			env.Setenv("HOOKCTL_CONFIG_DIR", filepath.Join(env.WorkDir, "config"))
			env.Setenv("HOOKCTL_DATA_DIR", filepath.Join(env.WorkDir, "data"))
			env.Setenv("NO_COLOR", "1")
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"bg":       cmdBg,
			"stopbg":   cmdStopBg,
			"waitfile": cmdWaitFile,
			"waithttp": cmdWaitHTTP,
			"setenvre": cmdSetenvRe,
			"waitcmd":  cmdWaitCmd,
			"exitcode": cmdExitCode,
		},
	})
}

// exitcode N PROGRAM ARGS... runs PROGRAM and fails unless it exits with
// status N; its stdout and stderr go to $WORK/exit.out and $WORK/exit.err.
func cmdExitCode(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: exitcode N PROGRAM [ARGS...]")
	}
	want, err := strconv.Atoi(args[0])
	ts.Check(err)
	path, err := exec.LookPath(args[1])
	ts.Check(err)
	var stdout, stderr strings.Builder
	cmd := exec.Command(path, args[2:]...)
	cmd.Dir = ts.MkAbs(".")
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.Env = os.Environ()
	for _, k := range envKeys {
		cmd.Env = append(cmd.Env, k+"="+ts.Getenv(k))
	}
	err = cmd.Run()
	var exitErr *exec.ExitError
	if err != nil && !errors.As(err, &exitErr) {
		ts.Fatalf("%s: %v", args[1], err)
	}
	ts.Check(os.WriteFile(ts.MkAbs("exit.out"), []byte(stdout.String()), 0o644))
	ts.Check(os.WriteFile(ts.MkAbs("exit.err"), []byte(stderr.String()), 0o644))
	if got := cmd.ProcessState.ExitCode(); got != want {
		ts.Fatalf("%s exited %d, want %d\nstderr: %s", strings.Join(args[1:], " "), got, want, stderr.String())
	}
}

// freePort returns a loopback port that was free a moment ago.
func freePort() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return strconv.Itoa(ln.Addr().(*net.TCPAddr).Port), nil
}

// envKeys are passed from the script's environment to background processes.
var envKeys = []string{"WORK", "HOME", "TMPDIR", "HOOKCTL_CONFIG_DIR", "HOOKCTL_DATA_DIR", "HOOKCTL_EMBEDDED_PORT", "HOOKCTL_RELAY", "HOOKCTL_TOKEN", "NO_COLOR"}

type bgProc struct {
	cmd  *exec.Cmd
	done chan error
}

// bg NAME PROGRAM ARGS... starts PROGRAM in the background with stdout and
// stderr going to $WORK/NAME.out and $WORK/NAME.err as it runs.
func cmdBg(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: bg NAME PROGRAM [ARGS...]")
	}
	name := args[0]
	path, err := exec.LookPath(args[1])
	ts.Check(err)
	out, err := os.Create(ts.MkAbs(name + ".out"))
	ts.Check(err)
	errf, err := os.Create(ts.MkAbs(name + ".err"))
	ts.Check(err)
	cmd := exec.Command(path, args[2:]...)
	cmd.Dir = ts.MkAbs(".")
	cmd.Stdout, cmd.Stderr = out, errf
	cmd.Env = os.Environ()
	for _, k := range envKeys {
		cmd.Env = append(cmd.Env, k+"="+ts.Getenv(k))
	}
	ts.Check(cmd.Start())
	p := &bgProc{cmd: cmd, done: make(chan error, 1)}
	go func() { p.done <- cmd.Wait(); out.Close(); errf.Close() }()
	ts.Setenv("BG_"+name, "running")
	procsMu.Lock()
	procs[procKey(ts, name)] = p
	procsMu.Unlock()
	ts.Defer(func() {
		cmd.Process.Kill()
		<-p.done
	})
}

// procs holds background processes by script and name; scripts run in
// parallel, so the key includes the work directory.
var (
	procsMu sync.Mutex
	procs   = map[string]*bgProc{}
)

func procKey(ts *testscript.TestScript, name string) string { return ts.MkAbs(name) }

// stopbg NAME sends SIGINT and waits; it fails if the process exits non-zero
// (or, negated, if it exits zero).
func cmdStopBg(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 1 {
		ts.Fatalf("usage: stopbg NAME")
	}
	procsMu.Lock()
	p := procs[procKey(ts, args[0])]
	procsMu.Unlock()
	if p == nil {
		ts.Fatalf("no background process %s", args[0])
	}
	p.cmd.Process.Signal(syscall.SIGINT)
	var err error
	select {
	case err = <-p.done:
		p.done <- err // for the deferred kill
	case <-time.After(30 * time.Second):
		ts.Fatalf("%s did not stop within 30s of SIGINT", args[0])
	}
	if neg && err == nil {
		ts.Fatalf("%s exited 0", args[0])
	}
	if !neg && err != nil {
		ts.Fatalf("%s: %v\n%s", args[0], err, ts.ReadFile(args[0]+".err"))
	}
}

// waitfile FILE REGEXP waits until FILE matches REGEXP; it fails after 30s,
// or early when the file belongs to a background process that has exited.
func cmdWaitFile(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: waitfile FILE REGEXP")
	}
	re, err := regexp.Compile(args[1])
	ts.Check(err)
	deadline := time.Now().Add(30 * time.Second)
	for {
		b, _ := os.ReadFile(ts.MkAbs(args[0]))
		if re.Match(b) {
			return
		}
		if time.Now().After(deadline) {
			ts.Fatalf("%s does not match %q after 30s:\n%s", args[0], args[1], b)
		}
		time.Sleep(20 * time.Millisecond) // polling a file another process writes
	}
}

// waithttp URL waits until GET URL answers 200.
func cmdWaitHTTP(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: waithttp URL")
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		res, err := http.Get(args[0])
		if err == nil {
			res.Body.Close()
			if res.StatusCode == 200 {
				return
			}
		}
		if time.Now().After(deadline) {
			ts.Fatalf("%s not ready after 30s: %v", args[0], err)
		}
		time.Sleep(20 * time.Millisecond) // polling another process's port
	}
}

// waitcmd REGEXP PROGRAM ARGS... runs PROGRAM until its stdout matches
// REGEXP (for state another process records asynchronously, such as an
// event's response), for at most 30s.
func cmdWaitCmd(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: waitcmd REGEXP PROGRAM [ARGS...]")
	}
	re, err := regexp.Compile(args[0])
	ts.Check(err)
	path, err := exec.LookPath(args[1])
	ts.Check(err)
	deadline := time.Now().Add(30 * time.Second)
	for {
		cmd := exec.Command(path, args[2:]...)
		cmd.Dir = ts.MkAbs(".")
		cmd.Env = os.Environ()
		for _, k := range envKeys {
			cmd.Env = append(cmd.Env, k+"="+ts.Getenv(k))
		}
		out, _ := cmd.Output()
		if re.Match(out) {
			return
		}
		if time.Now().After(deadline) {
			ts.Fatalf("%s output does not match %q after 30s:\n%s", args[1], args[0], out)
		}
		time.Sleep(50 * time.Millisecond) // polling another process's state
	}
}

// setenvre VAR FILE REGEXP sets VAR to the first submatch of REGEXP in FILE
// (or the whole match when it has no group).
func cmdSetenvRe(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 3 {
		ts.Fatalf("usage: setenvre VAR FILE REGEXP")
	}
	re, err := regexp.Compile(args[2])
	ts.Check(err)
	m := re.FindStringSubmatch(ts.ReadFile(args[1]))
	if m == nil {
		ts.Fatalf("%s does not match %q", args[1], args[2])
	}
	ts.Setenv(args[0], m[len(m)-1])
}

// echoAppMain is a tiny local app: echo-app ADDR [-ok]. It answers every
// request with 200 (or, without -ok, the status its X-Echo-Status header
// asks for), an
// X-Echo-Method header and a body of "METHOD URI\n" followed by the request
// body, and logs "METHOD URI" lines to stdout.
func echoAppMain() int {
	fixed := len(os.Args) == 3 && os.Args[2] == "-ok"
	if len(os.Args) != 2 && !fixed {
		fmt.Fprintln(os.Stderr, "usage: echo-app ADDR [-ok]")
		return 2
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		fmt.Printf("%s %s %s\n", r.Method, r.RequestURI, r.Header.Get("X-Test"))
		w.Header().Set("X-Echo-Method", r.Method)
		status := http.StatusOK
		if n, err := strconv.Atoi(r.Header.Get("X-Echo-Status")); err == nil && !fixed {
			status = n
		}
		w.WriteHeader(status)
		fmt.Fprintf(w, "%s %s\n", r.Method, r.RequestURI)
		w.Write(body)
	})
	srv := &http.Server{Addr: os.Args[1], Handler: h, ReadHeaderTimeout: 5 * time.Second}
	if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// sendhookMain stands in for curl: sendhook [-X METHOD] [-H 'Name: value']... [-n N] URL [FILE].
// It prints the status code, the response headers it was asked about with
// -show, and the body; with -n it sends N times, one after another, and
// prints "STATUS xCOUNT" lines instead.
func sendhookMain() int {
	method, show, n := "POST", []string{}, 1
	hdr := http.Header{}
	args := os.Args[1:]
	for len(args) > 1 && strings.HasPrefix(args[0], "-") {
		switch args[0] {
		case "-X":
			method = args[1]
		case "-H":
			k, v, _ := strings.Cut(args[1], ":")
			hdr.Add(strings.TrimSpace(k), strings.TrimSpace(v))
		case "-show":
			show = append(show, args[1])
		case "-n":
			var err error
			if n, err = strconv.Atoi(args[1]); err != nil || n < 1 {
				fmt.Fprintln(os.Stderr, "sendhook: bad -n", args[1])
				return 2
			}
		default:
			fmt.Fprintln(os.Stderr, "sendhook: unknown flag", args[0])
			return 2
		}
		args = args[2:]
	}
	if len(args) < 1 || len(args) > 2 {
		fmt.Fprintln(os.Stderr, "usage: sendhook [-X METHOD] [-H 'Name: value'] [-show Name] URL [FILE]")
		return 2
	}
	var body []byte
	if len(args) == 2 {
		var err error
		if body, err = os.ReadFile(args[1]); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	}
	if n > 1 {
		counts := map[int]int{}
		for range n {
			req, err := http.NewRequest(method, args[0], bytes.NewReader(body))
			if err != nil {
				fmt.Fprintln(os.Stderr, err)
				return 1
			}
			req.Header = hdr.Clone()
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				fmt.Fprintln(os.Stderr, err)
				return 1
			}
			io.Copy(io.Discard, res.Body)
			res.Body.Close()
			counts[res.StatusCode]++
		}
		for _, code := range slices.Sorted(maps.Keys(counts)) {
			fmt.Printf("%d x%d\n", code, counts[code])
		}
		return 0
	}
	req, err := http.NewRequest(method, args[0], bytes.NewReader(body))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	req.Header = hdr
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer res.Body.Close()
	fmt.Println(res.StatusCode)
	for _, k := range show {
		fmt.Printf("%s: %s\n", k, strings.Join(res.Header.Values(k), ", "))
	}
	w := bufio.NewWriter(os.Stdout)
	io.Copy(w, res.Body)
	w.Flush()
	return 0
}
