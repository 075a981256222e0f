//go:build !unix

package storetest

import "syscall"

// ownProcessGroup is the default elsewhere: the throwaway cluster is for
// Unix test machines.
func ownProcessGroup() *syscall.SysProcAttr { return nil }
