//go:build unix

package redistest

import "syscall"

// killGroup SIGKILLs the process group whose leader is pid.
func killGroup(pid int) { syscall.Kill(-pid, syscall.SIGKILL) }
