package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/wicket-vpn/wicket/client/internal/secrets"
	v1 "github.com/wicket-vpn/wicket/proto/gen/wicket/v1"
	"github.com/wicket-vpn/wicket/server/wickettest"
)

// TestCLIOffersOnlyAllowedMethods: `wicket connect` asks only among the
// methods the location accepts that the account has: with one it uses it
// without asking; with none it ends saying what to set up, and where.
func TestCLIOffersOnlyAllowedMethods(t *testing.T) {
	s := wickettest.New(t)
	e := &cliEnv{t: t, s: s, dir: t.TempDir(), sec: &secrets.Memory{}}
	e.u = s.CreateUser("alice")
	s.EnableTOTP(e.u)
	s.EnableEmail(e.u)
	ctx := wickettest.Ctx(t)
	office := s.CreateLocation(&v1.Location{Name: "Office", MfaMode: v1.LocationMfaMode_LOCATION_MFA_MODE_INTERNAL,
		AllowedMfaMethods: []v1.MfaMethod{v1.MfaMethod_MFA_METHOD_EMAIL}})
	lab := s.CreateLocation(&v1.Location{Name: "Lab", Address: "10.20.0.1/24", MfaMode: v1.LocationMfaMode_LOCATION_MFA_MODE_INTERNAL,
		AllowedMfaMethods: []v1.MfaMethod{v1.MfaMethod_MFA_METHOD_TOTP}})
	et, err := s.Account.CreateEnrollmentToken(ctx, wickettest.Req(e.u.Token, &v1.CreateEnrollmentTokenRequest{DeviceName: "laptop"}))
	if err != nil {
		t.Fatal(err)
	}
	e.mustRun("enroll", et.Msg.EnrollmentCode, "--name", "laptop")

	cctx, cancel := context.WithCancel(context.Background())
	out, wait := e.background(cctx, "", "connect", office.Id, "--userspace", "--socks", "127.0.0.1:0")
	waitOutput(t, out, "(r to resend): ")
	cancel()
	wait()
	if !strings.Contains(out.String(), "Office asks for a second factor: using email code.") || strings.Contains(out.String(), "Authenticator app") {
		t.Fatalf("connect to Office printed:\n%s", out)
	}

	// Bob has only email codes: Lab accepts nothing he has.
	bob := s.CreateUser("bob")
	s.EnableEmail(bob)
	eb := &cliEnv{t: t, s: s, u: bob, dir: t.TempDir(), sec: &secrets.Memory{}}
	et, err = s.Account.CreateEnrollmentToken(ctx, wickettest.Req(bob.Token, &v1.CreateEnrollmentTokenRequest{DeviceName: "laptop"}))
	if err != nil {
		t.Fatal(err)
	}
	eb.mustRun("enroll", et.Msg.EnrollmentCode, "--name", "laptop")
	_, _, err = eb.run(context.Background(), "", "connect", lab.Id, "--userspace", "--socks", "127.0.0.1:0")
	want := "Lab accepts only an authenticator app code, which your account does not have. Set up an authenticator app in your profile (" + s.URL + "/profile) first."
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("connect to Lab = %v, want %q", err, want)
	}

	// Alice turns the authenticator app off; her client, not told yet,
	// picks the one method it knows Lab takes, and the server's refusal
	// ends the command instead of being tried again.
	s.Clock.Advance(30 * time.Second) // a fresh TOTP step
	if _, err := s.Account.DisableTotp(ctx, wickettest.Req(e.u.Token, &v1.DisableTotpRequest{Code: s.TOTPCode(e.u.TOTPSecret)})); err != nil {
		t.Fatal(err)
	}
	_, _, err = e.run(context.Background(), "", "connect", lab.Id, "--userspace", "--socks", "127.0.0.1:0")
	if err == nil || !strings.Contains(err.Error(), "TOTP is not enabled for your account") {
		t.Fatalf("connect to Lab after TOTP was turned off = %v", err)
	}
}
