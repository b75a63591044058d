//go:build unix && !linux

package redistest

import "syscall"

// sysProcAttr puts the process in a group of its own, killed as one.
func sysProcAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }
