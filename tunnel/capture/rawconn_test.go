//go:build unix

package capture

import (
	"bytes"
	"errors"
	"io"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"
)

// tcpPair returns both ends of a loopback TCP connection.
func tcpPair(t *testing.T) (client, server net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			t.Error(err)
		}
		accepted <- c
	}()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server = <-accepted
	if server == nil {
		t.FailNow()
	}
	t.Cleanup(func() { client.Close(); server.Close() })
	return client, server
}

// A RawConn carries bytes both ways, more than the socket buffers hold at
// once, and reads io.EOF once the peer closes.
func TestRawConnReadWrite(t *testing.T) {
	c, s := tcpPair(t)
	rc := newRawConn(c)
	if _, ok := rc.(*RawConn); !ok {
		t.Fatalf("newRawConn(%T) = %T", c, rc)
	}
	big := bytes.Repeat([]byte("0123456789abcdef"), 1<<18) // 4 MiB
	got := make(chan []byte, 1)
	go func() {
		b, _ := io.ReadAll(s)
		got <- b
	}()
	if n, err := rc.Write(big); n != len(big) || err != nil {
		t.Fatalf("Write = %d, %v", n, err)
	}
	rc.(*RawConn).Conn.(*net.TCPConn).CloseWrite()
	if b := <-got; !bytes.Equal(b, big) {
		t.Fatalf("peer read %d bytes, want the %d written", len(b), len(big))
	}
	go func() {
		s.Write(big)
		s.Close()
	}()
	b, err := io.ReadAll(rc)
	if err != nil || !bytes.Equal(b, big) {
		t.Fatalf("read %d bytes, %v; want %d bytes", len(b), err, len(big))
	}
	if n, err := rc.Read(make([]byte, 10)); n != 0 || err != io.EOF {
		t.Fatalf("Read after EOF = %d, %v", n, err)
	}
}

// Its errors are those of the connection it wraps: a deadline is a
// timeout worded as net.Conn's, a closed connection is net.ErrClosed, a
// reset peer is ECONNRESET.
func TestRawConnErrors(t *testing.T) {
	c, s := tcpPair(t)
	rc := newRawConn(c)
	rc.SetReadDeadline(time.Now().Add(time.Millisecond))
	_, err := rc.Read(make([]byte, 10))
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("Read past the deadline = %v, want a timeout", err)
	}
	want := "read tcp " + c.LocalAddr().String() + "->" + c.RemoteAddr().String() + ": i/o timeout"
	if err.Error() != want {
		t.Errorf("timeout reads %q, want %q", err, want)
	}
	rc.SetReadDeadline(time.Time{})

	// The peer resets the connection: SO_LINGER 0, then close.
	s.(*net.TCPConn).SetLinger(0)
	s.Close()
	_, err = rc.Read(make([]byte, 10))
	if !errors.Is(err, syscall.ECONNRESET) || !strings.HasPrefix(err.Error(), "read tcp ") {
		t.Fatalf("Read after a reset = %v, want ECONNRESET as net.Conn words it", err)
	}
	rc.Close()
	if _, err := rc.Read(make([]byte, 10)); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Read after Close = %v, want net.ErrClosed", err)
	}
	if _, err := rc.Write([]byte("x")); !errors.Is(err, net.ErrClosed) || !strings.HasPrefix(err.Error(), "write tcp ") {
		t.Fatalf("Write after Close = %v, want net.ErrClosed as net.Conn words it", err)
	}
}
