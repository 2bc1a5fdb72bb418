//go:build race

package capture

// The race detector learns that a write to a socket happens before the
// read of its bytes from annotations in package syscall's Read and Write,
// which raw system calls skip: under it, NewRawConn keeps net.Conn's.
const raceEnabled = true
