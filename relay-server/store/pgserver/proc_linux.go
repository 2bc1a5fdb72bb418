package pgserver

import "syscall"

// procAttr runs a server binary as own, when set, and has the kernel stop it
// with an immediate shutdown if the process that started it dies (strictly: if the OS
// thread that started it exits; Go keeps threads alive unless a goroutine
// exits locked to one).
//
// The credentials are set here rather than through runuser: runuser stands
// between us and postgres, the parent-death signal would reach runuser
// instead, and runuser answers SIGTERM by passing it on and sending SIGKILL
// two seconds later, which cuts a shutdown short.
func procAttr(own *owner) *syscall.SysProcAttr {
	a := &syscall.SysProcAttr{Pdeathsig: syscall.SIGQUIT}
	if own != nil {
		a.Credential = &syscall.Credential{Uid: uint32(own.uid), Gid: uint32(own.gid)}
	}
	return a
}
