package redistest

import "syscall"

// sysProcAttr puts the process in a group of its own (killed as one) and has the
// kernel kill it if the program that started it dies first (a test binary killed
// by its timeout).
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
