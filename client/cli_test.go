package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wicket-vpn/wicket/client/internal/secrets"
	v1 "github.com/wicket-vpn/wicket/proto/gen/wicket/v1"
	"github.com/wicket-vpn/wicket/server/wickettest"
)

const failsafe = 20 * time.Second

// syncBuffer is a bytes.Buffer the command writes while the test reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type cliEnv struct {
	t   *testing.T
	s   *wickettest.Server
	u   *wickettest.User
	dir string
	sec *secrets.Memory
}

// run runs one wicket command in process, as `wicket ARGS` would.
func (e *cliEnv) run(ctx context.Context, stdin string, args ...string) (stdout, stderr *syncBuffer, err error) {
	stdout, stderr = &syncBuffer{}, &syncBuffer{}
	a := &app{stdin: strings.NewReader(stdin), stdout: stdout, stderr: stderr, secrets: e.sec}
	cmd := a.command()
	cmd.SetArgs(append([]string{"--config-dir", e.dir}, args...))
	err = cmd.ExecuteContext(ctx)
	return stdout, stderr, err
}

func (e *cliEnv) mustRun(args ...string) string {
	e.t.Helper()
	out, errOut, err := e.run(context.Background(), "", args...)
	if err != nil {
		e.t.Fatalf("wicket %s: %v\n%s", strings.Join(args, " "), err, errOut)
	}
	return out.String()
}

// background starts a long-running command; wait returns its result.
func (e *cliEnv) background(ctx context.Context, stdin string, args ...string) (out *syncBuffer, wait func() error) {
	stdout, stderr := &syncBuffer{}, &syncBuffer{}
	a := &app{stdin: strings.NewReader(stdin), stdout: stdout, stderr: stderr, secrets: e.sec}
	cmd := a.command()
	cmd.SetArgs(append([]string{"--config-dir", e.dir}, args...))
	done := make(chan error, 1)
	go func() { done <- cmd.ExecuteContext(ctx) }()
	return stdout, func() error {
		select {
		case err := <-done:
			if err != nil {
				e.t.Logf("stderr: %s", stderr)
			}
			return err
		case <-time.After(failsafe):
			e.t.Fatalf("command did not end; output:\n%s\n%s", stdout, stderr)
			return nil
		}
	}
}

// waitOutput waits until the output contains want, or the command ends.
func waitOutput(t *testing.T, out *syncBuffer, want string) {
	t.Helper()
	deadline := time.Now().Add(failsafe)
	for !strings.Contains(out.String(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("output never contained %q:\n%s", want, out)
		}
		time.Sleep(10 * time.Millisecond) // polling output, not timing
	}
}

func (e *cliEnv) status() statusJSON {
	e.t.Helper()
	var st statusJSON
	if err := json.Unmarshal([]byte(e.mustRun("status", "--json")), &st); err != nil {
		e.t.Fatal(err)
	}
	return st
}

func TestCLIEnrollStatusConnect(t *testing.T) {
	s := wickettest.New(t)
	e := &cliEnv{t: t, s: s, dir: t.TempDir(), sec: &secrets.Memory{}}
	e.u = s.CreateUser("alice")
	s.EnableTOTP(e.u)
	s.EnableEmail(e.u)
	office := s.MFALocation("Office")
	et, err := s.Account.CreateEnrollmentToken(wickettest.Ctx(t), wickettest.Req(e.u.Token, &v1.CreateEnrollmentTokenRequest{DeviceName: "laptop"}))
	if err != nil {
		t.Fatal(err)
	}

	out := e.mustRun("enroll", et.Msg.EnrollmentCode, "--name", "laptop")
	if !strings.Contains(out, "Enrolled laptop with Test Wicket") || !strings.Contains(out, "Office (MFA on every connection)") {
		t.Fatalf("enroll printed:\n%s", out)
	}
	st := e.status()
	if len(st.Instances) != 1 || len(st.Instances[0].Locations) != 1 {
		t.Fatalf("status = %+v", st)
	}
	if in := st.Instances[0]; in.Server != e.s.URL || !slices.Equal(in.Servers, []string{e.s.URL}) {
		t.Fatalf("status says it uses %s of %v, want %s", in.Server, in.Servers, e.s.URL)
	}
	l := st.Instances[0].Locations[0]
	if l.Name != "Office" || !l.MFA || l.State != "disconnected" || l.IdleThresholdSeconds != 300 {
		t.Fatalf("location = %+v", l)
	}

	// 1. Flags only; the server's idle disconnect ends the command with
	// its message and status 3.
	s.Clock.Advance(30 * time.Second)
	out1, wait := e.background(context.Background(), "", "connect", "Office", "--userspace", "--socks", "127.0.0.1:0",
		"--method", "totp", "--code", s.TOTPCode(e.u.TOTPSecret))
	waitOutput(t, out1, "Press Ctrl-C to disconnect.")
	if !strings.Contains(out1.String(), "Connected to Office. Your tunnel address is 10.10.0.") || !strings.Contains(out1.String(), "curl --socks5-hostname 127.0.0.1:") {
		t.Fatalf("connect printed:\n%s", out1)
	}
	st = e.status()
	if l := st.Instances[0].Locations[0]; l.State != "connected" || l.PID != os.Getpid() || !strings.HasPrefix(l.Offers, "SOCKS5 proxy on 127.0.0.1:") {
		t.Fatalf("status while connected = %+v", l)
	}
	s.Clock.Advance(301 * time.Second)
	if n, err := s.Svc.Sessions.Sweep(wickettest.Ctx(t)); err != nil || n != 1 {
		t.Fatalf("sweep = %d, %v", n, err)
	}
	err = wait()
	var ee *exitError
	if !errors.As(err, &ee) || ee.code != exitSessionEnded || !strings.Contains(ee.msg, "no traffic from your device") {
		t.Fatalf("connect ended with %v", err)
	}
	t.Logf("idle disconnect printed: %s", ee.msg)
	if l := e.status().Instances[0].Locations[0]; l.State != "disconnected" {
		t.Fatalf("status after the idle disconnect = %+v", l)
	}

	// 2. Asked on the terminal: both methods are set up, so the prompt
	// offers both; pick email by number, type a wrong code and then the one
	// from the mail; `wicket disconnect` from another process ends it.
	s.Clock.Advance(time.Minute)
	n := len(s.MailTo(e.u.Email))
	pr, pw := io.Pipe()
	defer pw.Close()
	stdout, stderr := &syncBuffer{}, &syncBuffer{}
	a := &app{stdin: pr, stdout: stdout, stderr: stderr, secrets: e.sec}
	cmd := a.command()
	cmd.SetArgs([]string{"--config-dir", e.dir, "connect", office.Id, "--userspace", "--socks", "127.0.0.1:0"})
	done := make(chan error, 1)
	go func() { done <- cmd.ExecuteContext(context.Background()) }()
	waitOutput(t, stdout, "Method [1]: ")
	if !strings.Contains(stdout.String(), "1) Authenticator app") || !strings.Contains(stdout.String(), "2) Email code") {
		t.Fatalf("method prompt:\n%s", stdout)
	}
	io.WriteString(pw, "2\n")
	waitOutput(t, stdout, "(r to resend): ")
	code := s.WaitCode(e.u.Email, n+1)
	io.WriteString(pw, "000000\n") // wrong first (unless it is the code)
	if code != "000000" {
		waitOutput(t, stdout, "(r to resend): Code sent to")
		if !strings.Contains(stderr.String(), "Invalid code") {
			t.Fatalf("wrong code printed: %s", stderr)
		}
	}
	io.WriteString(pw, code+"\n")
	waitOutput(t, stdout, "Press Ctrl-C to disconnect.")
	out = e.mustRun("disconnect", "Office")
	if !strings.Contains(out, "Disconnected from Office.") {
		t.Fatalf("disconnect printed %q", out)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("connect after `wicket disconnect` = %v\n%s", err, stderr)
		}
	case <-time.After(failsafe):
		t.Fatalf("connect did not end after `wicket disconnect`:\n%s", stdout)
	}

	// 3. Ctrl-C disconnects and exits 0.
	s.Clock.Advance(30 * time.Second)
	ctx, cancel := context.WithCancel(context.Background())
	out3, wait3 := e.background(ctx, "", "connect", "Office", "--userspace", "--socks", "127.0.0.1:0", "--method", "totp", "--code", s.TOTPCode(e.u.TOTPSecret))
	waitOutput(t, out3, "Press Ctrl-C to disconnect.")
	cancel()
	if err := wait3(); err != nil {
		t.Fatalf("connect after Ctrl-C = %v", err)
	}
	if !strings.Contains(out3.String(), "Disconnected from Office.") {
		t.Fatalf("printed:\n%s", out3)
	}
	resp, err := s.Admin.ListSessions(wickettest.Ctx(t), wickettest.Req(s.AdminToken(), &v1.ListSessionsRequest{LocationId: office.Id, ActiveOnly: true}))
	if err != nil || len(resp.Msg.Sessions) != 0 {
		t.Fatalf("active sessions after Ctrl-C: %v %v", resp.Msg.GetSessions(), err)
	}

	// Ctrl-C at a prompt ends the command at once (a blocked read would not).
	pr2, pw2 := io.Pipe()
	defer pw2.Close()
	ctx4, cancel4 := context.WithCancel(context.Background())
	stdout4 := &syncBuffer{}
	a4 := &app{stdin: pr2, stdout: stdout4, stderr: &syncBuffer{}, secrets: e.sec}
	cmd4 := a4.command()
	cmd4.SetArgs([]string{"--config-dir", e.dir, "connect", "Office", "--userspace", "--socks", "127.0.0.1:0"})
	done4 := make(chan error, 1)
	go func() { done4 <- cmd4.ExecuteContext(ctx4) }()
	waitOutput(t, stdout4, "Method [")
	cancel4()
	select {
	case err := <-done4:
		if !errors.As(err, &ee) || ee.code != exitInterrupted {
			t.Fatalf("Ctrl-C at the prompt = %v", err)
		}
	case <-time.After(failsafe):
		t.Fatal("Ctrl-C at the prompt did not end the command")
	}

	// A wrong code given as a flag fails at once with the server's words.
	s.Clock.Advance(30 * time.Second)
	_, _, err = e.run(context.Background(), "", "connect", "Office", "--userspace", "--method", "totp", "--code", "12345x")
	if err == nil || !strings.Contains(err.Error(), "digits") {
		t.Fatalf("bad code = %v", err)
	}
}

func TestCLIVersionAndErrors(t *testing.T) {
	e := &cliEnv{t: t, dir: t.TempDir(), sec: &secrets.Memory{}}
	if out := e.mustRun("--version"); !strings.HasPrefix(out, "wicket ") {
		t.Fatalf("--version printed %q", out)
	}
	if out := e.mustRun("status"); !strings.Contains(out, "wicket enroll CODE") {
		t.Fatalf("status with nothing enrolled printed %q", out)
	}
	if _, _, err := e.run(context.Background(), "", "connect", "Office"); err == nil || !strings.Contains(err.Error(), "enroll") {
		t.Fatalf("connect before enrolling = %v", err)
	}
	if _, _, err := e.run(context.Background(), "", "enroll", "wicket1.garbage"); err == nil || !strings.Contains(err.Error(), "damaged") {
		t.Fatalf("enroll garbage = %v", err)
	}
}
