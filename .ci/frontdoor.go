//go:build ignore

// frontdoor runs the README's first set-up command exactly as written, on a
// clean clone: it reads the command from README.md, starts an app on
// localhost:3000 (the port the command names), runs the command with fresh
// config and data directories, sends examples/payload.json to the webhook URL
// it prints and checks that the app received those bytes and the sender got
// the app's answer. .ci/run calls it with `go run .ci/frontdoor.go`.
package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"time"
)

const want = "go run ./cmd/hookctl listen --forward localhost:3000"

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "frontdoor:", err)
		os.Exit(1)
	}
}

func run() error {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		return err
	}
	cmdline, err := firstShellCommand(readme)
	if err != nil {
		return err
	}
	// The command is checked, not only run: a README edited to a different
	// first command must be looked at here on purpose.
	if cmdline != want {
		return fmt.Errorf("README's first command is %q; this check runs %q", cmdline, want)
	}
	payload, err := os.ReadFile("examples/payload.json")
	if err != nil {
		return err
	}

	got := make(chan []byte, 1)
	ln, err := net.Listen("tcp", "127.0.0.1:3000")
	if err != nil {
		return fmt.Errorf("the README's command forwards to localhost:3000, which must be free here: %w", err)
	}
	app := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		select {
		case got <- b:
		default:
		}
		w.Header().Set("X-App", "frontdoor")
		fmt.Fprintf(w, "app saw %s %s", r.Method, r.URL.RequestURI())
	})}
	go app.Serve(ln)
	defer app.Close()

	tmp, err := os.MkdirTemp("", "hookctl-frontdoor-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	args := strings.Fields(cmdline)
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Env = append(os.Environ(),
		"HOOKCTL_CONFIG_DIR="+tmp+"/config",
		"HOOKCTL_DATA_DIR="+tmp+"/data",
		"NO_COLOR=1",
	)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // go run's child too
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return err
	}
	var stdout bytes.Buffer
	cmd.Stdout = &stdout
	if err := cmd.Start(); err != nil {
		return err
	}
	// Ctrl-C for listen itself: go run exits 1 when it gets SIGINT too,
	// whatever its child does, so the signal goes to go run's child.
	stop := func() error {
		// Each thread lists the children it started, so read every thread's list.
		tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", cmd.Process.Pid))
		var pids []string
		for _, t := range tasks {
			b, _ := os.ReadFile(t)
			pids = append(pids, strings.Fields(string(b))...)
		}
		if len(pids) != 1 {
			return fmt.Errorf("cannot find the one process go run started (children: %q)", pids)
		}
		var child int
		fmt.Sscan(pids[0], &child)
		return syscall.Kill(child, syscall.SIGINT)
	}
	defer func() { syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }()

	var log bytes.Buffer
	urlc := make(chan string, 1)
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		re := regexp.MustCompile(`Webhook URL: (http://\S+)`)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			log.WriteString(sc.Text() + "\n")
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case urlc <- m[1]:
				default:
				}
			}
		}
	}()
	var hook string
	select {
	case hook = <-urlc:
	case <-readDone:
		cmd.Wait()
		return fmt.Errorf("listen exited before printing a Webhook URL; stderr:\n%s", log.String())
	case <-time.After(5 * time.Minute): // the first go run compiles everything
		return fmt.Errorf("no Webhook URL printed in 5 minutes; stderr:\n%s", log.String())
	}
	fmt.Println("listen printed", hook)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "POST", hook+"/webhooks/github?x=1", bytes.NewReader(payload))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("send to %s: %w", hook, err)
	}
	answer, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("X-App") != "frontdoor" || string(answer) != "app saw POST /webhooks/github?x=1" {
		return fmt.Errorf("sender got %d %q (X-App %q), not the app's answer", resp.StatusCode, answer, resp.Header.Get("X-App"))
	}
	select {
	case b := <-got:
		if !bytes.Equal(b, payload) {
			return fmt.Errorf("app received %d bytes, not examples/payload.json's %d as on disk", len(b), len(payload))
		}
	default:
		return errors.New("the sender got the app's answer but the app saw no body")
	}
	fmt.Printf("the app received examples/payload.json byte for byte (%d bytes); the sender got the app's answer\n", len(payload))

	if err := stop(); err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { <-readDone; done <- cmd.Wait() }() // Wait after the last read of stderr
	select {
	case err := <-done:
		if err != nil {
			return fmt.Errorf("listen did not exit cleanly on Ctrl-C: %v; stdout:\n%s\nstderr:\n%s", err, stdout.String(), log.String())
		}
	case <-time.After(30 * time.Second):
		return fmt.Errorf("listen did not stop within 30 s of Ctrl-C")
	}
	return nil
}

// firstShellCommand is the first line of README's first ```sh block.
func firstShellCommand(readme []byte) (string, error) {
	sc := bufio.NewScanner(bytes.NewReader(readme))
	in := false
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case !in && line == "```sh":
			in = true
		case in && line != "" && !strings.HasPrefix(line, "#"):
			return line, nil
		}
	}
	return "", errors.New("README.md has no ```sh block")
}
