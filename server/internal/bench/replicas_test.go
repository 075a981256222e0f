package bench

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/wicket-vpn/wicket/server/internal/servertest"
	"github.com/wicket-vpn/wicket/server/internal/session"
)

// BenchmarkMFAPairsPostgres runs the pairs of BenchmarkMFAPairs with the
// store on PostgreSQL (a cluster of the tests' own on loopback, sharing the
// 2 cores), with one replica and with two taking the pairs in turn. A
// gateway follows the location on the first replica, so on two replicas
// half the pairs wait for an acknowledgement from the other replica.
func BenchmarkMFAPairsPostgres(b *testing.B) {
	r := newMFARig(b, poolSize, servertest.WithPostgres())
	stop := follow(b, r.s.Svc.Sessions.FollowPeers(r.location), nil)
	defer stop()
	b.Run("replicas=1/clients=32", func(b *testing.B) { r.run(b, 32) })
	r.servers = append(r.servers, r.s.Replica())
	b.Run("replicas=2/clients=32", func(b *testing.B) { r.run(b, 32) })
}

// arrival is a peer a follower was given, and when.
type arrival struct {
	key string
	at  time.Time
}

// follow takes a subscriber's changes (as a gateway that applies them at
// once) until stop, telling arrivals of each upserted peer when set.
func follow(b *testing.B, sub *session.PeerSub, arrivals chan<- arrival) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			ch, err := sub.Next(ctx)
			if err != nil {
				if ctx.Err() == nil {
					b.Errorf("peer set: %v", err)
				}
				return
			}
			if arrivals == nil {
				continue
			}
			now := time.Now()
			list := ch.Upserts
			if ch.Snapshot {
				list = ch.Peers
			}
			for _, p := range list {
				arrivals <- arrival{key: p.PublicKey.String(), at: now}
			}
		}
	}()
	return func() { cancel(); <-done; sub.Close() }
}

// BenchmarkReplicaFanout times how long a session made on replica A takes
// to reach a gateway following replica B: from the start of the StartMfa
// and FinishMfa pair on A until B's follower holds the peer (which is
// before A's FinishMfa answers). Reported: that time's p50 and p99, and the
// pair's own time on A for comparison.
func BenchmarkReplicaFanout(b *testing.B) {
	r := newMFARig(b, poolSize, servertest.WithPostgres())
	other := r.s.Replica()
	arrivals := make(chan arrival, 4096)
	stop := follow(b, other.Svc.Sessions.FollowPeers(r.location), arrivals)
	defer stop()
	ctx := context.Background()
	var fanout, pairs []time.Duration
	for b.Loop() {
		m := <-r.pool
		t0 := time.Now()
		took, err := r.pair(ctx, m)
		r.pool <- m
		if err != nil {
			b.Fatal(err)
		}
		at, ok := <-waitFor(arrivals, func(a arrival) bool { return a.key == m.key && !a.at.Before(t0) }, 10*time.Second)
		if !ok {
			b.Fatal("the peer never reached the other replica's gateway")
		}
		fanout = append(fanout, at.Sub(t0))
		pairs = append(pairs, took)
	}
	b.ReportMetric(percentile(fanout, 50), "fanout-p50-ms")
	b.ReportMetric(percentile(fanout, 99), "fanout-p99-ms")
	b.ReportMetric(percentile(pairs, 50), "pair-p50-ms")
}

// waitFor answers with the time of the first arrival that ok accepts (any,
// when ok is nil), or closes without one after timeout (0: no limit).
func waitFor(arrivals <-chan arrival, ok func(arrival) bool, timeout time.Duration) <-chan time.Time {
	out := make(chan time.Time, 1)
	go func() {
		defer close(out)
		var limit <-chan time.Time
		if timeout > 0 {
			limit = time.After(timeout)
		}
		for {
			select {
			case a := <-arrivals:
				if ok == nil || ok(a) {
					out <- a.at
					return
				}
			case <-limit:
				return
			}
		}
	}()
	return out
}

func percentile(list []time.Duration, p int) float64 {
	if len(list) == 0 {
		return 0
	}
	s := slices.Clone(list)
	slices.Sort(s)
	i := min(len(s)*p/100, len(s)-1)
	return float64(s[i]) / float64(time.Millisecond)
}
