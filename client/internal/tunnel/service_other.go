//go:build !windows

package tunnel

// RunServiceIfAsked runs the tunnel service when the operating system
// started this binary as one (Windows only); elsewhere it reports false.
func RunServiceIfAsked(args []string) (handled bool, err error) { return false, nil }
