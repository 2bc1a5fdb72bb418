//go:build !linux

package pgserver

import "syscall"

// procAttr: running the server as another user is done on Linux only, where
// CI runs as root; elsewhere a run as root fails in initdb, which says why.
func procAttr(own *owner) *syscall.SysProcAttr { return nil }
