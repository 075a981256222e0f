package follow_test

import (
	"testing"
	"time"

	"github.com/wicket-vpn/wicket/server/internal/gateway/gatewaytest"
	"github.com/wicket-vpn/wicket/server/internal/servertest"
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
	loc := mfaLocation(t, s, "Office", threshold)
	emb, _ := startEmbedded(t, s, newApplied(), time.Hour)
	d, fin := connectWithTOTP(t, s, "alice", loc.Id)
	c := gatewaytest.NewClient(t, d.PrivateKey, fin.Tunnel)
	if err := c.PingUntil(pingCtx(t, 15*time.Second), "10.10.0.1"); err != nil {
		t.Fatal(err)
	}
	report := func() { t.Helper(); reportNow(t, s, emb, loc.Id) }
	active := func() bool {
		t.Helper()
		sess, err := s.Store().SessionByID(ctx, fin.SessionId)
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
		if err := c.PingUntil(pingCtx(t, 10*time.Second), "10.10.0.1"); err != nil { // a lost reply is retried; every try is traffic
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
