//go:build !nogui

package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestCommandLineSaysNothingOfFyne builds wicket with its window and runs
// commands that never open it, under the C locales that containers and
// servers default to: standard error carries none of the GUI toolkit's
// messages (it used to print "Fyne error: Error parsing user locale C"
// before every command).
func TestCommandLineSaysNothingOfFyne(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the desktop client")
	}
	bin := filepath.Join(t.TempDir(), "wicket")
	args := []string{"build", "-o", bin}
	if raceEnabled {
		args = append(args, "-race")
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = filepath.Join(os.Getenv("GOROOT"), "bin", "go")
	}
	build := exec.Command(goBin, append(args, ".")...)
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	home := t.TempDir()
	for _, lang := range []string{"C", "C.UTF-8", "POSIX.UTF-8"} {
		for _, cmdline := range [][]string{{"status"}, {"connect", "Office"}, {"--version"}} {
			cmd := exec.Command(bin, cmdline...)
			// An empty configuration directory, and no display.
			cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + home, "XDG_CONFIG_HOME=" + filepath.Join(home, ".config"),
				"WICKET_CONFIG_DIR=" + filepath.Join(home, "wicket"), "LANG=" + lang}
			var stderr strings.Builder
			cmd.Stderr = &stderr
			out, err := cmd.Output()
			if _, failed := err.(*exec.ExitError); err != nil && !failed {
				t.Fatalf("LANG=%s wicket %s: %v", lang, strings.Join(cmdline, " "), err)
			}
			if strings.Contains(stderr.String(), "Fyne") || strings.Contains(string(out), "Fyne") {
				t.Errorf("LANG=%s wicket %s printed the GUI toolkit's messages:\n%s%s", lang, strings.Join(cmdline, " "), out, stderr.String())
			}
			if cmdline[0] == "status" && !strings.Contains(string(out), "No instance yet") {
				t.Errorf("LANG=%s wicket status = %q, %q", lang, out, stderr.String())
			}
		}
	}
}
