package follow_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	v1 "github.com/wicket-vpn/wicket/proto/gen/wicket/v1"
	"github.com/wicket-vpn/wicket/server/internal/gateway"
	"github.com/wicket-vpn/wicket/server/internal/gateway/gatewaytest"
	"github.com/wicket-vpn/wicket/server/internal/servertest"
	"github.com/wicket-vpn/wicket/server/internal/service"
)

// TestBusyTunnelIsNotIdle: a real client on a real netstack gateway at an
// 8 s threshold sends traffic for five thresholds. Its handshake is never
// renewed in that time (WireGuard renews after about two minutes), yet the
// gateway's reports of its growing bytes keep the session. Once the client
// stops, the next sweeps past the threshold end it. The server's clock is
// moved by the test; the traffic and the reports are real.
func TestBusyTunnelIsNotIdle(t *testing.T) {
	const threshold = 8 * time.Second
	s := servertest.New(t)
	s.Clock.Set(time.Now())
	ctx := servertest.Ctx(t)
	port := gatewaytest.FreeUDPPort(t)
	loc := s.CreateLocation(&v1.Location{Name: "Office", ListenPort: uint32(port), Endpoint: "127.0.0.1:" + strconv.Itoa(port),
		MfaMode: v1.LocationMfaMode_LOCATION_MFA_MODE_INTERNAL, AllowedIps: []string{"10.10.0.0/24"}, PeerDisconnectThresholdSeconds: uint32(threshold / time.Second)})
	a := newApplied()
	emb, _ := startEmbedded(t, s, a, time.Hour)
	u := s.CreateUser("alice")
	s.EnableTOTP(u)
	d := s.Enroll(u, "laptop")
	st, err := s.Client.StartMfa(ctx, servertest.Req("", &v1.StartMfaRequest{DeviceToken: d.Token, LocationId: loc.Id, Method: v1.MfaMethod_MFA_METHOD_TOTP}))
	if err != nil {
		t.Fatal(err)
	}
	fin, err := s.Client.FinishMfa(ctx, servertest.Req("", &v1.FinishMfaRequest{ChallengeToken: st.Msg.ChallengeToken, Code: s.TOTPCode(u.TOTPSecret)}))
	if err != nil {
		t.Fatal(err)
	}
	c := gatewaytest.NewClient(t, d.PrivateKey, fin.Msg.Tunnel)
	if err := c.PingUntil(pingCtx(t, 15*time.Second), "10.10.0.1"); err != nil {
		t.Fatal(err)
	}
	// report sends the gateway's statistics now, as its timer would.
	report := func() {
		t.Helper()
		if err := emb.Gateway(loc.Id).ReportNow(ctx, func(ctx context.Context, st []gateway.PeerStats) error {
			var ps []service.PeerStat
			for _, p := range st {
				ps = append(ps, service.PeerStat{PublicKey: p.PublicKey.String(), LatestHandshake: p.LatestHandshake, RxBytes: p.RxBytes, TxBytes: p.TxBytes, Endpoint: p.Endpoint})
			}
			return s.Svc.ReportStats(ctx, s.Location(loc.Id), ps)
		}); err != nil {
			t.Fatal(err)
		}
	}
	active := func() bool {
		t.Helper()
		sess, err := s.Store().SessionByID(ctx, fin.Msg.SessionId)
		if err != nil {
			t.Fatal(err)
		}
		return sess.Active()
	}
	report()
	first := c.Handshake()
	// Every server second: a page fetch's worth of packets, a report every
	// other second, a sweep every second.
	for i := range 5 * int(threshold/time.Second) {
		if err := c.Ping(pingCtx(t, 5*time.Second), "10.10.0.1"); err != nil {
			t.Fatalf("second %d: %v", i, err)
		}
		s.Clock.Advance(time.Second)
		if i%2 == 0 {
			report()
		}
		if _, err := s.Svc.Sessions.Sweep(ctx); err != nil {
			t.Fatal(err)
		}
		if !active() {
			t.Fatalf("the busy tunnel was ended as idle after %d s", i+1)
		}
	}
	if !c.Handshake().Equal(first) {
		t.Logf("the handshake was renewed meanwhile; the test still holds")
	}
	// The client stops. Reports keep coming, its bytes stay.
	quiet := s.Clock.Now()
	for active() {
		s.Clock.Advance(time.Second)
		report()
		if _, err := s.Svc.Sessions.Sweep(ctx); err != nil {
			t.Fatal(err)
		}
		if s.Clock.Now().Sub(quiet) > threshold+3*time.Second {
			t.Fatalf("a silent client kept its session %s", s.Clock.Now().Sub(quiet))
		}
	}
	t.Logf("ended %s after the client's last traffic", s.Clock.Now().Sub(quiet))
}
