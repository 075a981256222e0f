package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestDemoHeadless runs `wicketd demo --no-gui --check` as a person would
// after `go tool task demo -- --no-gui`: real binaries built from this
// tree, a fresh data directory, the real client enrolled and connected with
// a TOTP code, a WireGuard handshake reported by the gateway and the demo
// page fetched through the client's SOCKS5 proxy. A second run on the same
// directory must reuse it.
func TestDemoHeadless(t *testing.T) {
	if testing.Short() {
		t.Skip("builds both programs and runs the whole demo; not in -short")
	}
	for _, cmd := range []string{"dbus-daemon", "gnome-keyring-daemon"} {
		if _, err := exec.LookPath(cmd); err != nil {
			msg := fmt.Sprintf("the headless demo keeps the client's keys in a private gnome-keyring, and %s is missing: apt-get install dbus gnome-keyring", cmd)
			if os.Getenv("CI") != "" {
				t.Fatal(msg)
			}
			t.Skip(msg)
		}
	}
	bin := t.TempDir()
	build := func(out, pkg string, env []string, args ...string) {
		start := time.Now()
		cmdArgs := append([]string{"build", "-o", filepath.Join(bin, out)}, args...)
		if raceEnabled {
			cmdArgs = append(cmdArgs, "-race")
		}
		cmd := exec.Command(goBin(t), append(cmdArgs, pkg)...)
		cmd.Env = append(os.Environ(), env...)
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go build %s: %v\n%s", pkg, err, b)
		}
		t.Logf("built %s in %s", out, time.Since(start).Round(time.Millisecond))
	}
	build("wicketd", ".", nil)
	// The command-line client: the window's cgo and X11 are not needed.
	cgo := "CGO_ENABLED=0"
	if raceEnabled {
		cgo = "CGO_ENABLED=1"
	}
	build("wicket", "../client", []string{cgo}, "-tags", "nogui")

	work := t.TempDir()
	args := []string{"demo", "--no-gui", "--check", "--keyring", "private",
		"--data-dir", filepath.Join(work, ".demo"), "--client", filepath.Join(bin, "wicket"),
		"--listen", fmt.Sprintf("127.0.0.1:%d", freePort(t, "tcp")),
		"--wireguard-port", fmt.Sprint(freePort(t, "udp")),
		"--socks", fmt.Sprintf("127.0.0.1:%d", freePort(t, "tcp")),
		"--stats-interval", "1s",
	}
	run := func(name string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		defer cancel()
		start := time.Now()
		cmd := exec.CommandContext(ctx, filepath.Join(bin, "wicketd"), args...)
		cmd.Dir = work
		cmd.WaitDelay = 5 * time.Second
		out, err := cmd.CombinedOutput()
		t.Logf("%s run took %s", name, time.Since(start).Round(time.Millisecond))
		if err != nil {
			t.Fatalf("%s run of wicketd demo: %v\n%s", name, err, out)
		}
		return string(out)
	}

	out := run("first")
	for _, want := range []string{
		"Enrolled the client as \"Demo laptop\"",
		"Connected to Demo office. Your tunnel address is 10.77.0.",
		"reports the WireGuard handshake of demo's \"Demo laptop\"",
		"Fetched http://10.77.1.1/ through the tunnel",
		"\"Demo office intranet\"",
		"Demo check passed",
		"Disconnected from Demo office.",
		"mail kept in the development outbox", // the email setup code, in the log
	} {
		if !strings.Contains(out, want) {
			t.Fatalf("the demo's output lacks %q:\n%s", want, out)
		}
	}
	// Credentials shown once are shown again: the second run reuses them,
	// and the device stays enrolled.
	password := between(out, "Admin         username admin    password ", "\n")
	out = run("second")
	if strings.Contains(out, "Enrolled the client") || !strings.Contains(out, "password "+password) || !strings.Contains(out, "Demo check passed") {
		t.Fatalf("the second run did not reuse the first one's data (admin password %q):\n%s", password, out)
	}
}

func between(s, from, to string) string {
	_, after, ok := strings.Cut(s, from)
	if !ok {
		return ""
	}
	v, _, _ := strings.Cut(after, to)
	return v
}

// freePort returns a port that is free on loopback now.
func freePort(t *testing.T, network string) int {
	t.Helper()
	if network == "udp" {
		c, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return c.LocalAddr().(*net.UDPAddr).Port
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// goBin is the go command that runs this test: the one on PATH, else the
// toolchain's own (go test puts its GOROOT in the environment).
func goBin(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	if root := os.Getenv("GOROOT"); root != "" {
		return filepath.Join(root, "bin", "go")
	}
	t.Skip("no go command on PATH to build the programs with")
	return ""
}
