//go:build !linux

package redisproc

import "syscall"

// procAttr has no parent-death signal outside Linux: Stop must be called.
func procAttr() *syscall.SysProcAttr { return nil }
