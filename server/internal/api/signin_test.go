package api_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"

	v1 "github.com/wicket-vpn/wicket/proto/gen/wicket/v1"
	"github.com/wicket-vpn/wicket/server/internal/mfa"
	"github.com/wicket-vpn/wicket/server/internal/servertest"
	"github.com/wicket-vpn/wicket/server/internal/service"
)

const stepUpMsg = "Confirm it's you: sign in again with your authenticator app or an emailed code."

// TestEmailOnlyPasswordGetsNoToken is the bypass: with only the password
// of an account whose factor is email codes, an attacker signed in, set up
// an authenticator of their own, enrolled a device and connected. Now the
// password gives a challenge and no token, the challenge cannot be finished
// without the mailbox, and the owner, who reads the mail, signs in.
func TestEmailOnlyPasswordGetsNoToken(t *testing.T) {
	s := servertest.New(t)
	ctx := servertest.Ctx(t)
	u := s.CreateUser("carol")
	s.EnableEmail(u)
	s.Clock.Advance(mfa.MailInterval)

	lr, err := s.Account.Login(ctx, servertest.Req("", &v1.LoginRequest{Username: u.Username, Password: u.Password}))
	if err != nil {
		t.Fatal(err)
	}
	if lr.Msg.Token != "" || lr.Msg.MfaChallenge == "" || len(lr.Msg.MfaMethods) != 1 || lr.Msg.MfaMethods[0] != methodEmail {
		t.Fatalf("password alone = %v; want a challenge for email codes and no token", lr.Msg)
	}
	// The challenge is no bearer token: nothing of the account opens with it.
	_, err = s.Account.BeginTotpSetup(ctx, servertest.Req(lr.Msg.MfaChallenge, &v1.BeginTotpSetupRequest{}))
	wantCode(t, err, connect.CodeUnauthenticated, "")
	_, err = s.Account.CreateEnrollmentToken(ctx, servertest.Req(lr.Msg.MfaChallenge, &v1.CreateEnrollmentTokenRequest{}))
	wantCode(t, err, connect.CodeUnauthenticated, "")
	_, err = s.Account.DisableEmailMfa(ctx, servertest.Req(lr.Msg.MfaChallenge, &v1.DisableEmailMfaRequest{}))
	wantCode(t, err, connect.CodeUnauthenticated, "")
	// A TOTP code of any authenticator is not the account's factor.
	_, err = s.Account.Login(ctx, servertest.Req("", &v1.LoginRequest{Username: u.Username, Password: u.Password, TotpCode: "123456"}))
	wantCode(t, err, connect.CodeFailedPrecondition, "")
	// Guessing the code counts as wrong codes.
	_, err = s.Account.FinishLogin(ctx, servertest.Req("", &v1.FinishLoginRequest{MfaChallenge: lr.Msg.MfaChallenge, Code: "000000"}))
	wantCode(t, err, connect.CodeUnauthenticated, "Invalid code (4 tries left)")

	// The owner has the mailbox.
	n := len(s.MailTo(u.Email))
	sent, err := s.Account.SendLoginCode(ctx, servertest.Req("", &v1.SendLoginCodeRequest{MfaChallenge: lr.Msg.MfaChallenge}))
	if err != nil {
		t.Fatal(err)
	}
	if sent.Msg.SentTo != "c***l@e******.com" {
		t.Fatalf("sent to %q", sent.Msg.SentTo)
	}
	code := s.WaitCode(u.Email, n+1)
	fl, err := s.Account.FinishLogin(ctx, servertest.Req("", &v1.FinishLoginRequest{MfaChallenge: lr.Msg.MfaChallenge, Code: code}))
	if err != nil || fl.Msg.Token == "" {
		t.Fatalf("finish with the mailed code: %v, %v", fl, err)
	}
	// The challenge is single use.
	_, err = s.Account.FinishLogin(ctx, servertest.Req("", &v1.FinishLoginRequest{MfaChallenge: lr.Msg.MfaChallenge, Code: code}))
	wantCode(t, err, connect.CodeUnauthenticated, "This code was already used.")
	if _, err := s.Account.GetProfile(ctx, servertest.Req(fl.Msg.Token, &v1.GetProfileRequest{})); err != nil {
		t.Fatal(err)
	}
	// Right after a proved sign-in the owner may change factors.
	if _, err := s.Account.BeginTotpSetup(ctx, servertest.Req(fl.Msg.Token, &v1.BeginTotpSetupRequest{})); err != nil {
		t.Fatalf("begin TOTP setup after a proved sign-in: %v", err)
	}
	// A sign-in challenge expires after five minutes.
	lr, err = s.Account.Login(ctx, servertest.Req("", &v1.LoginRequest{Username: u.Username, Password: u.Password}))
	if err != nil {
		t.Fatal(err)
	}
	s.Clock.Advance(mfa.ChallengeTTL)
	_, err = s.Account.SendLoginCode(ctx, servertest.Req("", &v1.SendLoginCodeRequest{MfaChallenge: lr.Msg.MfaChallenge}))
	wantCode(t, err, connect.CodeUnauthenticated, "This sign-in expired; start again.")
}

// TestStepUpForFactorChanges: a token whose proof is older than ten
// minutes (a stolen or forgotten sign-in) can neither change factors nor
// make enrollment tokens; a fresh sign-in with the factor can.
func TestStepUpForFactorChanges(t *testing.T) {
	s := servertest.New(t)
	ctx := servertest.Ctx(t)
	u := s.CreateUser("dave")
	// An account without a factor adds its first with a password sign-in,
	// and confirming it proves it for this token.
	s.EnableTOTP(u)
	if _, err := s.Account.CreateEnrollmentToken(ctx, servertest.Req(u.Token, &v1.CreateEnrollmentTokenRequest{})); err != nil {
		t.Fatalf("enrollment token right after confirming TOTP: %v", err)
	}
	s.EnableEmail(u) // still within ten minutes

	s.Clock.Advance(service.StepUpWindow + time.Second)
	calls := map[string]func() error{
		"DisableEmailMfa": func() error {
			_, err := s.Account.DisableEmailMfa(ctx, servertest.Req(u.Token, &v1.DisableEmailMfaRequest{}))
			return err
		},
		"BeginEmailMfaSetup": func() error {
			_, err := s.Account.BeginEmailMfaSetup(ctx, servertest.Req(u.Token, &v1.BeginEmailMfaSetupRequest{}))
			return err
		},
		"CreateEnrollmentToken": func() error {
			_, err := s.Account.CreateEnrollmentToken(ctx, servertest.Req(u.Token, &v1.CreateEnrollmentTokenRequest{}))
			return err
		},
	}
	for name, call := range calls {
		if err := call(); connect.CodeOf(err) != connect.CodePermissionDenied {
			t.Errorf("%s with a stale sign-in: %v, want PermissionDenied", name, err)
		} else {
			wantCode(t, err, connect.CodePermissionDenied, stepUpMsg)
		}
	}
	// Reading the profile needs no step-up.
	if _, err := s.Account.GetProfile(ctx, servertest.Req(u.Token, &v1.GetProfileRequest{})); err != nil {
		t.Fatal(err)
	}
	// Signing in again with the authenticator app proves it.
	s.Login(u)
	if err := calls["CreateEnrollmentToken"](); err != nil {
		t.Fatalf("after signing in again: %v", err)
	}
	if err := calls["DisableEmailMfa"](); err != nil {
		t.Fatalf("after signing in again: %v", err)
	}
}

// TestAdminNeedsSecondFactor: an admin with a password alone can only set
// up a factor; once set up, admin calls work.
func TestAdminNeedsSecondFactor(t *testing.T) {
	s := servertest.New(t)
	ctx := servertest.Ctx(t)
	s.AdminToken()
	if _, err := s.Svc.CreateUser(ctx, service.Actor{Username: "test", Admin: true}, service.NewUser{Username: "root", Email: "root@example.com", Password: "root-password", Admin: true}); err != nil {
		t.Fatal(err)
	}
	root := &servertest.User{Username: "root", Email: "root@example.com", Password: "root-password"}
	s.Login(root)
	_, err := s.Admin.ListUsers(ctx, servertest.Req(root.Token, &v1.ListUsersRequest{}))
	wantCode(t, err, connect.CodeFailedPrecondition, "Set up a second factor in your profile first: admins sign in with an authenticator app or emailed codes.")
	_, err = s.Admin.CreateUser(ctx, servertest.Req(root.Token, &v1.CreateUserRequest{Username: "eve", Email: "eve@example.com", Password: "eve-password-1", Admin: true}))
	wantCode(t, err, connect.CodeFailedPrecondition, "")
	s.EnableTOTP(root)
	if _, err := s.Admin.ListUsers(ctx, servertest.Req(root.Token, &v1.ListUsersRequest{})); err != nil {
		t.Fatalf("admin call after setting up TOTP: %v", err)
	}

	// --admin-mfa optional lets a password-only admin work.
	o := servertest.New(t, servertest.WithAdminMFAOptional())
	if _, err := o.Svc.CreateUser(ctx, service.Actor{Username: "test", Admin: true}, service.NewUser{Username: "root", Email: "root@example.com", Password: "root-password", Admin: true}); err != nil {
		t.Fatal(err)
	}
	o.Login(root)
	if _, err := o.Admin.ListUsers(ctx, servertest.Req(root.Token, &v1.ListUsersRequest{})); err != nil {
		t.Fatalf("admin call with optional admin MFA: %v", err)
	}
}

// failuresOf counts the wrong codes the store holds for a user.
func failuresOf(t *testing.T, s *servertest.Server, userID string) int {
	t.Helper()
	n, _, err := s.Store().MFAFailuresSince(servertest.Ctx(t), userID, s.Clock.Now().Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestConcurrentWrongCodesEvaluatedAtMostFive is the race: 20 different
// wrong codes sent at the same instant on one challenge. The lockout
// allows five; every one beyond them must be refused without being
// evaluated (no more than five failure records, the rest told to wait).
func TestConcurrentWrongCodesEvaluatedAtMostFive(t *testing.T) {
	servertest.EachEngine(t, testConcurrentWrongCodesEvaluatedAtMostFive)
}

func testConcurrentWrongCodesEvaluatedAtMostFive(t *testing.T, engine servertest.Option) {
	s, loc, u, d := totpSetup(t, engine)
	c := mfaStart(t, s, d, loc.Id, methodTOTP).ChallengeToken
	right := s.TOTPCode(u.TOTPSecret)
	const n = 20
	var wg sync.WaitGroup
	start := make(chan struct{})
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			code := fmt.Sprintf("%06d", (mustAtoi(t, right)+1+i)%1000000)
			<-start
			_, errs[i] = mfaFinish(s, c, code)
		}()
	}
	close(start)
	wg.Wait()
	wrong := 0
	for _, err := range errs {
		switch connect.CodeOf(err) {
		case connect.CodeUnauthenticated, connect.CodeResourceExhausted:
		default:
			t.Fatalf("a wrong code answered %v", err)
		}
		var ce *connect.Error
		if errorsAs(err, &ce) && len(ce.Message()) > 12 && ce.Message()[:12] == "Invalid code" {
			wrong++
		}
	}
	if got := failuresOf(t, s, u.ID); got > mfa.LockoutFailures || wrong > mfa.LockoutFailures {
		t.Fatalf("%d wrong codes evaluated (%d failure records); the rule is %d", wrong, got, mfa.LockoutFailures)
	}
	// The user is locked out now, the right code included.
	_, err := mfaStartErr(s, d, loc.Id, methodTOTP)
	wantCodeContains(t, err, connect.CodeResourceExhausted, "Too many wrong codes.")
}

// TestConcurrentRightCodeIsOneSession: the right code sent eight times at
// once (a double click, a retrying client) opens one session; the others
// are told the code was used, and nothing counts as a wrong code.
func TestConcurrentRightCodeIsOneSession(t *testing.T) {
	servertest.EachEngine(t, testConcurrentRightCodeIsOneSession)
}

func testConcurrentRightCodeIsOneSession(t *testing.T, engine servertest.Option) {
	for _, method := range []v1.MfaMethod{methodTOTP, methodEmail} {
		t.Run(method.String(), func(t *testing.T) {
			s, loc, u, d := totpSetup(t, engine)
			c := mfaStart(t, s, d, loc.Id, methodTOTP).ChallengeToken
			code := s.TOTPCode(u.TOTPSecret)
			if method == methodEmail {
				s.EnableEmail(u)
				n := len(s.MailTo(u.Email))
				c = mfaStart(t, s, d, loc.Id, methodEmail).ChallengeToken
				code = s.WaitCode(u.Email, n+1)
			}
			const n = 8
			var wg sync.WaitGroup
			start := make(chan struct{})
			errs := make([]error, n)
			for i := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					_, errs[i] = mfaFinish(s, c, code)
				}()
			}
			close(start)
			wg.Wait()
			ok := 0
			for _, err := range errs {
				if err == nil {
					ok++
					continue
				}
				wantCodeContains(t, err, connect.CodeUnauthenticated, "This code was already used")
			}
			if ok != 1 {
				t.Fatalf("%d successes, want 1", ok)
			}
			sessions, err := s.Admin.ListSessions(servertest.Ctx(t), servertest.Req(s.AdminToken(), &v1.ListSessionsRequest{LocationId: loc.Id}))
			if err != nil {
				t.Fatal(err)
			}
			if len(sessions.Msg.Sessions) != 1 {
				t.Fatalf("%d sessions, want 1", len(sessions.Msg.Sessions))
			}
			if f := failuresOf(t, s, u.ID); f != 0 {
				t.Fatalf("%d wrong codes recorded for a right code sent %d times", f, n)
			}
			// And the user is not locked out.
			s.Clock.Advance(mfa.Period)
			mfaFinishOK(t, s, mfaStart(t, s, d, loc.Id, methodTOTP).ChallengeToken, s.TOTPCode(u.TOTPSecret))
		})
	}
}
