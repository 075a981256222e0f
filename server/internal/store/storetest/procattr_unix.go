//go:build unix

package storetest

import "syscall"

// ownProcessGroup starts a process in a group of its own.
func ownProcessGroup() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }
