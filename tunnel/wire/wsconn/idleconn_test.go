package wsconn

import (
	"bytes"
	"net"
	"testing"
	"time"
)

// recordConn records each Write call it receives.
type recordConn struct {
	net.Conn
	writes [][]byte
}

func (c *recordConn) Write(p []byte) (int, error) {
	c.writes = append(c.writes, bytes.Clone(p))
	return len(p), nil
}
func (c *recordConn) SetWriteDeadline(time.Time) error { return nil }

// Writes made between Hold and Release reach the connection in one write,
// in order; without a hold, each write goes out at once; a hold never
// collects more than holdMax.
func TestIdleConnHoldRelease(t *testing.T) {
	rc := &recordConn{}
	c := NewIdleConn(rc, time.Second)
	c.Write([]byte("a"))
	if len(rc.writes) != 1 {
		t.Fatalf("unheld write: %d writes, want 1", len(rc.writes))
	}
	c.Hold()
	c.Write([]byte("b"))
	c.Write([]byte("c"))
	if len(rc.writes) != 1 {
		t.Fatalf("held writes reached the connection: %q", rc.writes)
	}
	if err := c.Release(); err != nil {
		t.Fatal(err)
	}
	if len(rc.writes) != 2 || string(rc.writes[1]) != "bc" {
		t.Fatalf("after release: %q, want [a bc]", rc.writes)
	}
	if err := c.Release(); err != nil || len(rc.writes) != 2 {
		t.Fatalf("empty release wrote: %q, %v", rc.writes, err)
	}

	rc.writes = nil
	big := bytes.Repeat([]byte("x"), holdMax)
	c.Hold()
	c.Write([]byte("d"))
	c.Write(big) // does not fit: what is held goes first, then big
	c.Write([]byte("e"))
	c.Release()
	if len(rc.writes) != 3 || string(rc.writes[0]) != "d" || !bytes.Equal(rc.writes[1], big) || string(rc.writes[2]) != "e" {
		t.Fatalf("got %d writes, want d, the large one, e in that order", len(rc.writes))
	}
}
