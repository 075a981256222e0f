//go:build !unix

package demo

import "os/exec"

// detach does nothing where process groups are not Unix ones.
func detach(c *exec.Cmd) {}
