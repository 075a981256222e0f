package api_test

import (
	"bytes"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"

	v1 "github.com/wicket-vpn/wicket/proto/gen/wicket/v1"
	"github.com/wicket-vpn/wicket/server/internal/mfa"
	"github.com/wicket-vpn/wicket/server/internal/servertest"
)

// wantField checks an InvalidArgument error that names field.
func wantField(t *testing.T, err error, field string) {
	t.Helper()
	msg := wantCodeContains(t, err, connect.CodeInvalidArgument, field)
	if !strings.HasPrefix(msg, field+":") {
		t.Fatalf("message %q does not start with the field %s", msg, field)
	}
}

func TestUnknownDeviceToken(t *testing.T) {
	s := servertest.New(t)
	ctx := servertest.Ctx(t)
	loc := s.MFALocation("Office")
	open := s.CreateLocation(&v1.Location{Name: "Lab", Address: "10.20.0.1/24"})
	u := s.CreateUser("alice")
	s.EnableTOTP(u)
	gone := s.Enroll(u, "old laptop")
	if _, err := s.Account.DeleteDevice(ctx, servertest.Req(u.Token, &v1.DeleteDeviceRequest{DeviceId: gone.ID})); err != nil {
		t.Fatal(err)
	}

	for name, tok := range map[string]string{"empty": "", "unknown": "wdt_" + strings.Repeat("x", 43), "deleted device": gone.Token} {
		_, err := s.Client.GetInstance(ctx, servertest.Req("", &v1.GetInstanceRequest{DeviceToken: tok}))
		wantCode(t, err, connect.CodeUnauthenticated, "")
		_, err = s.Client.Connect(ctx, servertest.Req("", &v1.ConnectRequest{DeviceToken: tok, LocationId: open.Id}))
		wantCode(t, err, connect.CodeUnauthenticated, "")
		_, err = s.Client.StartMfa(ctx, servertest.Req("", &v1.StartMfaRequest{DeviceToken: tok, LocationId: loc.Id, Method: methodTOTP}))
		wantCode(t, err, connect.CodeUnauthenticated, "")
		_, err = s.Client.Disconnect(ctx, servertest.Req("", &v1.DisconnectRequest{DeviceToken: tok, SessionId: "x"}))
		wantCode(t, err, connect.CodeUnauthenticated, "")
		stream, err := s.Client.WatchInstance(ctx, servertest.Req("", &v1.WatchInstanceRequest{DeviceToken: tok}))
		if err == nil {
			for stream.Receive() {
			}
			err = stream.Err()
			stream.Close()
		}
		if connect.CodeOf(err) != connect.CodeUnauthenticated {
			t.Fatalf("%s token: WatchInstance: %v", name, err)
		}
	}
}

func TestLocationNotFoundOrNotAllowed(t *testing.T) {
	s := servertest.New(t)
	ctx := servertest.Ctx(t)
	opsMFA := s.CreateLocation(&v1.Location{Name: "Ops", MfaMode: v1.LocationMfaMode_LOCATION_MFA_MODE_INTERNAL, AllowedGroups: []string{"ops"}})
	opsOpen := s.CreateLocation(&v1.Location{Name: "Ops lab", Address: "10.20.0.1/24", AllowedGroups: []string{"ops"}})
	u := s.CreateUser("alice", "dev")
	s.EnableTOTP(u)
	d := s.Enroll(u, "laptop")
	op := s.CreateUser("oscar", "ops")
	s.EnableTOTP(op)
	od := s.Enroll(op, "laptop")
	freshStep(s)

	_, err := s.Client.Connect(ctx, servertest.Req("", &v1.ConnectRequest{DeviceToken: d.Token, LocationId: "no-such-location"}))
	wantCode(t, err, connect.CodeNotFound, "")
	_, err = mfaStartErr(s, d, "no-such-location", methodTOTP)
	wantCode(t, err, connect.CodeNotFound, "")

	// A user outside the location's groups neither sees nor uses it.
	if len(d.Instance.Locations) != 0 {
		t.Fatalf("alice sees %v", d.Instance.Locations)
	}
	_, err = s.Client.Connect(ctx, servertest.Req("", &v1.ConnectRequest{DeviceToken: d.Token, LocationId: opsOpen.Id}))
	wantCode(t, err, connect.CodePermissionDenied, "")
	_, err = mfaStartErr(s, d, opsMFA.Id, methodTOTP)
	wantCode(t, err, connect.CodePermissionDenied, "")

	// A member may.
	if _, err := s.Client.Connect(ctx, servertest.Req("", &v1.ConnectRequest{DeviceToken: od.Token, LocationId: opsOpen.Id})); err != nil {
		t.Fatalf("member Connect: %v", err)
	}
	c := mfaStart(t, s, od, opsMFA.Id, methodTOTP)
	mfaFinishOK(t, s, c.ChallengeToken, s.TOTPCode(op.TOTPSecret))
}

func TestWrongFlowForLocation(t *testing.T) {
	s := servertest.New(t)
	ctx := servertest.Ctx(t)
	mfaLoc := s.MFALocation("Office")
	open := s.CreateLocation(&v1.Location{Name: "Lab", Address: "10.20.0.1/24"})
	u := s.CreateUser("alice")
	s.EnableTOTP(u)
	d := s.Enroll(u, "laptop")

	_, err := s.Client.Connect(ctx, servertest.Req("", &v1.ConnectRequest{DeviceToken: d.Token, LocationId: mfaLoc.Id}))
	wantCode(t, err, connect.CodeFailedPrecondition, "")
	_, err = mfaStartErr(s, d, open.Id, methodTOTP)
	wantCode(t, err, connect.CodeFailedPrecondition, "")
}

func TestMethodNotEnabled(t *testing.T) {
	s := servertest.New(t)
	loc := s.MFALocation("Office")
	u := s.CreateUser("alice")
	d := s.Enroll(u, "laptop")

	_, err := mfaStartErr(s, d, loc.Id, methodTOTP)
	wantCode(t, err, connect.CodeFailedPrecondition, "TOTP is not enabled for your account. Set it up in your profile first.")
	_, err = mfaStartErr(s, d, loc.Id, methodEmail)
	wantCode(t, err, connect.CodeFailedPrecondition, "Email codes are not enabled for your account. Set them up in your profile first.")
	if n := len(s.MailTo(u.Email)); n != 0 {
		t.Fatalf("%d mails for a method that is off", n)
	}

	// With one method on, the other is still refused; picking again works.
	s.EnableTOTP(u)
	_, err = mfaStartErr(s, d, loc.Id, methodEmail)
	wantCode(t, err, connect.CodeFailedPrecondition, "Email codes are not enabled for your account. Set them up in your profile first.")
	mfaFinishOK(t, s, mfaStart(t, s, d, loc.Id, methodTOTP).ChallengeToken, s.TOTPCode(u.TOTPSecret))
}

func TestEmailWithoutSMTP(t *testing.T) {
	s := servertest.New(t, servertest.WithoutSMTP())
	loc := s.MFALocation("Office")
	u := s.CreateUser("alice")
	s.EnableTOTP(u)
	d := s.Enroll(u, "laptop")
	if d.Instance.SmtpConfigured {
		t.Fatal("instance says SMTP is configured")
	}

	_, err := mfaStartErr(s, d, loc.Id, methodEmail)
	wantCode(t, err, connect.CodeFailedPrecondition, "Email codes are unavailable: the server has no SMTP settings.")
	_, err = s.Account.BeginEmailMfaSetup(servertest.Ctx(t), servertest.Req(u.Token, &v1.BeginEmailMfaSetupRequest{}))
	wantCode(t, err, connect.CodeFailedPrecondition, "Email codes are unavailable: the server has no SMTP settings.")
	if n := len(s.Mail.Messages()); n != 0 {
		t.Fatalf("%d mails without SMTP settings", n)
	}
	// TOTP is unaffected.
	mfaFinishOK(t, s, mfaStart(t, s, d, loc.Id, methodTOTP).ChallengeToken, s.TOTPCode(u.TOTPSecret))
}

func TestMalformedInput(t *testing.T) {
	s := servertest.New(t)
	ctx := servertest.Ctx(t)
	loc := s.MFALocation("Office")
	u := s.CreateUser("alice")
	s.EnableTOTP(u)
	d := s.Enroll(u, "laptop")

	et, err := s.Account.CreateEnrollmentToken(ctx, servertest.Req(u.Token, &v1.CreateEnrollmentTokenRequest{DeviceName: "phone"}))
	if err != nil {
		t.Fatal(err)
	}
	short := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 31))
	zero := base64.StdEncoding.EncodeToString(make([]byte, 32))
	for _, key := range []string{"", "not a key", short, zero} {
		_, err := s.Client.Enroll(ctx, servertest.Req("", &v1.EnrollRequest{EnrollmentToken: et.Msg.EnrollmentToken, DeviceName: "phone", PublicKey: key}))
		wantField(t, err, "public_key")
	}
	// Refused input does not spend the enrollment token.
	_, pub := servertest.NewKeyPair(t)
	if _, err := s.Client.Enroll(ctx, servertest.Req("", &v1.EnrollRequest{EnrollmentToken: et.Msg.EnrollmentToken, DeviceName: "phone", PublicKey: pub})); err != nil {
		t.Fatalf("enroll after refused keys: %v", err)
	}
	_, err = s.Client.Enroll(ctx, servertest.Req("", &v1.EnrollRequest{DeviceName: "phone", PublicKey: pub}))
	wantField(t, err, "enrollment_token")

	_, err = mfaStartErr(s, d, "", methodTOTP)
	wantField(t, err, "location_id")
	_, err = s.Client.Connect(ctx, servertest.Req("", &v1.ConnectRequest{DeviceToken: d.Token}))
	wantField(t, err, "location_id")
	_, err = mfaStartErr(s, d, loc.Id, v1.MfaMethod_MFA_METHOD_UNSPECIFIED)
	wantField(t, err, "method")
	_, err = mfaStartErr(s, d, loc.Id, v1.MfaMethod(7))
	wantField(t, err, "method")

	c := mfaStart(t, s, d, loc.Id, methodTOTP).ChallengeToken
	for _, code := range []string{"", "12345", "1234567", "12345a", " 123456"} {
		_, err = mfaFinish(s, c, code)
		wantField(t, err, "code")
	}
	_, err = mfaFinish(s, "", s.TOTPCode(u.TOTPSecret))
	wantField(t, err, "challenge_token")
	_, err = s.Client.Disconnect(ctx, servertest.Req("", &v1.DisconnectRequest{DeviceToken: d.Token}))
	wantField(t, err, "session_id")

	// Malformed codes are not wrong codes: every try is still there.
	_, err = mfaFinish(s, c, wrongTOTP(t, u.TOTPSecret, s.Clock.Now()))
	wantCode(t, err, connect.CodeUnauthenticated, "Invalid code (4 tries left)")
	mfaFinishOK(t, s, c, s.TOTPCode(u.TOTPSecret))
}

func TestEnrollmentTokenSingleUseAndExpiry(t *testing.T) {
	s := servertest.New(t)
	ctx := servertest.Ctx(t)
	u := s.CreateUser("alice")
	newToken := func() string {
		et, err := s.Account.CreateEnrollmentToken(ctx, servertest.Req(u.Token, &v1.CreateEnrollmentTokenRequest{DeviceName: "laptop"}))
		if err != nil {
			t.Fatal(err)
		}
		if got := et.Msg.ExpiresAt.AsTime().Sub(s.Clock.Now()); got != 24*time.Hour {
			t.Fatalf("enrollment token lives %v", got)
		}
		return et.Msg.EnrollmentToken
	}
	enroll := func(tok string) error {
		_, pub := servertest.NewKeyPair(t)
		_, err := s.Client.Enroll(ctx, servertest.Req("", &v1.EnrollRequest{EnrollmentToken: tok, PublicKey: pub}))
		return err
	}

	once := newToken()
	if err := enroll(once); err != nil {
		t.Fatal(err)
	}
	wantCode(t, enroll(once), connect.CodeUnauthenticated, "")
	wantCode(t, enroll("wet_"+strings.Repeat("x", 43)), connect.CodeUnauthenticated, "")

	young, old := newToken(), newToken()
	s.Clock.Advance(24*time.Hour - time.Second)
	if err := enroll(young); err != nil {
		t.Fatalf("enroll just under 24 h: %v", err)
	}
	s.Clock.Advance(2 * time.Second)
	wantCode(t, enroll(old), connect.CodeUnauthenticated, "")
}

func TestConnectWithoutMFA(t *testing.T) {
	s := servertest.New(t)
	ctx := servertest.Ctx(t)
	loc := s.CreateLocation(&v1.Location{Name: "Lab", Address: "10.20.0.1/24", Endpoint: "lab.example.com:51821", AllowedIps: []string{"10.20.0.0/24"}})
	u := s.CreateUser("alice")
	d := s.Enroll(u, "laptop")

	r, err := s.Client.Connect(ctx, servertest.Req("", &v1.ConnectRequest{DeviceToken: d.Token, LocationId: loc.Id}))
	if err != nil {
		t.Fatal(err)
	}
	tun := r.Msg.Tunnel
	if r.Msg.SessionId == "" || tun == nil {
		t.Fatalf("connect = %v", r.Msg)
	}
	if tun.PresharedKey != "" {
		t.Fatalf("a location without MFA got a pre-shared key %q", tun.PresharedKey)
	}
	if tun.Address != "10.20.0.2/32" || tun.ServerPublicKey != loc.PublicKey || tun.Endpoint != "lab.example.com:51821" ||
		len(tun.AllowedIps) != 1 || tun.AllowedIps[0] != "10.20.0.0/24" {
		t.Fatalf("tunnel = %v", tun)
	}
	ls, err := s.Admin.ListSessions(ctx, servertest.Req(s.AdminToken(), &v1.ListSessionsRequest{LocationId: loc.Id, ActiveOnly: true}))
	if err != nil {
		t.Fatal(err)
	}
	if len(ls.Msg.Sessions) != 1 || ls.Msg.Sessions[0].Id != r.Msg.SessionId || ls.Msg.Sessions[0].Method != v1.MfaMethod_MFA_METHOD_UNSPECIFIED {
		t.Fatalf("sessions = %v", ls.Msg.Sessions)
	}
}

func TestFinishMFAReplacesSession(t *testing.T) {
	s, loc, u, d := totpSetup(t)
	ctx := servertest.Ctx(t)

	first := mfaFinishOK(t, s, mfaStart(t, s, d, loc.Id, methodTOTP).ChallengeToken, s.TOTPCode(u.TOTPSecret))
	s.Clock.Advance(mfa.Period)
	second := mfaFinishOK(t, s, mfaStart(t, s, d, loc.Id, methodTOTP).ChallengeToken, s.TOTPCode(u.TOTPSecret))
	psk1, psk2 := wantPSK(t, first.Tunnel), wantPSK(t, second.Tunnel)
	if bytes.Equal(psk1, psk2) {
		t.Fatal("the new session reuses the old pre-shared key")
	}
	if first.SessionId == second.SessionId {
		t.Fatal("the new session has the old id")
	}

	ls, err := s.Admin.ListSessions(ctx, servertest.Req(s.AdminToken(), &v1.ListSessionsRequest{LocationId: loc.Id, ActiveOnly: false}))
	if err != nil {
		t.Fatal(err)
	}
	byID := map[string]*v1.Session{}
	for _, sess := range ls.Msg.Sessions {
		byID[sess.Id] = sess
	}
	old, cur := byID[first.SessionId], byID[second.SessionId]
	if len(ls.Msg.Sessions) != 2 || old == nil || cur == nil {
		t.Fatalf("sessions = %v", ls.Msg.Sessions)
	}
	if old.State != v1.SessionState_SESSION_STATE_ENDED || old.EndReason != v1.SessionEndReason_SESSION_END_REASON_REPLACED || old.EndedAt == nil {
		t.Fatalf("old session = %v, want ended as REPLACED", old)
	}
	if cur.State != v1.SessionState_SESSION_STATE_AUTHORIZED || cur.EndReason != v1.SessionEndReason_SESSION_END_REASON_UNSPECIFIED || cur.EndedAt != nil {
		t.Fatalf("new session = %v, want active", cur)
	}
	active, err := s.Admin.ListSessions(ctx, servertest.Req(s.AdminToken(), &v1.ListSessionsRequest{LocationId: loc.Id, ActiveOnly: true}))
	if err != nil {
		t.Fatal(err)
	}
	if len(active.Msg.Sessions) != 1 || active.Msg.Sessions[0].Id != second.SessionId {
		t.Fatalf("active sessions = %v", active.Msg.Sessions)
	}

	// The gateway keeps the device with the new key only.
	_, peers, err := s.Svc.Sessions.DesiredPeers(ctx, loc.Id)
	if err != nil {
		t.Fatal(err)
	}
	if len(peers) != 1 || peers[0].PublicKey.String() != d.PublicKey || pskString(peers[0].PresharedKey) != second.Tunnel.PresharedKey {
		t.Fatalf("peers = %+v", peers)
	}
}
