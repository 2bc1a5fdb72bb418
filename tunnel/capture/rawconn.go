//go:build unix

package capture

import (
	"io"
	"net"
	"os"
	"syscall"
	"unsafe"
)

// RawConn is a TCP connection whose reads and writes are system calls the
// Go scheduler does not see (syscall.RawSyscall); a socket's file
// descriptor is non-blocking, so none of them waits: when there is nothing
// to read or no room to write, the goroutine waits in the netpoller, as
// net.Conn's does. Its errors are net.Conn's.
//
// Why: listen runs on one P. Each system call the scheduler sees wakes its
// monitor thread (sysmon) from its sleep, and one that outlasts the
// monitor's 20 µs tick (a loopback write runs the receiver's TCP input too)
// has the P handed to another thread, after which the monitor keeps polling
// every 20 µs: it was a sixth of hookctl listen's CPU per event, on the
// connection to the relay and to the app. TLS connections are not wrapped.
type RawConn struct {
	net.Conn
	rc syscall.RawConn
}

// NewRawConn returns c as a RawConn, or c when it has no file descriptor
// (or under the race detector: see raceEnabled).
func NewRawConn(c net.Conn) net.Conn {
	if raceEnabled {
		return c
	}
	return newRawConn(c)
}

func newRawConn(c net.Conn) net.Conn {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return c
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return c
	}
	return &RawConn{Conn: c, rc: rc}
}

// asOp names the raw connection's error (a deadline, a closed
// connection) by the operation, as net.Conn's Read and Write do: "read tcp
// ...: i/o timeout", not "raw-read tcp ...".
func asOp(err error, op string) error {
	if oe, ok := err.(*net.OpError); ok {
		oe.Op = op
	}
	return err
}

// opError is the error net.Conn's Read or Write returns for errno.
func (c *RawConn) opError(op string, errno syscall.Errno) error {
	return &net.OpError{Op: op, Net: c.LocalAddr().Network(), Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: os.NewSyscallError(op, errno)}
}

func (c *RawConn) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	var n int
	var errno syscall.Errno
	err := c.rc.Read(func(fd uintptr) bool {
		for {
			r, _, e := syscall.RawSyscall(syscall.SYS_READ, fd, uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)))
			if e == syscall.EINTR {
				continue
			}
			n, errno = int(r), e
			return e != syscall.EAGAIN
		}
	})
	switch {
	case err != nil:
		return 0, asOp(err, "read")
	case errno != 0:
		return 0, c.opError("read", errno)
	case n == 0:
		return 0, io.EOF
	}
	return n, nil
}

func (c *RawConn) Write(p []byte) (int, error) {
	n := 0
	var errno syscall.Errno
	err := c.rc.Write(func(fd uintptr) bool {
		for n < len(p) {
			r, _, e := syscall.RawSyscall(syscall.SYS_WRITE, fd, uintptr(unsafe.Pointer(&p[n])), uintptr(len(p)-n))
			switch e {
			case 0:
				n += int(r)
			case syscall.EINTR:
			case syscall.EAGAIN:
				return false
			default:
				errno = e
				return true
			}
		}
		return true
	})
	switch {
	case err != nil:
		return n, asOp(err, "write")
	case errno != 0:
		return n, c.opError("write", errno)
	}
	return n, nil
}

// SyscallConn returns the connection's raw connection.
func (c *RawConn) SyscallConn() (syscall.RawConn, error) { return c.rc, nil }

// directDelivery: the direct transport (direct.go) is built on the raw
// socket calls here, so it is used where they exist.
const directDelivery = true

// peekOpen reports whether the idle socket under rc has nothing to read
// and is not closed: a non-blocking MSG_PEEK of one byte finds no data.
func peekOpen(rc syscall.RawConn) (bool, error) {
	open := false
	var b [1]byte
	err := rc.Read(func(fd uintptr) bool {
		_, _, errno := syscall.RawSyscall6(syscall.SYS_RECVFROM, fd, uintptr(unsafe.Pointer(&b[0])), 1, syscall.MSG_PEEK|syscall.MSG_DONTWAIT, 0, 0)
		open = errno == syscall.EAGAIN || errno == syscall.EWOULDBLOCK
		return true
	})
	return open, err
}
