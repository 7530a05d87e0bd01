//go:build !linux

package sockio

import "syscall"

// supported: elsewhere New returns nil and callers keep net.Conn's calls.
const supported = false

func rawRead(uintptr, []byte) (int, syscall.Errno)  { return 0, syscall.EINVAL }
func rawWrite(uintptr, []byte) (int, syscall.Errno) { return 0, syscall.EINVAL }
