// Package bench holds wicketd's benchmarks against the design's performance
// targets. Benchmarks never run in the test run (one small test only checks
// their set-up); start them with `go tool task bench` or
// `go test -run '^$' -bench . ./server/internal/bench`.
package bench
