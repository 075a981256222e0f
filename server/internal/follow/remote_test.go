package follow_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	v1 "github.com/wicket-vpn/wicket/proto/gen/wicket/v1"
	"github.com/wicket-vpn/wicket/server/internal/follow"
	"github.com/wicket-vpn/wicket/server/internal/gateway"
	"github.com/wicket-vpn/wicket/server/internal/gateway/gatewaytest"
	"github.com/wicket-vpn/wicket/server/internal/peers"
	"github.com/wicket-vpn/wicket/server/internal/servertest"
)

// startRemote runs a standalone gateway against the harness over HTTPS,
// reconnecting fast.
func startRemote(t testing.TB, s *servertest.Server, token string, a *applied) (r *follow.Remote, stop func()) {
	return startRemoteWith(t, s, token, a, func(o *follow.RemoteOptions) {
		o.MinBackoff, o.MaxBackoff = 10*time.Millisecond, 100*time.Millisecond
	})
}

// startRemoteWith runs a standalone gateway with the gateway's own
// defaults, changed by tune when it is set.
func startRemoteWith(t testing.TB, s *servertest.Server, token string, a *applied, tune func(*follow.RemoteOptions)) (r *follow.Remote, stop func()) {
	o := follow.RemoteOptions{
		Options:   gateway.Options{Mode: gateway.Netstack, Log: gatewaytest.Log(t), OnApplied: a.hook},
		HTTP:      s.HTTP,
		ServerURL: s.URL, Token: token, StatsInterval: time.Hour,
	}
	if tune != nil {
		tune(&o)
	}
	r = follow.NewRemote(o)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	stopped := false
	stop = func() {
		if !stopped {
			stopped = true
			cancel()
			if err := <-done; err != nil {
				t.Errorf("gateway ended with %v", err)
			}
		}
	}
	t.Cleanup(stop)
	return r, stop
}

func isSnapshotWith(key string) func(peers.Change) bool {
	return func(c peers.Change) bool {
		if !c.Snapshot {
			return false
		}
		for _, p := range c.Peers {
			if p.PublicKey.String() == key {
				return true
			}
		}
		return key == ""
	}
}

func TestStandaloneGatewayOverHTTPSSurvivesRestarts(t *testing.T) {
	s := servertest.New(t)
	s.Clock.Set(time.Now())
	ctx := servertest.Ctx(t)
	port := gatewaytest.FreeUDPPort(t)
	loc := s.CreateLocation(&v1.Location{Name: "Branch", ListenPort: uint32(port), Endpoint: "127.0.0.1:" + strconv.Itoa(port), MfaMode: v1.LocationMfaMode_LOCATION_MFA_MODE_INTERNAL})
	tok, err := s.Admin.CreateGatewayToken(ctx, servertest.Req(s.AdminToken(), &v1.CreateGatewayTokenRequest{LocationId: loc.Id}))
	if err != nil {
		t.Fatal(err)
	}
	a := newApplied()
	_, stop := startRemote(t, s, tok.Msg.GatewayToken, a)
	a.waitFor(t, "the first snapshot", isSnapshotWith(""))

	u := s.CreateUser("bob")
	s.EnableTOTP(u)
	d := s.Enroll(u, "desktop")
	st, err := s.Client.StartMfa(ctx, servertest.Req("", &v1.StartMfaRequest{DeviceToken: d.Token, LocationId: loc.Id, Method: v1.MfaMethod_MFA_METHOD_TOTP}))
	if err != nil {
		t.Fatal(err)
	}
	fin, err := s.Client.FinishMfa(ctx, servertest.Req("", &v1.FinishMfaRequest{ChallengeToken: st.Msg.ChallengeToken, Code: s.TOTPCode(u.TOTPSecret)}))
	if err != nil {
		t.Fatal(err)
	}
	a.waitFor(t, "the session's peer", func(c peers.Change) bool {
		return len(c.Upserts) == 1 && c.Upserts[0].PublicKey.String() == d.PublicKey
	})
	c := gatewaytest.NewClient(t, d.PrivateKey, fin.Msg.Tunnel)
	if err := c.PingUntil(pingCtx(t, 15*time.Second), "10.10.0.1"); err != nil {
		t.Fatal(err)
	}

	// A gateway restart starts from a snapshot that still holds the peer.
	stop()
	a2 := newApplied()
	r2, _ := startRemote(t, s, tok.Msg.GatewayToken, a2)
	a2.waitFor(t, "a snapshot with the active session", isSnapshotWith(d.PublicKey))
	c2 := gatewaytest.NewClient(t, d.PrivateKey, fin.Msg.Tunnel)
	if err := c2.PingUntil(pingCtx(t, 15*time.Second), "10.10.0.1"); err != nil {
		t.Fatal(err)
	}

	// Statistics reach the server: the first handshake makes the session CONNECTED.
	if err := r2.ReportNow(ctx); err != nil {
		t.Fatal(err)
	}
	ls, err := s.Admin.ListSessions(ctx, servertest.Req(s.AdminToken(), &v1.ListSessionsRequest{LocationId: loc.Id, ActiveOnly: true}))
	if err != nil || len(ls.Msg.Sessions) != 1 || ls.Msg.Sessions[0].State != v1.SessionState_SESSION_STATE_CONNECTED || ls.Msg.Sessions[0].LatestHandshake == nil || ls.Msg.Sessions[0].RxBytes == 0 {
		t.Fatalf("sessions after the report: %v, %v", ls.Msg.GetSessions(), err)
	}
	// A server restart: the gateway keeps its peers, reconnects, and
	// converges on the snapshot the restarted server sends.
	s.Restart()
	a2.waitFor(t, "a snapshot from the restarted server", isSnapshotWith(d.PublicKey))
	if err := c2.PingUntil(pingCtx(t, 20*time.Second), "10.10.0.1"); err != nil {
		t.Fatalf("the tunnel broke across the server restart: %v", err)
	}
	if _, err := s.Admin.DisconnectSession(ctx, servertest.Req(s.AdminToken(), &v1.DisconnectSessionRequest{SessionId: fin.Msg.SessionId})); err != nil {
		t.Fatal(err)
	}
	a2.waitFor(t, "the peer's removal", func(c peers.Change) bool { return len(c.Removes) == 1 && c.Removes[0].String() == d.PublicKey })
	if err := c2.Ping(pingCtx(t, time.Second), "10.10.0.1"); err == nil {
		t.Fatal("ping answered after the admin ended the session")
	}
}

func TestStandaloneGatewayWithWrongTokenStops(t *testing.T) {
	s := servertest.New(t)
	r := follow.NewRemote(follow.RemoteOptions{Options: gateway.Options{Log: gatewaytest.Log(t)}, HTTP: s.HTTP, ServerURL: s.URL, Token: "wgt_nope"})
	err := r.Run(servertest.Ctx(t))
	if err == nil {
		t.Fatal("a gateway with an unknown token kept running")
	}
	t.Log(err)
}
