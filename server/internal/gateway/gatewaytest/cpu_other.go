//go:build !(linux || darwin || freebsd)

package gatewaytest

import "time"

// ProcessCPU returns zero: the process's CPU time is not read here.
func ProcessCPU() time.Duration { return 0 }
