//go:build !unix

package redistest

import "syscall"

// Without process groups, only the process itself is killed.
func sysProcAttr() *syscall.SysProcAttr { return nil }

func killGroup(pid int) {}
