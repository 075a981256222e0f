//go:build race

package main

// raceEnabled: the tests build the demo's binaries with -race too, so they
// share the packages go test has compiled already.
const raceEnabled = true
