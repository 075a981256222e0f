package api_test

import (
	"slices"
	"testing"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

	v1 "github.com/wicket-vpn/wicket/proto/gen/wicket/v1"
	"github.com/wicket-vpn/wicket/server/internal/mfa"
	"github.com/wicket-vpn/wicket/server/internal/servertest"
)

// instanceSansURL is a device's instance without the server URL, which a
// restart on a new port changes.
func instanceSansURL(t *testing.T, s *servertest.Server, deviceToken string) *v1.InstanceInfo {
	t.Helper()
	gi, err := s.Client.GetInstance(servertest.Ctx(t), servertest.Req("", &v1.GetInstanceRequest{DeviceToken: deviceToken}))
	if err != nil {
		t.Fatal(err)
	}
	inst := gi.Msg.Instance
	inst.Url = ""
	return inst
}

func TestRestartKeepsState(t *testing.T) {
	s := servertest.New(t)
	ctx := servertest.Ctx(t)
	office := s.MFALocation("Office")
	open := s.CreateLocation(&v1.Location{Name: "Open", Address: "10.20.0.1/24", AllowedGroups: []string{"eng"}, Dns: []string{"10.20.0.53"}})
	alice := s.CreateUser("alice", "eng")
	s.EnableTOTP(alice)
	s.EnableEmail(alice)
	bob := s.CreateUser("bob")
	da := s.Enroll(alice, "alice-laptop")
	db := s.Enroll(bob, "bob-laptop")
	gt, err := s.Admin.CreateGatewayToken(ctx, servertest.Req(s.AdminToken(), &v1.CreateGatewayTokenRequest{LocationId: office.Id}))
	if err != nil {
		t.Fatal(err)
	}
	smtp := &v1.UpdateSmtpSettingsRequest{Host: s.Mail.Host(), Port: uint32(s.Mail.Port()), From: "vpn@example.com", Tls: v1.SmtpTls_SMTP_TLS_NONE}
	if _, err := s.Admin.UpdateSmtpSettings(ctx, servertest.Req(s.AdminToken(), smtp)); err != nil {
		t.Fatal(err)
	}

	// Active sessions: one with MFA (and a pre-shared key), one without.
	st, err := s.Client.StartMfa(ctx, servertest.Req("", &v1.StartMfaRequest{DeviceToken: da.Token, LocationId: office.Id, Method: v1.MfaMethod_MFA_METHOD_TOTP}))
	if err != nil {
		t.Fatal(err)
	}
	spent := s.TOTPCode(alice.TOTPSecret)
	r, err := s.Client.FinishMfa(ctx, servertest.Req("", &v1.FinishMfaRequest{ChallengeToken: st.Msg.ChallengeToken, Code: spent}))
	if err != nil {
		t.Fatal(err)
	}
	fin := r.Msg
	conn, err := s.Client.Connect(ctx, servertest.Req("", &v1.ConnectRequest{DeviceToken: da.Token, LocationId: open.Id}))
	if err != nil {
		t.Fatal(err)
	}

	// What the server holds before the restart.
	adminToken := s.AdminToken()
	admin := func(token string) (users *v1.ListUsersResponse, locs *v1.ListLocationsResponse, sessions *v1.ListSessionsResponse, smtp *v1.GetSmtpSettingsResponse, audit *v1.ListAuditEventsResponse) {
		t.Helper()
		ctx := servertest.Ctx(t)
		u, err := s.Admin.ListUsers(ctx, servertest.Req(token, &v1.ListUsersRequest{}))
		if err != nil {
			t.Fatal(err)
		}
		l, err := s.Admin.ListLocations(ctx, servertest.Req(token, &v1.ListLocationsRequest{}))
		if err != nil {
			t.Fatal(err)
		}
		ss, err := s.Admin.ListSessions(ctx, servertest.Req(token, &v1.ListSessionsRequest{ActiveOnly: true}))
		if err != nil {
			t.Fatal(err)
		}
		sm, err := s.Admin.GetSmtpSettings(ctx, servertest.Req(token, &v1.GetSmtpSettingsRequest{}))
		if err != nil {
			t.Fatal(err)
		}
		a, err := s.Admin.ListAuditEvents(ctx, servertest.Req(token, &v1.ListAuditEventsRequest{Limit: 500}))
		if err != nil {
			t.Fatal(err)
		}
		return u.Msg, l.Msg, ss.Msg, sm.Msg, a.Msg
	}
	users, locs, sessions, smtpBefore, audit := admin(adminToken)
	if len(sessions.Sessions) != 2 || len(audit.Events) == 0 || smtpBefore.From != "vpn@example.com" {
		t.Fatalf("before restart: sessions %v, %d audit events, smtp %v", sessions.Sessions, len(audit.Events), smtpBefore)
	}
	instA, instB := instanceSansURL(t, s, da.Token), instanceSansURL(t, s, db.Token)
	devices, err := s.Account.ListDevices(ctx, servertest.Req(alice.Token, &v1.ListDevicesRequest{}))
	if err != nil {
		t.Fatal(err)
	}
	_, peersBefore, err := s.Svc.Sessions.DesiredPeers(ctx, office.Id)
	if err != nil || len(peersBefore) != 1 || pskString(peersBefore[0].PresharedKey) != fin.Tunnel.PresharedKey {
		t.Fatalf("office peers before restart = %+v (%v)", peersBefore, err)
	}

	before := s.Svc
	s.Restart()
	ctx = servertest.Ctx(t)
	if s.Svc == before {
		t.Fatal("the server did not restart")
	}

	// Tokens issued before the restart still work: the admin's sign-in, the devices'.
	users2, locs2, sessions2, smtpAfter, audit2 := admin(adminToken)
	if !proto.Equal(users, users2) {
		t.Fatalf("users after restart:\n%v\nbefore:\n%v", users2, users)
	}
	if !proto.Equal(locs, locs2) {
		t.Fatalf("locations after restart (public keys, config versions, settings):\n%v\nbefore:\n%v", locs2, locs)
	}
	if !proto.Equal(sessions, sessions2) {
		t.Fatalf("active sessions after restart:\n%v\nbefore:\n%v", sessions2, sessions)
	}
	if !proto.Equal(smtpBefore, smtpAfter) {
		t.Fatalf("SMTP settings after restart: %v, before %v", smtpAfter, smtpBefore)
	}
	if !proto.Equal(audit, audit2) {
		t.Fatalf("audit events after restart:\n%v\nbefore:\n%v", audit2.Events, audit.Events)
	}

	// Devices: the same instance, addresses and config version.
	if got := instanceSansURL(t, s, da.Token); !proto.Equal(got, instA) {
		t.Fatalf("alice's instance after restart:\n%v\nbefore:\n%v", got, instA)
	}
	if got := instanceSansURL(t, s, db.Token); !proto.Equal(got, instB) {
		t.Fatalf("bob's instance after restart:\n%v\nbefore:\n%v", got, instB)
	}
	devices2, err := s.Account.ListDevices(ctx, servertest.Req(alice.Token, &v1.ListDevicesRequest{}))
	if err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(devices.Msg, devices2.Msg) {
		t.Fatalf("devices after restart: %v, before %v", devices2, devices)
	}

	// Active sessions are still published with the same pre-shared key, to a
	// subscriber and to the gateway whose token was made before the restart.
	sub := s.Svc.Sessions.SubscribePeers(office.Id)
	defer sub.Close()
	snap := nextPeers(t, ctx, sub)
	want := []wantPeer{peerOf(da, tunnelAddressIn(t, da, office.Id), fin.Tunnel.PresharedKey)}
	if !snap.Snapshot || !slices.Equal(fromSession(snap.Peers), want) {
		t.Fatalf("office peers after restart = %+v, want %+v", snap.Peers, want)
	}
	gw := openPeerSync(t, s, gt.Msg.GatewayToken)
	if m := gw.next(); m.Snapshot == nil || !slices.Equal(fromProto(m.Snapshot.Peers), want) || m.Snapshot.Interface.GetPrivateKey() == "" {
		t.Fatalf("gateway snapshot after restart = %v, want %+v", m, want)
	}
	openSub := s.Svc.Sessions.SubscribePeers(open.Id)
	defer openSub.Close()
	if snap := nextPeers(t, ctx, openSub); !slices.Equal(fromSession(snap.Peers), []wantPeer{peerOf(da, conn.Msg.Tunnel.Address, "")}) {
		t.Fatalf("open peers after restart = %+v", snap.Peers)
	}
	// The device can still end its session.
	if _, err := s.Client.Disconnect(ctx, servertest.Req("", &v1.DisconnectRequest{DeviceToken: da.Token, SessionId: fin.SessionId})); err != nil {
		t.Fatal(err)
	}
	wantRemoves(t, nextPeers(t, ctx, sub), da.PublicKey)

	// TOTP: the step spent before the restart stays spent; a fresh code signs in.
	_, err = s.Account.Login(ctx, servertest.Req("", &v1.LoginRequest{Username: "alice", Password: alice.Password, TotpCode: spent}))
	wantCode(t, err, connect.CodeUnauthenticated, "")
	s.Clock.Advance(mfa.Period)
	if _, err := s.Account.Login(ctx, servertest.Req("", &v1.LoginRequest{Username: "alice", Password: alice.Password, TotpCode: s.TOTPCode(alice.TOTPSecret)})); err != nil {
		t.Fatalf("TOTP sign-in after restart: %v", err)
	}
	// A new MFA connection works with the same secret.
	fin2 := sessionByTOTP(t, s, alice, da, office.Id)
	if fin2.Tunnel.PresharedKey == fin.Tunnel.PresharedKey || fin2.Tunnel.Address != fin.Tunnel.Address || fin2.Tunnel.ServerPublicKey != office.PublicKey {
		t.Fatalf("tunnel after restart = %v, before %v", fin2.Tunnel, fin.Tunnel)
	}

	// SMTP: the stored settings still deliver mail, email codes included.
	n := len(s.MailTo("alice@example.com"))
	s.Clock.Advance(mfa.MailInterval)
	em, err := s.Client.StartMfa(ctx, servertest.Req("", &v1.StartMfaRequest{DeviceToken: da.Token, LocationId: office.Id, Method: v1.MfaMethod_MFA_METHOD_EMAIL}))
	if err != nil {
		t.Fatal(err)
	}
	code := s.WaitCode("alice@example.com", n+1)
	if m := s.MailTo("alice@example.com")[n]; m.From != "vpn@example.com" {
		t.Fatalf("mail from %q", m.From)
	}
	if _, err := s.Client.FinishMfa(ctx, servertest.Req("", &v1.FinishMfaRequest{ChallengeToken: em.Msg.ChallengeToken, Code: code})); err != nil {
		t.Fatalf("email code after restart: %v", err)
	}
}
