package redisproc

import "syscall"

// procAttr makes the kernel kill the server if this process dies first, so
// an interrupted test or benchmark never leaves a server behind.
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
