package follow_test

import (
	"slices"
	"strconv"
	"testing"
	"time"

	v1 "github.com/wicket-vpn/wicket/proto/gen/wicket/v1"
	"github.com/wicket-vpn/wicket/server/internal/gateway/gatewaytest"
	"github.com/wicket-vpn/wicket/server/internal/peers"
	"github.com/wicket-vpn/wicket/server/internal/servertest"
)

// reportSpread reports the median and the maximum of durations in ms.
func reportSpread(b *testing.B, name string, d []time.Duration) {
	slices.Sort(d)
	b.ReportMetric(float64(d[len(d)/2])/float64(time.Millisecond), name+"_p50_ms")
	b.ReportMetric(float64(d[len(d)-1])/float64(time.Millisecond), name+"_max_ms")
}

// BenchmarkTrafficGapAfterGatewayRestart restarts a netstack gateway
// under a connected client ten times and reports how long after each
// restart (the new gateway's snapshot applied) a ping answers again.
func BenchmarkTrafficGapAfterGatewayRestart(b *testing.B) {
	for range b.N {
		s := servertest.New(b)
		s.Clock.Set(time.Now())
		loc := mfaLocation(b, s, "Office", 0)
		a := newApplied()
		_, stop := startEmbedded(b, s, a, 100*time.Millisecond)
		d, fin := connectWithTOTP(b, s, "alice", loc.Id)
		c := gatewaytest.NewClient(b, d.PrivateKey, fin.Tunnel)
		if err := c.PingUntil(pingCtx(b, 15*time.Second), "10.10.0.1"); err != nil {
			b.Fatal(err)
		}
		waitEndpoint(b, s, fin.SessionId)
		var gaps []time.Duration
		for range 10 {
			stop()
			a = newApplied()
			_, stop = startEmbedded(b, s, a, time.Hour)
			a.waitFor(b, "the restarted gateway's snapshot", isSnapshotWith(d.PublicKey))
			gaps = append(gaps, trafficGap(b, c, time.Now()))
		}
		reportSpread(b, "traffic_gap", gaps)
	}
}

// BenchmarkStandaloneResyncAfterOutage takes the server away for 3 s five
// times and reports how long after its return the standalone gateway
// (its own reconnect defaults) has a snapshot again.
func BenchmarkStandaloneResyncAfterOutage(b *testing.B) {
	for range b.N {
		s := servertest.New(b)
		ctx := servertest.Ctx(b)
		port := gatewaytest.FreeUDPPort(b)
		loc := s.CreateLocation(&v1.Location{Name: "Branch", ListenPort: uint32(port), Endpoint: "127.0.0.1:" + strconv.Itoa(port)})
		tok, err := s.Admin.CreateGatewayToken(ctx, servertest.Req(s.AdminToken(), &v1.CreateGatewayTokenRequest{LocationId: loc.Id}))
		if err != nil {
			b.Fatal(err)
		}
		a := newApplied()
		_, stop := startRemoteWith(b, s, tok.Msg.GatewayToken, a, nil)
		a.waitFor(b, "the first snapshot", isSnapshotWith(""))
		var took []time.Duration
		for range 5 {
			s.Close()
			time.Sleep(3 * time.Second) // the outage
			s.Start()
			back := time.Now()
			a.waitFor(b, "the snapshot after the return", func(c peers.Change) bool { return c.Snapshot })
			took = append(took, time.Since(back))
		}
		stop()
		reportSpread(b, "resync", took)
	}
}
