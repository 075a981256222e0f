package api_test

import (
	"encoding/base64"
	"testing"
	"time"

	"connectrpc.com/connect"

	v1 "github.com/wicket-vpn/wicket/proto/gen/wicket/v1"
	"github.com/wicket-vpn/wicket/server/internal/servertest"
)

func wantCode(t *testing.T, err error, code connect.Code, msg string) {
	t.Helper()
	if err == nil {
		t.Fatalf("want %v %q, got success", code, msg)
	}
	if connect.CodeOf(err) != code {
		t.Fatalf("want code %v, got %v: %v", code, connect.CodeOf(err), err)
	}
	var ce *connect.Error
	if msg != "" {
		if !errorsAs(err, &ce) || ce.Message() != msg {
			t.Fatalf("want message %q, got %q", msg, err)
		}
	}
}

func TestEnrollInstanceTOTPSession(t *testing.T) {
	s := servertest.New(t)
	ctx := servertest.Ctx(t)
	loc := s.MFALocation("Office")
	u := s.CreateUser("alice")
	s.EnableTOTP(u)
	d := s.Enroll(u, "laptop")

	// The instance lists the location with the device's own address.
	inst := d.Instance
	if inst.Username != "alice" || len(inst.Locations) != 1 || inst.DeviceId != d.ID {
		t.Fatalf("instance = %v", inst)
	}
	li := inst.Locations[0]
	if li.Id != loc.Id || li.MfaMode != v1.LocationMfaMode_LOCATION_MFA_MODE_INTERNAL || li.Tunnel.Address != "10.10.0.2/32" || li.Tunnel.PresharedKey != "" {
		t.Fatalf("location info = %v", li)
	}
	if len(inst.EnabledMfaMethods) != 1 || inst.EnabledMfaMethods[0] != v1.MfaMethod_MFA_METHOD_TOTP || !inst.SmtpConfigured {
		t.Fatalf("methods = %v smtp = %v", inst.EnabledMfaMethods, inst.SmtpConfigured)
	}
	gi, err := s.Client.GetInstance(ctx, servertest.Req("", &v1.GetInstanceRequest{DeviceToken: d.Token}))
	if err != nil {
		t.Fatal(err)
	}
	if gi.Msg.Instance.Locations[0].Tunnel.Address != "10.10.0.2/32" {
		t.Fatalf("address not stable: %v", gi.Msg.Instance.Locations[0].Tunnel)
	}

	// A gateway subscriber sees an empty peer set until MFA succeeds.
	sub := s.Svc.Sessions.SubscribePeers(loc.Id)
	defer sub.Close()
	first, err := sub.Next(ctx)
	if err != nil || !first.Snapshot || len(first.Peers) != 0 {
		t.Fatalf("first = %+v, %v", first, err)
	}

	st, err := s.Client.StartMfa(ctx, servertest.Req("", &v1.StartMfaRequest{DeviceToken: d.Token, LocationId: loc.Id, Method: v1.MfaMethod_MFA_METHOD_TOTP}))
	if err != nil {
		t.Fatal(err)
	}
	if got := st.Msg.ExpiresAt.AsTime().Sub(s.Clock.Now()); got != 5*time.Minute {
		t.Fatalf("challenge expires in %v", got)
	}
	fin, err := s.Client.FinishMfa(ctx, servertest.Req("", &v1.FinishMfaRequest{ChallengeToken: st.Msg.ChallengeToken, Code: s.TOTPCode(u.TOTPSecret)}))
	if err != nil {
		t.Fatal(err)
	}
	tun := fin.Msg.Tunnel
	psk, err := base64.StdEncoding.DecodeString(tun.PresharedKey)
	if err != nil || len(psk) != 32 {
		t.Fatalf("pre-shared key %q: %v", tun.PresharedKey, err)
	}
	if tun.ServerPublicKey != loc.PublicKey || tun.Address != "10.10.0.2/32" || tun.Endpoint != loc.Endpoint || tun.KeepaliveIntervalSeconds != 25 {
		t.Fatalf("tunnel = %v", tun)
	}

	ch, err := sub.Next(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := wantPeer{key: d.PublicKey, addr: "10.10.0.2/32", psk: tun.PresharedKey}
	if got := fromSession(ch.Upserts); len(got) != 1 || got[0] != want {
		t.Fatalf("change = %+v, want upsert %+v", ch, want)
	}

	// The admin sees the session, AUTHORIZED until the gateway reports a handshake.
	ls, err := s.Admin.ListSessions(ctx, servertest.Req(s.AdminToken(), &v1.ListSessionsRequest{LocationId: loc.Id, ActiveOnly: true}))
	if err != nil {
		t.Fatal(err)
	}
	if len(ls.Msg.Sessions) != 1 || ls.Msg.Sessions[0].Id != fin.Msg.SessionId || ls.Msg.Sessions[0].State != v1.SessionState_SESSION_STATE_AUTHORIZED ||
		ls.Msg.Sessions[0].Method != v1.MfaMethod_MFA_METHOD_TOTP || ls.Msg.Sessions[0].Username != "alice" {
		t.Fatalf("sessions = %v", ls.Msg.Sessions)
	}

	// Disconnect removes the peer at once.
	if _, err := s.Client.Disconnect(ctx, servertest.Req("", &v1.DisconnectRequest{DeviceToken: d.Token, SessionId: fin.Msg.SessionId})); err != nil {
		t.Fatal(err)
	}
	ch, err = sub.Next(ctx)
	if err != nil || len(ch.Removes) != 1 || ch.Removes[0].String() != d.PublicKey {
		t.Fatalf("after disconnect: %+v, %v", ch, err)
	}
}
