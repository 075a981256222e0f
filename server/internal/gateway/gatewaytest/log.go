package gatewaytest

import (
	"log/slog"
	"os"
	"testing"
)

// Log is a gateway's logger in tests: warnings and errors go to the test's
// log, and with WICKET_TEST_LOG set everything, wireguard-go's debug lines
// included.
func Log(t testing.TB) *slog.Logger {
	level := slog.LevelWarn
	if os.Getenv("WICKET_TEST_LOG") != "" {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: level}))
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) { w.t.Log(string(p)); return len(p), nil }
