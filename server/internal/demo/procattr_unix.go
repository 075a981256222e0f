//go:build unix

package demo

import (
	"os/exec"
	"syscall"
)

// detach puts c in a process group of its own, so that Ctrl-C in the
// terminal does not reach it and the demo can stop it in its own order.
func detach(c *exec.Cmd) { c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} }
