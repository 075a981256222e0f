//go:build linux || darwin || freebsd

package gatewaytest

import (
	"syscall"
	"time"
)

// ProcessCPU returns the CPU time (user and system) the process has used,
// zero where unknown. Benchmarks on a shared machine compare paths by it.
func ProcessCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
