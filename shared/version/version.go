// Package version reports the version of the Wicket binaries.
//
// Release builds set Version and Commit with the linker:
//
//	go build -ldflags "-X github.com/wicket-vpn/wicket/shared/version.Version=1.2.3 \
//	    -X github.com/wicket-vpn/wicket/shared/version.Commit=abc1234"
package version

import (
	"runtime/debug"
	"strings"
)

// Version is the release version, or "dev" for development builds.
var Version = "dev"

// Commit is the VCS revision the binary was built from. When empty,
// String falls back to the revision recorded by the Go toolchain.
var Commit = ""

// shortLen is how many characters of a commit hash String shows.
const shortLen = 7

// String returns a human-readable version such as "1.2.3 (commit abc1234)"
// or, when no commit is known, just the version, e.g. "dev".
func String() string {
	return format(Version, Commit, readBuildInfo)
}

// readBuildInfo returns the vcs.revision and vcs.modified build settings
// recorded by the Go toolchain, if any.
func readBuildInfo() (revision string, modified bool) {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "", false
	}
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			revision = s.Value
		case "vcs.modified":
			modified = s.Value == "true"
		}
	}
	return revision, modified
}

func format(version, commit string, buildInfo func() (string, bool)) string {
	version = strings.TrimSpace(version)
	if version == "" {
		version = "dev"
	}
	commit = strings.TrimSpace(commit)
	dirty := false
	if commit == "" {
		commit, dirty = buildInfo()
	}
	if commit == "" {
		return version
	}
	if len(commit) > shortLen {
		commit = commit[:shortLen]
	}
	if dirty {
		commit += "-dirty"
	}
	return version + " (commit " + commit + ")"
}
