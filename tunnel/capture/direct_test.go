package capture

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// rawServer accepts connections on 127.0.0.1, records each request's bytes
// as they arrived and answers it with answer, then closes the connection.
func rawServer(t *testing.T, answer string) (*url.URL, func() [][]byte) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	var mu sync.Mutex
	var got [][]byte
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			br := bufio.NewReader(c)
			var raw bytes.Buffer
			n := 0
			for {
				line, err := br.ReadString('\n')
				if err != nil {
					break
				}
				raw.WriteString(line)
				if name, v, ok := strings.Cut(line, ":"); ok && strings.EqualFold(name, "Content-Length") {
					n, _ = strconv.Atoi(strings.TrimSpace(v))
				}
				if line == "\r\n" {
					body := make([]byte, n)
					if _, err := io.ReadFull(br, body); err == nil {
						raw.Write(body)
					}
					break
				}
			}
			mu.Lock()
			got = append(got, raw.Bytes())
			mu.Unlock()
			c.Write([]byte(answer))
			c.Close()
		}
	}()
	u, _ := url.Parse("http://" + ln.Addr().String())
	return u, func() [][]byte { mu.Lock(); defer mu.Unlock(); return got }
}

// The direct way writes the bytes net/http's Transport writes.
func TestDirectSendsTheTransportsBytes(t *testing.T) {
	target, got := rawServer(t, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
	target.User = url.UserPassword("user", "pa:ss")
	target.Path, target.RawQuery = "/base", "token=1"
	req := &Request{Method: "POST", Path: "/hook/a%2Fb", Query: "x=1&y=%20", Body: []byte(`{"a":1}`),
		Host: "hooks.example", Proto: "https", RemoteAddr: "203.0.113.9:1234",
		Headers: Headers{{Name: "content-type", Value: "application/json"}, {Name: "X-Hub-Signature", Value: "sha1=1"},
			{Name: "x-multi", Value: "a"}, {Name: "X-Forwarded-For", Value: "198.51.100.1"}, {Name: "X-MULTI", Value: "b"}}}
	empty := &Request{Method: "DELETE", Path: "/", Headers: Headers{{Name: "User-Agent", Value: "GitHub-Hookshot/1"}}}
	std := &Client{Transport: &http.Transport{DisableCompression: true}}
	for _, r := range []*Request{req, empty} {
		for _, c := range []*Client{{}, std} {
			resp, err := c.Deliver(t.Context(), r, target)
			if err != nil {
				t.Fatal(err)
			}
			if resp.Status != 200 || string(resp.Body) != "ok" {
				t.Fatalf("answer %d %q", resp.Status, resp.Body)
			}
		}
	}
	reqs := got()
	if len(reqs) != 4 {
		t.Fatalf("%d requests, want 4", len(reqs))
	}
	for i := 0; i < 4; i += 2 {
		if !bytes.Equal(reqs[i], reqs[i+1]) {
			t.Errorf("direct sent\n%s\nthe Transport sent\n%s", reqs[i], reqs[i+1])
		}
	}
}

// A kept connection is used again; one the app has closed is not.
func TestDirectReusesOpenConnections(t *testing.T) {
	var conns atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("ok"))
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	target, _ := url.Parse(srv.URL)
	c := &Client{}
	defer c.CloseIdleConnections()
	deliver := func() {
		t.Helper()
		resp, err := c.Deliver(t.Context(), post(), target)
		if err != nil {
			t.Fatal(err)
		}
		if string(resp.Body) != "ok" {
			t.Fatalf("body %q", resp.Body)
		}
	}
	for range 3 {
		deliver()
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("%d connections for 3 deliveries one after another, want 1", n)
	}
	srv.CloseClientConnections() // as an app closes idle connections
	deliver()
	if n := conns.Load(); n != 2 {
		t.Errorf("%d connections, want 2: a new one after the app closed the first", n)
	}
}

// Informational answers (103 Early Hints) are skipped, as the Transport does.
func TestDirectSkipsInformationalAnswers(t *testing.T) {
	target, _ := rawServer(t, "HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\n"+
		"HTTP/1.1 201 Created\r\nContent-Length: 1\r\n\r\nx")
	resp, err := (&Client{}).Deliver(t.Context(), post(), target)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Status != 201 || string(resp.Body) != "x" {
		t.Errorf("answer %d %q, want 201 \"x\"", resp.Status, resp.Body)
	}
}
