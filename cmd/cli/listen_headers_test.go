package cli

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// rawApp accepts connections and sends the header block of each request it
// reads on got, as it came off the wire: a Go server would canonicalise
// the names this test is about.
func rawApp(t *testing.T) (string, <-chan string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan string, 16)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			conn.SetDeadline(time.Now().Add(10 * time.Second))
			br := bufio.NewReader(conn)
			var head strings.Builder
			for {
				line, err := br.ReadString('\n')
				head.WriteString(line)
				if err != nil || line == "\r\n" {
					break
				}
			}
			req, err := http.ReadRequest(bufio.NewReader(strings.NewReader(head.String())))
			if err == nil && req.ContentLength > 0 {
				io.CopyN(io.Discard, br, req.ContentLength)
			}
			io.WriteString(conn, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
			conn.Close()
			got <- head.String()
		}
	}()
	t.Cleanup(func() { ln.Close(); <-done })
	return "http://" + ln.Addr().String(), got
}

// The app behind `hookctl listen` gets header names spelled as the sender
// wrote them, except those Go's client manages (one User-Agent, never a
// second one beside the sender's).
func TestListenForwardsHeaderNamesAsSent(t *testing.T) {
	relayURL := startTestRelay(t)
	appURL, got := rawApp(t)
	out, errOut := newSyncBuffer(), newSyncBuffer()
	f, _, _ := testFactory(t, nil)
	f.IO = &IOStreams{In: strings.NewReader(""), Out: out, ErrOut: errOut}
	opts := &ListenOptions{IO: f.IO, Factory: f, relayFlags: relayFlags{Relay: relayURL}, Forward: appURL,
		outputFlags: outputFlags{Output: "log"}, Concurrency: 1, Reply: "ack", Timeout: 5 * time.Second}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- listenRun(ctx, opts) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("listenRun after cancel = %v", err)
		}
	}()
	hook := errOut.waitFor(t, regexp.MustCompile(`Webhook URL: (http://\S+/h/[a-z0-9-]+)`))
	u, _ := url.Parse(hook)

	conn, err := net.Dial("tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(conn, "POST "+u.Path+"/gh HTTP/1.1\r\n"+
		"Host: relay.test\r\n"+
		"X-GitHub-Event: push\r\n"+
		"x-hub-signature-256: sha256=00ff\r\n"+
		"user-agent: GitHub-Hookshot/abc\r\n"+
		"content-type: application/json\r\n"+
		"x-dup: one\r\n"+
		"X-DUP: two\r\n"+
		"accept-encoding: identity\r\n"+
		"connection: x-hop\r\n"+
		"x-hop: secret\r\n"+
		"x-forwarded-for: 198.51.100.1\r\n"+
		"Content-Length: 2\r\n\r\n{}")
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("sender got %d", resp.StatusCode)
	}

	var head string
	select {
	case head = <-got:
	case <-time.After(15 * time.Second):
		t.Fatal("the app got nothing")
	}
	lines := strings.Split(strings.TrimSuffix(head, "\r\n\r\n"), "\r\n")[1:]
	for _, want := range []string{
		"X-GitHub-Event: push",
		"x-hub-signature-256: sha256=00ff",
		"content-type: application/json",
		"x-dup: one", "x-dup: two", // one spelling per name, values in order
		"User-Agent: GitHub-Hookshot/abc",
		"Accept-Encoding: identity",
		"X-Forwarded-For: 198.51.100.1, 127.0.0.1",
		"Content-Length: 2",
	} {
		if !slices.Contains(lines, want) {
			t.Errorf("app did not get %q in\n%s", want, head)
		}
	}
	if i, j := slices.Index(lines, "x-dup: one"), slices.Index(lines, "x-dup: two"); i > j {
		t.Errorf("x-dup values out of order:\n%s", head)
	}
	count := func(name string) int {
		n := 0
		for _, l := range lines {
			if k, _, _ := strings.Cut(l, ":"); strings.EqualFold(k, name) {
				n++
			}
		}
		return n
	}
	for name, want := range map[string]int{"User-Agent": 1, "Accept-Encoding": 1, "Host": 1, "X-Forwarded-For": 1,
		"Content-Type": 1, "Connection": 0, "X-Hop": 0} {
		if n := count(name); n != want {
			t.Errorf("%d %s lines, want %d:\n%s", n, name, want, head)
		}
	}
}
