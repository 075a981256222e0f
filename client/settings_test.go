package main

import (
	"context"
	"strings"
	"testing"

	"github.com/wicket-vpn/wicket/client/internal/core"
	"github.com/wicket-vpn/wicket/client/internal/secrets"
)

func TestCLISettings(t *testing.T) {
	e := &cliEnv{t: t, dir: t.TempDir(), sec: &secrets.Memory{}}
	if out := e.mustRun("settings"); !strings.Contains(out, "Tunnel mode: system") || !strings.Contains(out, "127.0.0.1:1080") {
		t.Fatalf("default settings printed %q", out)
	}
	if out := e.mustRun("settings", "--tunnel-mode", "userspace", "--socks", "127.0.0.1:10800"); !strings.Contains(out, "userspace (a SOCKS5 proxy on 127.0.0.1:10800") {
		t.Fatalf("changed settings printed %q", out)
	}
	// Saved for the window and later commands.
	c, err := core.New(core.Options{ConfigDir: e.dir, Secrets: e.sec})
	if err != nil {
		t.Fatal(err)
	}
	if s := c.Settings(); s.TunnelMode != core.TunnelModeUserspace || s.SOCKSAddr != "127.0.0.1:10800" {
		t.Fatalf("saved settings = %+v", s)
	}
	for _, args := range [][]string{
		{"settings", "--tunnel-mode", "kernel"},
		{"settings", "--socks", "0.0.0.0:1080"},
	} {
		if _, _, err := e.run(context.Background(), "", args...); err == nil {
			t.Fatalf("wicket %s succeeded", strings.Join(args, " "))
		}
	}
	if out := e.mustRun("settings"); !strings.Contains(out, "127.0.0.1:10800") {
		t.Fatalf("a refused change was saved: %q", out)
	}
}
