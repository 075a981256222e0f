package follow_test

import (
	"context"
	"testing"
	"time"

	v1 "github.com/wicket-vpn/wicket/proto/gen/wicket/v1"
	"github.com/wicket-vpn/wicket/server/internal/follow"
	"github.com/wicket-vpn/wicket/server/internal/gateway"
	"github.com/wicket-vpn/wicket/server/internal/gateway/gatewaytest"
	"github.com/wicket-vpn/wicket/server/internal/servertest"
)

// startEmbedded runs an embedded gateway until the returned stop.
func startEmbedded(t testing.TB, s *servertest.Server, a *applied, stats time.Duration) (*follow.Embedded, func()) {
	emb := follow.NewEmbedded(s.Svc, gateway.Options{Mode: gateway.Netstack, Log: gatewaytest.Log(t), OnApplied: a.hook}, stats)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { emb.Run(ctx); close(done) }()
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			cancel()
			<-done
		}
	}
	t.Cleanup(stop)
	return emb, stop
}

// waitEndpoint waits until the gateway's report told the server where the
// session's client is.
func waitEndpoint(t testing.TB, s *servertest.Server, sessionID string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		sess, err := s.Store().SessionByID(servertest.Ctx(t), sessionID)
		if err != nil {
			t.Fatal(err)
		}
		if sess.Endpoint != "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("no endpoint reported for the session")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// trafficGap pings through c until a reply comes and returns how long
// after back that was.
func trafficGap(t testing.TB, c *gatewaytest.Client, back time.Time) time.Duration {
	t.Helper()
	pctx := pingCtx(t, 20*time.Second)
	for {
		one, cancel := context.WithTimeout(pctx, 100*time.Millisecond)
		err := c.Ping(one, "10.10.0.1")
		cancel()
		if err == nil {
			return time.Since(back)
		}
		if pctx.Err() != nil {
			t.Fatalf("no traffic %s after the gateway restart", time.Since(back))
		}
	}
}

// TestTrafficBackSoonAfterStandaloneGatewayRestart: the same for a
// standalone gateway, whose snapshot carries the endpoints over the wire.
func TestTrafficBackSoonAfterStandaloneGatewayRestart(t *testing.T) {
	s := servertest.New(t)
	s.Clock.Set(time.Now())
	ctx := servertest.Ctx(t)
	loc := mfaLocation(t, s, "Branch", 0)
	tok, err := s.Admin.CreateGatewayToken(ctx, servertest.Req(s.AdminToken(), &v1.CreateGatewayTokenRequest{LocationId: loc.Id}))
	if err != nil {
		t.Fatal(err)
	}
	a := newApplied()
	r, stop := startRemote(t, s, tok.Msg.GatewayToken, a)
	a.waitFor(t, "the first snapshot", isSnapshotWith(""))
	d, fin := connectWithTOTP(t, s, "bob", loc.Id)
	c := gatewaytest.NewClient(t, d.PrivateKey, fin.Tunnel)
	if err := c.PingUntil(pingCtx(t, 15*time.Second), "10.10.0.1"); err != nil {
		t.Fatal(err)
	}
	if err := r.ReportNow(ctx); err != nil {
		t.Fatal(err)
	}
	waitEndpoint(t, s, fin.SessionId)
	stop()
	a2 := newApplied()
	startRemote(t, s, tok.Msg.GatewayToken, a2)
	a2.waitFor(t, "the restarted gateway's snapshot", isSnapshotWith(d.PublicKey))
	gap := trafficGap(t, c, time.Now())
	t.Logf("traffic back %s after the standalone gateway restart", gap.Round(time.Millisecond))
	if gap > 2*time.Second {
		t.Fatalf("traffic back %s after the standalone gateway restart, want at most 2 s", gap)
	}
}

// TestTrafficBackSoonAfterGatewayRestart: a restarted gateway used to get
// its peers back within half a second but without endpoints, so nothing
// moved until the client's own handshake retry, about 15 s later. The new
// gateway now starts the handshake to each connected client's last known
// endpoint: pings answer again within 2 s of the gateway being back.
func TestTrafficBackSoonAfterGatewayRestart(t *testing.T) {
	s := servertest.New(t)
	s.Clock.Set(time.Now())
	loc := mfaLocation(t, s, "Office", 0)
	a := newApplied()
	_, stop := startEmbedded(t, s, a, 100*time.Millisecond)
	d, fin := connectWithTOTP(t, s, "alice", loc.Id)
	c := gatewaytest.NewClient(t, d.PrivateKey, fin.Tunnel)
	if err := c.PingUntil(pingCtx(t, 15*time.Second), "10.10.0.1"); err != nil {
		t.Fatal(err)
	}
	// The gateway's report tells the server where the client is.
	waitEndpoint(t, s, fin.SessionId)
	stop()
	a2 := newApplied()
	startEmbedded(t, s, a2, time.Hour)
	a2.waitFor(t, "the restarted gateway's snapshot", isSnapshotWith(d.PublicKey))
	gap := trafficGap(t, c, time.Now())
	t.Logf("traffic back %s after the gateway restart", gap.Round(time.Millisecond))
	if gap > 2*time.Second {
		t.Fatalf("traffic back %s after the gateway restart, want at most 2 s", gap)
	}
}
