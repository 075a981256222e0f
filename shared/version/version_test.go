package version

import (
	"strings"
	"testing"
)

func TestFormat(t *testing.T) {
	tests := []struct {
		name      string
		version   string
		commit    string
		buildRev  string
		buildDirt bool
		want      string
	}{
		{name: "dev with commit", version: "dev", commit: "abc1234", want: "dev (commit abc1234)"},
		{name: "long commit shortened", version: "1.2.3", commit: "abc1234def5678", want: "1.2.3 (commit abc1234)"},
		{name: "short commit kept", version: "1.2.3", commit: "abc", want: "1.2.3 (commit abc)"},
		{name: "ldflags commit wins over build info", version: "1.0.0", commit: "1111111", buildRev: "2222222", want: "1.0.0 (commit 1111111)"},
		{name: "build info fallback", version: "dev", buildRev: "fedcba9876543210", want: "dev (commit fedcba9)"},
		{name: "build info dirty", version: "dev", buildRev: "fedcba9876543210", buildDirt: true, want: "dev (commit fedcba9-dirty)"},
		{name: "no commit anywhere", version: "dev", want: "dev"},
		{name: "empty version", version: "", commit: "abc1234", want: "dev (commit abc1234)"},
		{name: "whitespace trimmed", version: " 2.0.0\n", commit: " abc1234 ", want: "2.0.0 (commit abc1234)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := format(tt.version, tt.commit, func() (string, bool) { return tt.buildRev, tt.buildDirt })
			if got != tt.want {
				t.Fatalf("format() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestString(t *testing.T) {
	oldV, oldC := Version, Commit
	t.Cleanup(func() { Version, Commit = oldV, oldC })

	Version, Commit = "9.9.9", "0123456789abcdef"
	if got, want := String(), "9.9.9 (commit 0123456)"; got != want {
		t.Fatalf("String() = %q, want %q", got, want)
	}
	Version, Commit = "dev", ""
	if got := String(); !strings.HasPrefix(got, "dev") {
		t.Fatalf("String() = %q, want prefix %q", got, "dev")
	}
}
