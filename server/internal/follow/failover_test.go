package follow_test

import (
	"slices"
	"testing"
	"time"

	v1 "github.com/wicket-vpn/wicket/proto/gen/wicket/v1"
	"github.com/wicket-vpn/wicket/server/internal/follow"
	"github.com/wicket-vpn/wicket/server/internal/peers"
	"github.com/wicket-vpn/wicket/server/internal/servertest"
	"github.com/wicket-vpn/wicket/shared/wgkey"
)

// TestStandaloneGatewayFailsOverToTheNextServer: a standalone gateway
// given two replicas of one PostgreSQL database follows the first; when
// it dies the gateway follows the second with its own reconnect
// defaults, keeping its peers meanwhile, and gets the sessions made there.
func TestStandaloneGatewayFailsOverToTheNextServer(t *testing.T) {
	a := servertest.New(t, servertest.WithPostgres())
	a.Clock.Set(time.Now())
	a.AdminToken() // the replica signs in as the same admin
	b := a.Replica()
	ctx := servertest.Ctx(t)
	loc := mfaLocation(t, a, "Branch", 0)
	tok, err := a.Admin.CreateGatewayToken(ctx, servertest.Req(a.AdminToken(), &v1.CreateGatewayTokenRequest{LocationId: loc.Id}))
	if err != nil {
		t.Fatal(err)
	}
	app := newApplied()
	r, _ := startRemoteWith(t, a, tok.Msg.GatewayToken, app, func(o *follow.RemoteOptions) { o.ServerURLs = []string{b.URL, a.URL} })
	app.waitFor(t, "the first snapshot", isSnapshotWith(""))
	if r.Server() != a.URL {
		t.Fatalf("the gateway follows %s, want the first address %s", r.Server(), a.URL)
	}
	before, _ := connectWithTOTP(t, a, "alice", loc.Id)
	app.waitFor(t, "the session made on A", isUpsertOf(before.PublicKey))

	a.Close()
	lost := time.Now()
	app.waitFor(t, "a snapshot from B", isSnapshotWith(before.PublicKey))
	took := time.Since(lost)
	t.Logf("following B %s after A was closed", took.Round(time.Millisecond))
	if r.Server() != b.URL {
		t.Fatalf("the gateway follows %s, want %s", r.Server(), b.URL)
	}
	if !slices.ContainsFunc(r.Gateway().Peers(), func(k wgkey.Key) bool { return k.String() == before.PublicKey }) {
		t.Fatal("the gateway dropped the peer of a session that is still on")
	}
	after, _ := connectWithTOTP(t, b, "bob", loc.Id)
	app.waitFor(t, "the session made on B", isUpsertOf(after.PublicKey))
}

func isUpsertOf(key string) func(peers.Change) bool {
	return func(c peers.Change) bool {
		return slices.ContainsFunc(c.Upserts, func(p peers.Peer) bool { return p.PublicKey.String() == key }) ||
			isSnapshotWith(key)(c)
	}
}

// BenchmarkStandaloneGatewayFailover measures how long a standalone
// gateway with its own reconnect defaults takes to follow the other
// replica once the one it follows is closed: from the close to the other
// replica's snapshot applied. The two replicas take turns.
func BenchmarkStandaloneGatewayFailover(b *testing.B) {
	a := servertest.New(b, servertest.WithPostgres())
	a.Clock.Set(time.Now())
	a.AdminToken()
	r := a.Replica()
	loc := mfaLocation(b, a, "Branch", 0)
	tok, err := a.Admin.CreateGatewayToken(servertest.Ctx(b), servertest.Req(a.AdminToken(), &v1.CreateGatewayTokenRequest{LocationId: loc.Id}))
	if err != nil {
		b.Fatal(err)
	}
	app := newApplied()
	startRemoteWith(b, a, tok.Msg.GatewayToken, app, func(o *follow.RemoteOptions) { o.ServerURLs = []string{r.URL} })
	app.waitFor(b, "the first snapshot", isSnapshotWith(""))
	servers := []*servertest.Server{a, r}
	var worst, total time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		s := servers[i%2]
		s.Close()
		lost := time.Now()
		app.waitFor(b, "the other replica's snapshot", isSnapshotWith(""))
		took := time.Since(lost)
		total, worst = total+took, max(worst, took)
		b.StopTimer()
		s.Start()
		b.StartTimer()
	}
	b.ReportMetric(float64(total.Microseconds())/1000/float64(b.N), "ms/failover")
	b.ReportMetric(float64(worst.Microseconds())/1000, "worst-ms")
}
