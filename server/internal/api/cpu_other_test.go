//go:build !unix

package api_test

import "time"

// cpuTime is unknown here; the tests that compare CPU time skip that check.
func cpuTime() time.Duration { return 0 }
