package tunnel

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hookctl/hookctl/relay-server/relay"
	"github.com/hookctl/hookctl/tunnel/wire"
)

// rawApp is an app on a bare TCP listener: it records each request's head
// exactly as the bytes arrived and answers with a fixed raw response, so
// nothing on its side re-encodes what it gets or sends.
type rawApp struct {
	ln    net.Listener
	heads chan []byte
	reply []byte
}

func newRawApp(t *testing.T, reply string) *rawApp {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a := &rawApp{ln: ln, heads: make(chan []byte, 16), reply: []byte(reply)}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go a.serve(c)
		}
	}()
	return a
}

func (a *rawApp) serve(c net.Conn) {
	defer c.Close()
	br := bufio.NewReader(c)
	for {
		head, n, err := readHead(br)
		if err != nil {
			return
		}
		if _, err := io.CopyN(io.Discard, br, n); err != nil {
			return
		}
		a.heads <- head
		if _, err := c.Write(a.reply); err != nil {
			return
		}
	}
}

// readHead reads a request or response head up to the blank line and
// returns it with its Content-Length.
func readHead(br *bufio.Reader) ([]byte, int64, error) {
	var head []byte
	var n int64
	for {
		line, err := br.ReadBytes('\n')
		if err != nil {
			return nil, 0, err
		}
		head = append(head, line...)
		if string(line) == "\r\n" {
			return head, n, nil
		}
		if k, v, ok := strings.Cut(strings.TrimRight(string(line), "\r\n"), ":"); ok && strings.EqualFold(k, "Content-Length") {
			n, _ = strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		}
	}
}

// TestBytesNotUTF8 sends a webhook whose path, query and a header value hold
// bytes that are not valid UTF-8 (Latin-1), from a raw TCP sender through the
// real relay and tunnel client to a raw TCP app, whose answer carries such a
// header back. Every hop must keep the exact bytes, and so must the stored
// event read through the relay's API.
func TestBytesNotUTF8(t *testing.T) {
	rl := startRelay(t, t.TempDir(), "127.0.0.1:0", relay.Config{Open: true})
	app := newRawApp(t, "HTTP/1.1 200 OK\r\nX-App: r\xe9sum\xe9\r\nContent-Length: 2\r\n\r\nok")
	_, _, _ = runClient(t, Config{
		RelayURL: rl.URL, Endpoint: "latin", Forwarder: forwarderFor(t, "http://"+app.ln.Addr().String()),
		Reply: &wire.ReplyOptions{Mode: wire.ReplyPassthrough, Timeout: 30 * time.Second},
	})

	c, err := net.Dial("tcp", rl.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	const uri = "/caf\xe9/x?q=\xe9t\xe9&ok=1"
	_, err = io.WriteString(c, "POST /h/latin"+uri+" HTTP/1.1\r\nHost: "+rl.Addr+"\r\n"+
		"X-Name: caf\xe9\r\nX-Plain: yes\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi")
	if err != nil {
		t.Fatal(err)
	}
	answer, err := io.ReadAll(c)
	if err != nil {
		t.Fatal(err)
	}

	var head []byte
	select {
	case head = <-app.heads:
	case <-time.After(30 * time.Second):
		t.Fatal("the app got nothing")
	}
	if want := "POST " + uri + " HTTP/1.1\r\n"; !bytes.HasPrefix(head, []byte(want)) {
		t.Errorf("app got request line %q, want %q", bytes.SplitN(head, []byte("\n"), 2)[0], want)
	}
	if !bytes.Contains(head, []byte("\r\nX-Name: caf\xe9\r\n")) || !bytes.Contains(head, []byte("\r\nX-Plain: yes\r\n")) {
		t.Errorf("app got head %q, want X-Name: caf\\xe9", head)
	}
	if !bytes.HasPrefix(answer, []byte("HTTP/1.1 200 ")) || !bytes.Contains(answer, []byte("\r\nX-App: r\xe9sum\xe9\r\n")) {
		t.Errorf("sender got %q, want 200 with X-App: r\\xe9sum\\xe9", answer)
	}

	// The stored event, through the relay's API (events show/export).
	var evs []wire.EventRecord
	deadline := time.Now().Add(10 * time.Second)
	for {
		evs = rl.events(t, "latin")
		if len(evs) == 1 && evs[0].State == wire.StateDelivered && evs[0].Response != nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if len(evs) != 1 || evs[0].Response == nil {
		t.Fatalf("relay has %d events (%+v), want 1 delivered with a response", len(evs), evs)
	}
	api, err := NewAPIClient(rl.URL, "")
	if err != nil {
		t.Fatal(err)
	}
	one, err := api.Event(t.Context(), evs[0].Request.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, rec := range []*wire.EventRecord{&evs[0], one} {
		r := rec.Request
		if r.URI() != "/caf\xe9/x?q=\xe9t\xe9&ok=1" || r.Headers.Get("X-Name") != "caf\xe9" || r.Headers.Get("X-Plain") != "yes" {
			t.Errorf("API request: %q %q", r.URI(), r.Headers)
		}
		if got := rec.Response.Headers.Get("X-App"); got != "r\xe9sum\xe9" {
			t.Errorf("API response X-App = %q, want r\\xe9sum\\xe9", got)
		}
	}
}
