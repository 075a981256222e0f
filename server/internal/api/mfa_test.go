package api_test

import (
	"encoding/base64"
	"fmt"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"

	v1 "github.com/wicket-vpn/wicket/proto/gen/wicket/v1"
	"github.com/wicket-vpn/wicket/server/internal/mfa"
	"github.com/wicket-vpn/wicket/server/internal/servertest"
)

const (
	methodTOTP  = v1.MfaMethod_MFA_METHOD_TOTP
	methodEmail = v1.MfaMethod_MFA_METHOD_EMAIL
)

// mfaStartErr starts a second factor for a device on a location.
func mfaStartErr(s *servertest.Server, d *servertest.Device, locationID string, m v1.MfaMethod) (*v1.StartMfaResponse, error) {
	r, err := s.Client.StartMfa(servertest.Ctx(s.T), servertest.Req("", &v1.StartMfaRequest{DeviceToken: d.Token, LocationId: locationID, Method: m}))
	if err != nil {
		return nil, err
	}
	return r.Msg, nil
}

// mfaStart starts a second factor that must start.
func mfaStart(t *testing.T, s *servertest.Server, d *servertest.Device, locationID string, m v1.MfaMethod) *v1.StartMfaResponse {
	t.Helper()
	r, err := mfaStartErr(s, d, locationID, m)
	if err != nil {
		t.Fatalf("StartMfa: %v", err)
	}
	return r
}

// mfaFinish sends a code for a challenge.
func mfaFinish(s *servertest.Server, challenge, code string) (*v1.FinishMfaResponse, error) {
	r, err := s.Client.FinishMfa(servertest.Ctx(s.T), servertest.Req("", &v1.FinishMfaRequest{ChallengeToken: challenge, Code: code}))
	if err != nil {
		return nil, err
	}
	return r.Msg, nil
}

// mfaFinishOK sends a code that must be accepted.
func mfaFinishOK(t *testing.T, s *servertest.Server, challenge, code string) *v1.FinishMfaResponse {
	t.Helper()
	r, err := mfaFinish(s, challenge, code)
	if err != nil {
		t.Fatalf("FinishMfa with %s: %v", code, err)
	}
	return r
}

// totpAt is the code of secret at an instant.
func totpAt(t *testing.T, secret string, at time.Time) string {
	t.Helper()
	code, err := mfa.TOTPCode(secret, at)
	if err != nil {
		t.Fatal(err)
	}
	return code
}

// wrongTOTP is a well-formed code that matches none of the steps the server
// accepts at now.
func wrongTOTP(t *testing.T, secret string, now time.Time) string {
	t.Helper()
	valid := map[string]bool{}
	for _, d := range []time.Duration{-mfa.Period, 0, mfa.Period} {
		valid[totpAt(t, secret, now.Add(d))] = true
	}
	for i := 0; ; i++ {
		if c := fmt.Sprintf("%06d", i*111111%1000000); !valid[c] {
			return c
		}
	}
}

// freshStep moves the clock at least two TOTP steps on, to the middle of a
// step, so no code of the steps around now has been used and no small clock
// move crosses a step boundary by accident.
func freshStep(s *servertest.Server) {
	s.Clock.Advance(2 * mfa.Period)
	period := int64(mfa.Period / time.Second)
	into := time.Duration(s.Clock.Now().Unix()%period)*time.Second + time.Duration(s.Clock.Now().Nanosecond())
	s.Clock.Advance(mfa.Period/2 - into)
	if s.Clock.Now().Unix()%period != period/2 {
		s.T.Fatalf("clock not in the middle of a step: %v", s.Clock.Now())
	}
}

// wantCodeContains checks an error's code and that its message contains part.
func wantCodeContains(t *testing.T, err error, code connect.Code, part string) string {
	t.Helper()
	if err == nil {
		t.Fatalf("want %v containing %q, got success", code, part)
	}
	if connect.CodeOf(err) != code {
		t.Fatalf("want code %v, got %v: %v", code, connect.CodeOf(err), err)
	}
	var ce *connect.Error
	if !errorsAs(err, &ce) || !strings.Contains(ce.Message(), part) {
		t.Fatalf("want a message containing %q, got %q", part, err)
	}
	return ce.Message()
}

// wantPSK checks that a tunnel carries a 32-byte base64 pre-shared key.
func wantPSK(t *testing.T, tun *v1.TunnelConfig) []byte {
	t.Helper()
	if tun == nil {
		t.Fatal("no tunnel")
	}
	psk, err := base64.StdEncoding.DecodeString(tun.PresharedKey)
	if err != nil || len(psk) != 32 {
		t.Fatalf("pre-shared key %q: %d bytes, %v", tun.PresharedKey, len(psk), err)
	}
	return psk
}

// totpSetup is a server with an MFA location and an enrolled device of a
// user with TOTP on, the clock in the middle of a fresh step.
func totpSetup(t *testing.T, opts ...servertest.Option) (*servertest.Server, *v1.Location, *servertest.User, *servertest.Device) {
	t.Helper()
	s := servertest.New(t, opts...)
	loc := s.MFALocation("Office")
	u := s.CreateUser("alice")
	s.EnableTOTP(u)
	d := s.Enroll(u, "laptop")
	freshStep(s)
	return s, loc, u, d
}

func TestEmailMFA(t *testing.T) {
	s := servertest.New(t)
	ctx := servertest.Ctx(t)
	loc := s.MFALocation("Office")
	u := s.CreateUser("bob")
	s.EnableEmail(u)
	d := s.Enroll(u, "laptop")
	mails := len(s.MailTo(u.Email))

	st := mfaStart(t, s, d, loc.Id, methodEmail)
	if st.SentTo != "b*b@e******.com" {
		t.Fatalf("sent_to = %q, want the masked address b*b@e******.com", st.SentTo)
	}
	if got := st.ExpiresAt.AsTime().Sub(s.Clock.Now()); got != mfa.ChallengeTTL {
		t.Fatalf("challenge expires in %v", got)
	}
	code := s.WaitCode(u.Email, mails+1)

	// A wrong code counts against the challenge; the right one still works.
	wrong := fmt.Sprintf("%06d", (mustAtoi(t, code)+1)%1000000)
	_, err := mfaFinish(s, st.ChallengeToken, wrong)
	wantCode(t, err, connect.CodeUnauthenticated, "Invalid code (4 tries left)")

	fin := mfaFinishOK(t, s, st.ChallengeToken, code)
	wantPSK(t, fin.Tunnel)
	if fin.SessionId == "" || fin.Tunnel.ServerPublicKey != loc.PublicKey || fin.Tunnel.Address != "10.10.0.2/32" || fin.Tunnel.Endpoint != loc.Endpoint {
		t.Fatalf("finish = %v", fin)
	}
	ls, err := s.Admin.ListSessions(ctx, servertest.Req(s.AdminToken(), &v1.ListSessionsRequest{LocationId: loc.Id, ActiveOnly: true}))
	if err != nil {
		t.Fatal(err)
	}
	if len(ls.Msg.Sessions) != 1 || ls.Msg.Sessions[0].Id != fin.SessionId || ls.Msg.Sessions[0].Method != methodEmail {
		t.Fatalf("sessions = %v", ls.Msg.Sessions)
	}
	if n := len(s.MailTo(u.Email)); n != mails+1 {
		t.Fatalf("%d mails for one challenge", n-mails)
	}
}

func mustAtoi(t *testing.T, s string) int {
	t.Helper()
	var n int
	if _, err := fmt.Sscanf(s, "%d", &n); err != nil {
		t.Fatalf("code %q: %v", s, err)
	}
	return n
}

func TestTOTPReplayRefused(t *testing.T) {
	s, loc, u, d := totpSetup(t)
	t0 := s.Clock.Now()

	// A code is good for one FinishMfa only, even on another challenge. A
	// replay is told so with the wait for the next code, and is not a wrong
	// try: the person's app still shows it.
	code := totpAt(t, u.TOTPSecret, t0)
	mfaFinishOK(t, s, mfaStart(t, s, d, loc.Id, methodTOTP).ChallengeToken, code)
	s.Clock.Advance(10 * time.Second) // still the same step
	c2 := mfaStart(t, s, d, loc.Id, methodTOTP).ChallengeToken
	_, err := mfaFinish(s, c2, code)
	wait := int(mfa.Period/time.Second) - int(s.Clock.Now().Unix()%int64(mfa.Period/time.Second))
	wantCode(t, err, connect.CodeUnauthenticated, fmt.Sprintf("This code was already used — wait for the next one (%d s).", wait))

	// The previous step's code is accepted once (a phone a little behind).
	prev := totpAt(t, u.TOTPSecret, t0.Add(-mfa.Period))
	mfaFinishOK(t, s, c2, prev)
	c3 := mfaStart(t, s, d, loc.Id, methodTOTP).ChallengeToken
	_, err = mfaFinish(s, c3, prev)
	wantCodeContains(t, err, connect.CodeUnauthenticated, "This code was already used — wait for the next one")

	// So is the next step's (a phone a little ahead).
	next := totpAt(t, u.TOTPSecret, t0.Add(mfa.Period))
	mfaFinishOK(t, s, c3, next)
	c4 := mfaStart(t, s, d, loc.Id, methodTOTP).ChallengeToken
	_, err = mfaFinish(s, c4, next)
	wantCodeContains(t, err, connect.CodeUnauthenticated, "This code was already used — wait for the next one")

	// Two steps away is too far either way.
	for i, off := range []time.Duration{-2 * mfa.Period, 2 * mfa.Period} {
		far := totpAt(t, u.TOTPSecret, t0.Add(off))
		_, err = mfaFinish(s, c4, far)
		wantCode(t, err, connect.CodeUnauthenticated, fmt.Sprintf("Invalid code (%d tries left)", 4-i))
	}

	// The same rules hold when the clock, not the phone, has moved on: a code
	// read at t0 is still good one step later, once.
	s.Clock.Set(t0.Add(3 * mfa.Period))
	late := totpAt(t, u.TOTPSecret, s.Clock.Now())
	s.Clock.Advance(mfa.Period)
	mfaFinishOK(t, s, c4, late)
	_, err = mfaFinish(s, mfaStart(t, s, d, loc.Id, methodTOTP).ChallengeToken, late)
	wantCodeContains(t, err, connect.CodeUnauthenticated, "This code was already used — wait for the next one")
}

func TestChallengeReuseRefused(t *testing.T) {
	s, loc, u, d := totpSetup(t)

	// A finished challenge cannot open a second session, even with a fresh code.
	c := mfaStart(t, s, d, loc.Id, methodTOTP).ChallengeToken
	mfaFinishOK(t, s, c, s.TOTPCode(u.TOTPSecret))
	s.Clock.Advance(mfa.Period)
	_, err := mfaFinish(s, c, s.TOTPCode(u.TOTPSecret))
	wantCode(t, err, connect.CodeUnauthenticated, "This sign-in expired; start again.")

	// A challenge lives five minutes: just before, it works...
	s.Clock.Advance(mfa.Period)
	early := mfaStart(t, s, d, loc.Id, methodTOTP).ChallengeToken
	late := mfaStart(t, s, d, loc.Id, methodTOTP).ChallengeToken
	s.Clock.Advance(mfa.ChallengeTTL - time.Second)
	mfaFinishOK(t, s, early, s.TOTPCode(u.TOTPSecret))
	// ...and at five minutes it is gone, whatever the code.
	s.Clock.Advance(time.Second)
	_, err = mfaFinish(s, late, totpAt(t, u.TOTPSecret, s.Clock.Now().Add(mfa.Period)))
	wantCode(t, err, connect.CodeUnauthenticated, "This sign-in expired; start again.")

	// An emailed code expires with its challenge too.
	s.EnableEmail(u)
	mails := len(s.MailTo(u.Email))
	ec := mfaStart(t, s, d, loc.Id, methodEmail).ChallengeToken
	code := s.WaitCode(u.Email, mails+1)
	s.Clock.Advance(mfa.ChallengeTTL)
	_, err = mfaFinish(s, ec, code)
	wantCode(t, err, connect.CodeUnauthenticated, "This sign-in expired; start again.")

	// An emailed code is single use: sent again it is told so (and is no
	// wrong try).
	s.Clock.Advance(mfa.MailInterval)
	ec = mfaStart(t, s, d, loc.Id, methodEmail).ChallengeToken
	code = s.WaitCode(u.Email, mails+2)
	mfaFinishOK(t, s, ec, code)
	_, err = mfaFinish(s, ec, code)
	wantCode(t, err, connect.CodeUnauthenticated, "This code was already used.")

	// A token that was never issued is refused the same way.
	_, err = mfaFinish(s, "wmc_not-a-challenge", s.TOTPCode(u.TOTPSecret))
	wantCode(t, err, connect.CodeUnauthenticated, "This sign-in expired; start again.")
}

func TestWrongCodesLockOut(t *testing.T) {
	s, loc, u, d := totpSetup(t)
	other := s.Enroll(u, "phone")

	// A challenge started before the lockout, to try a right code during it.
	pending := mfaStart(t, s, d, loc.Id, methodTOTP).ChallengeToken

	// Wrong codes count per user, across challenges.
	c1 := mfaStart(t, s, d, loc.Id, methodTOTP).ChallengeToken
	c2 := mfaStart(t, s, d, loc.Id, methodTOTP).ChallengeToken
	tries := []struct {
		challenge, msg string
	}{
		{c1, "Invalid code (4 tries left)"},
		{c1, "Invalid code (3 tries left)"},
		{c1, "Invalid code (2 tries left)"},
		{c2, "Invalid code (1 try left)"},
		{c2, "Invalid code (0 tries left)"},
	}
	for _, try := range tries {
		_, err := mfaFinish(s, try.challenge, wrongTOTP(t, u.TOTPSecret, s.Clock.Now()))
		wantCode(t, err, connect.CodeUnauthenticated, try.msg)
		s.Clock.Advance(10 * time.Second)
	}
	lastWrong := s.Clock.Now().Add(-10 * time.Second)

	// Locked for five minutes from the last wrong code: one minute on, the
	// wait is four minutes.
	s.Clock.Set(lastWrong.Add(time.Minute))
	_, err := mfaStartErr(s, d, loc.Id, methodTOTP)
	wantCodeContains(t, err, connect.CodeResourceExhausted, "Try again in 4 min")
	_, err = mfaFinish(s, pending, s.TOTPCode(u.TOTPSecret))
	wantCodeContains(t, err, connect.CodeResourceExhausted, "Try again in 4 min")
	// The lockout is the user's, not the device's.
	_, err = mfaStartErr(s, other, loc.Id, methodTOTP)
	wantCodeContains(t, err, connect.CodeResourceExhausted, "Try again in 4 min")

	// A second before the end it still holds.
	s.Clock.Set(lastWrong.Add(mfa.LockoutDuration - time.Second))
	_, err = mfaStartErr(s, d, loc.Id, methodTOTP)
	wantCodeContains(t, err, connect.CodeResourceExhausted, "Try again in 1 s")

	// Five minutes after the last wrong code it works again, with every try back.
	s.Clock.Set(lastWrong.Add(mfa.LockoutDuration))
	c := mfaStart(t, s, d, loc.Id, methodTOTP).ChallengeToken
	_, err = mfaFinish(s, c, wrongTOTP(t, u.TOTPSecret, s.Clock.Now()))
	wantCode(t, err, connect.CodeUnauthenticated, "Invalid code (4 tries left)")
	fin := mfaFinishOK(t, s, c, s.TOTPCode(u.TOTPSecret))
	wantPSK(t, fin.Tunnel)
}

func TestChallengeSpentAfterFiveWrongCodes(t *testing.T) {
	s, loc, u, d := totpSetup(t)
	c := mfaStart(t, s, d, loc.Id, methodTOTP).ChallengeToken
	msgs := []string{"Invalid code (4 tries left)", "Invalid code (3 tries left)", "Invalid code (2 tries left)", "Invalid code (1 try left)", "Invalid code (0 tries left)"}
	for i, msg := range msgs {
		if i == 2 {
			// A sign-in with password and TOTP code proves the factor and
			// forgives the user's wrong codes, but not the challenge's.
			s.Login(u)
		}
		_, err := mfaFinish(s, c, wrongTOTP(t, u.TOTPSecret, s.Clock.Now()))
		wantCode(t, err, connect.CodeUnauthenticated, msg)
	}
	// Five wrong codes spend the challenge, though the user is not locked out.
	_, err := mfaFinish(s, c, totpAt(t, u.TOTPSecret, s.Clock.Now().Add(mfa.Period)))
	wantCode(t, err, connect.CodeUnauthenticated, "This sign-in expired; start again.")
	mfaStart(t, s, d, loc.Id, methodTOTP)
}

func TestMailThrottled(t *testing.T) {
	s := servertest.New(t)
	loc := s.MFALocation("Office")
	u := s.CreateUser("bob")
	s.EnableEmail(u)
	d := s.Enroll(u, "laptop")
	mails := len(s.MailTo(u.Email))

	mfaStart(t, s, d, loc.Id, methodEmail)
	s.WaitCode(u.Email, mails+1)

	// Ten seconds later another code would be a second mail within 30 s.
	s.Clock.Advance(10 * time.Second)
	_, err := mfaStartErr(s, d, loc.Id, methodEmail)
	wantCodeContains(t, err, connect.CodeResourceExhausted, "Wait 20 s")
	if n := len(s.MailTo(u.Email)); n != mails+1 {
		t.Fatalf("a throttled request sent mail: %d mails, want %d", n, mails+1)
	}

	// A second before the interval ends it is still throttled.
	s.Clock.Advance(19 * time.Second)
	_, err = mfaStartErr(s, d, loc.Id, methodEmail)
	wantCodeContains(t, err, connect.CodeResourceExhausted, "Wait 1 s")

	// Thirty seconds after the first mail the next one goes out, and its code works.
	s.Clock.Advance(time.Second)
	st := mfaStart(t, s, d, loc.Id, methodEmail)
	code := s.WaitCode(u.Email, mails+2)
	wantPSK(t, mfaFinishOK(t, s, st.ChallengeToken, code).Tunnel)
}

func TestLogin(t *testing.T) {
	s := servertest.New(t)
	ctx := servertest.Ctx(t)
	u := s.CreateUser("alice")
	login := func(username, password, code string) error {
		_, err := s.Account.Login(ctx, servertest.Req("", &v1.LoginRequest{Username: username, Password: password, TotpCode: code}))
		return err
	}

	// A wrong password and an unknown user look the same.
	err := login("alice", "not-the-password", "")
	wantCode(t, err, connect.CodeUnauthenticated, "Wrong username or password.")
	err = login("nobody", "not-the-password", "")
	wantCode(t, err, connect.CodeUnauthenticated, "Wrong username or password.")
	if err := login("alice", u.Password, ""); err != nil {
		t.Fatalf("login without TOTP: %v", err)
	}

	// With TOTP on, the password alone is not enough: it gives a sign-in
	// challenge, no token.
	s.EnableTOTP(u)
	freshStep(s)
	lr, err := s.Account.Login(ctx, servertest.Req("", &v1.LoginRequest{Username: "alice", Password: u.Password}))
	if err != nil || lr.Msg.Token != "" || lr.Msg.MfaChallenge == "" || len(lr.Msg.MfaMethods) != 1 || lr.Msg.MfaMethods[0] != methodTOTP {
		t.Fatalf("password alone with TOTP on = %v, %v; want a challenge for TOTP and no token", lr, err)
	}
	err = login("alice", u.Password, wrongTOTP(t, u.TOTPSecret, s.Clock.Now()))
	wantCode(t, err, connect.CodeUnauthenticated, "")
	// The right code with a wrong password is still refused.
	err = login("alice", "not-the-password", s.TOTPCode(u.TOTPSecret))
	wantCode(t, err, connect.CodeUnauthenticated, "Wrong username or password.")

	code := s.TOTPCode(u.TOTPSecret)
	if err := login("alice", u.Password, code); err != nil {
		t.Fatalf("login with TOTP: %v", err)
	}
	// The same code again, in the same step, is a replay.
	s.Clock.Advance(5 * time.Second)
	err = login("alice", u.Password, code)
	wantCode(t, err, connect.CodeUnauthenticated, "")

	// A step is spent for the user wherever it was used: a code that opened
	// a connection cannot sign in.
	loc := s.MFALocation("Office")
	d := s.Enroll(u, "laptop")
	s.Clock.Advance(mfa.Period)
	code = s.TOTPCode(u.TOTPSecret)
	mfaFinishOK(t, s, mfaStart(t, s, d, loc.Id, methodTOTP).ChallengeToken, code)
	err = login("alice", u.Password, code)
	wantCode(t, err, connect.CodeUnauthenticated, "")
}

func TestMFAAudited(t *testing.T) {
	s := servertest.New(t)
	ctx := servertest.Ctx(t)
	loc := s.MFALocation("Office")
	u := s.CreateUser("alice")
	s.EnableTOTP(u)
	s.EnableEmail(u)
	d := s.Enroll(u, "laptop")
	freshStep(s)

	c := mfaStart(t, s, d, loc.Id, methodTOTP).ChallengeToken
	_, err := mfaFinish(s, c, wrongTOTP(t, u.TOTPSecret, s.Clock.Now()))
	wantCode(t, err, connect.CodeUnauthenticated, "Invalid code (4 tries left)")
	mfaFinishOK(t, s, c, s.TOTPCode(u.TOTPSecret))

	mails := len(s.MailTo(u.Email))
	ec := mfaStart(t, s, d, loc.Id, methodEmail).ChallengeToken
	code := s.WaitCode(u.Email, mails+1)
	_, err = mfaFinish(s, ec, fmt.Sprintf("%06d", (mustAtoi(t, code)+1)%1000000))
	wantCode(t, err, connect.CodeUnauthenticated, "Invalid code (4 tries left)")
	mfaFinishOK(t, s, ec, code)

	resp, err := s.Admin.ListAuditEvents(ctx, servertest.Req(s.AdminToken(), &v1.ListAuditEventsRequest{Limit: 500}))
	if err != nil {
		t.Fatal(err)
	}
	for _, action := range []string{"mfa.failed", "mfa.succeeded"} {
		for _, method := range []string{"totp", "email"} {
			found := false
			for _, e := range resp.Msg.Events {
				if e.Action == action && strings.Contains(e.Detail, "method="+method) {
					found = true
					if e.RemoteAddr != "127.0.0.1" || e.Actor != "alice" || e.Time == nil {
						t.Errorf("%s (%s) = %v, want actor alice from 127.0.0.1", action, method, e)
					}
				}
			}
			if !found {
				t.Errorf("no %s event with method=%s in %v", action, method, resp.Msg.Events)
			}
		}
	}
}

func TestPasswordSignInKeepsLockout(t *testing.T) {
	s := servertest.New(t)
	loc := s.MFALocation("Office")
	u := s.CreateUser("bob")
	s.EnableEmail(u)
	d := s.Enroll(u, "laptop")
	mails := len(s.MailTo(u.Email))

	c := mfaStart(t, s, d, loc.Id, methodEmail).ChallengeToken
	code := s.WaitCode(u.Email, mails+1)
	wrong := fmt.Sprintf("%06d", (mustAtoi(t, code)+1)%1000000)
	for _, msg := range []string{"Invalid code (4 tries left)", "Invalid code (3 tries left)", "Invalid code (2 tries left)", "Invalid code (1 try left)"} {
		_, err := mfaFinish(s, c, wrong)
		wantCode(t, err, connect.CodeUnauthenticated, msg)
	}
	// Someone who has the password (and the device) cannot sign in with it
	// alone, and trying proves no second factor: the wrong codes still count.
	lr, err := s.Account.Login(servertest.Ctx(t), servertest.Req("", &v1.LoginRequest{Username: u.Username, Password: u.Password}))
	if err != nil || lr.Msg.Token != "" {
		t.Fatalf("password alone of an email-only account = %v, %v; want a challenge and no token", lr, err)
	}
	_, err = mfaFinish(s, c, wrong)
	wantCode(t, err, connect.CodeUnauthenticated, "Invalid code (0 tries left)")
	s.Clock.Advance(mfa.MailInterval)
	_, err = mfaStartErr(s, d, loc.Id, methodEmail)
	wantCodeContains(t, err, connect.CodeResourceExhausted, "Try again in 4 min 30 s")
}
