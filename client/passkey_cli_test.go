package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/wicket-vpn/wicket/client/internal/core"
	"github.com/wicket-vpn/wicket/client/internal/secrets"
	v1 "github.com/wicket-vpn/wicket/proto/gen/wicket/v1"
	"github.com/wicket-vpn/wicket/server/wickettest"
)

// TestCLIConnectWithPasskey: `wicket connect --method passkey` prints the
// passkey page, hands it to the browser and waits; once the page is
// confirmed in (real) Chromium the tunnel is up.
func TestCLIConnectWithPasskey(t *testing.T) {
	s := wickettest.New(t, wickettest.WithHostName("localhost"), wickettest.WithPages())
	e := &cliEnv{t: t, s: s, dir: t.TempDir(), sec: &secrets.Memory{}}
	e.u = s.CreateUser("alice")
	s.MFALocation("Office")
	et, err := s.Account.CreateEnrollmentToken(wickettest.Ctx(t), wickettest.Req(e.u.Token, &v1.CreateEnrollmentTokenRequest{DeviceName: "laptop"}))
	if err != nil {
		t.Fatal(err)
	}
	browser := wickettest.NewBrowser(t)
	browser.AddPasskey(s, e.u)
	e.mustRun("enroll", et.Msg.EnrollmentCode, "--name", "laptop")

	opened := make(chan string, 1)
	stdout, stderr := &syncBuffer{}, &syncBuffer{}
	a := &app{stdin: strings.NewReader(""), stdout: stdout, stderr: stderr, secrets: e.sec,
		coreOptions: func(o *core.Options) { o.OpenURL = func(url string) error { opened <- url; return nil } }}
	cmd := a.command()
	cmd.SetArgs([]string{"--config-dir", e.dir, "connect", "Office", "--userspace", "--socks", "127.0.0.1:0", "--method", "passkey"})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- cmd.ExecuteContext(ctx) }()

	var url string
	select {
	case url = <-opened:
	case <-time.After(failsafe):
		t.Fatalf("no page opened; output:\n%s\n%s", stdout, stderr)
	}
	waitOutput(t, stdout, "Waiting for your passkey in the browser")
	if !strings.Contains(stdout.String(), url) {
		t.Fatalf("the page's address is not printed:\n%s", stdout)
	}
	if got := browser.Approve(url); !strings.HasPrefix(got, "Confirmed.") {
		t.Fatalf("the page says %q", got)
	}
	waitOutput(t, stdout, "Connected to Office.")
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("connect: %v\n%s", err, stderr)
		}
	case <-time.After(failsafe):
		t.Fatal("connect did not end after Ctrl-C")
	}
}
