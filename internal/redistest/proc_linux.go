package redistest

import "syscall"

// sysProcAttr makes the kernel SIGKILL the server when the test binary dies,
// however it dies (a timeout panic, SIGKILL from a runner), so no server
// outlives its test. The signal follows the exit of the OS thread that
// started the process; Go's runtime only ends threads whose goroutine
// exited while locked to them, which this package never does.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
