//go:build race

package main

// raceEnabled says whether the tests run with the race detector, so that
// binaries they build reuse the packages the test binary was built from.
const raceEnabled = true
