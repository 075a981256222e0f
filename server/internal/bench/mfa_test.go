package bench

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	v1 "github.com/wicket-vpn/wicket/proto/gen/wicket/v1"
	"github.com/wicket-vpn/wicket/server/internal/mfa"
	"github.com/wicket-vpn/wicket/server/internal/password"
	"github.com/wicket-vpn/wicket/server/internal/servertest"
)

// poolSize is how many users with TOTP and one enrolled device the MFA
// benchmark cycles through. Each user's TOTP step is usable once, so the
// fake clock moves on by one step after every user has had a turn: the
// larger the pool, the rarer that pause.
const poolSize = 256

// member is one user of the pool with their device.
type member struct {
	secret   string
	device   string
	key      string // the device's public key
	lastStep int64  // the TOTP step this user used last
}

// mfaRig is a running server with an MFA location and a pool of users.
type mfaRig struct {
	s        *servertest.Server
	location string
	pool     chan *member
	// servers take the pairs in turn: s alone, or s and its replicas.
	servers []*servertest.Server
	next    atomic.Uint64

	// Pairs hold clock shared; moving the clock holds it alone, so a code
	// is never checked in a step other than the one it was made for.
	clock sync.RWMutex
}

func newMFARig(tb testing.TB, users int, opts ...servertest.Option) *mfaRig {
	tb.Helper()
	// Accounts are only the setting here: cheap password hashes keep the
	// set-up short and do not touch what is measured.
	saved := password.Params
	password.Params = password.Parameters{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}
	tb.Cleanup(func() { password.Params = saved })

	s := servertest.New(tb, append([]servertest.Option{servertest.WithoutSMTP()}, opts...)...)
	loc := s.CreateLocation(&v1.Location{Name: "Bench", Address: "10.64.0.1/16", MfaMode: v1.LocationMfaMode_LOCATION_MFA_MODE_INTERNAL})
	r := &mfaRig{s: s, location: loc.Id, pool: make(chan *member, users), servers: []*servertest.Server{s}}
	for i := range users {
		u := s.CreateUser(fmt.Sprintf("user%03d", i))
		s.EnableTOTP(u)
		d := s.Enroll(u, "laptop")
		r.pool <- &member{secret: u.TOTPSecret, device: d.Token, key: d.PublicKey}
	}
	// EnableTOTP moved the clock past each confirming code's step.
	return r
}

// pair runs StartMfa and FinishMfa for m and returns how long the two calls took.
func (r *mfaRig) pair(ctx context.Context, m *member) (time.Duration, error) {
	var now time.Time
	for {
		r.clock.RLock()
		now = r.s.Clock.Now()
		if mfa.Step(now) > m.lastStep {
			break
		}
		r.clock.RUnlock()
		r.nextStep(m.lastStep)
	}
	defer r.clock.RUnlock()
	code, err := mfa.TOTPCode(m.secret, now) // what the user reads off their app
	if err != nil {
		return 0, err
	}
	srv := r.servers[r.next.Add(1)%uint64(len(r.servers))]
	start := time.Now()
	st, err := srv.Client.StartMfa(ctx, servertest.Req("", &v1.StartMfaRequest{DeviceToken: m.device, LocationId: r.location, Method: v1.MfaMethod_MFA_METHOD_TOTP}))
	if err != nil {
		return 0, fmt.Errorf("StartMfa: %w", err)
	}
	fin, err := srv.Client.FinishMfa(ctx, servertest.Req("", &v1.FinishMfaRequest{ChallengeToken: st.Msg.ChallengeToken, Code: code}))
	if err != nil {
		return 0, fmt.Errorf("FinishMfa: %w", err)
	}
	took := time.Since(start)
	if fin.Msg.Tunnel.GetPresharedKey() == "" {
		return 0, fmt.Errorf("FinishMfa gave no pre-shared key")
	}
	m.lastStep = mfa.Step(now)
	return took, nil
}

// nextStep moves the clock to the next TOTP step unless another pair did
// already after spent.
func (r *mfaRig) nextStep(spent int64) {
	r.clock.Lock()
	defer r.clock.Unlock()
	if mfa.Step(r.s.Clock.Now()) <= spent {
		r.s.Clock.Advance(mfa.Period)
	}
}

// BenchmarkMFAPairs measures StartMfa+FinishMfa pairs with TOTP, each pair
// opening a session with a fresh pre-shared key (and replacing the device's
// previous one), through the real handlers over HTTPS on loopback with
// SQLite. The design's target on 2 cores: at least 5,000 pairs/s with a p99
// of at most 20 ms. The client side runs in the same process and shares
// the cores.
//
// Sub-benchmarks vary the number of clients calling at once; "+gateway"
// also follows the location's peer set as the embedded gateway does, which
// reads the changed device's peer from the store after every change.
// tx/commit is how many transactions shared one SQLite commit.
func BenchmarkMFAPairs(b *testing.B) {
	r := newMFARig(b, poolSize)
	for _, c := range []struct {
		clients int
		gateway bool
	}{{8, false}, {32, false}, {32, true}} {
		name := fmt.Sprintf("clients=%d", c.clients)
		if c.gateway {
			name += "+gateway"
		}
		b.Run(name, func(b *testing.B) {
			if c.gateway {
				stop := r.followPeers(b)
				defer stop()
			}
			r.run(b, c.clients)
		})
	}
}

// followPeers drains the location's peer changes until stop is called.
func (r *mfaRig) followPeers(b *testing.B) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	sub := r.s.Svc.Sessions.SubscribePeers(r.location)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			if _, err := sub.Next(ctx); err != nil {
				if ctx.Err() == nil {
					b.Errorf("peer set: %v", err)
				}
				return
			}
		}
	}()
	return func() {
		cancel()
		<-done
		sub.Close()
	}
}

func (r *mfaRig) run(b *testing.B, clients int) {
	ctx := context.Background()
	b.SetParallelism((clients + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
	var mu sync.Mutex
	var all []time.Duration
	commits0, txs0 := r.s.Store().Commits()
	b.ResetTimer()
	cpu0 := cpuTime()
	b.RunParallel(func(pb *testing.PB) {
		var mine []time.Duration
		defer func() {
			mu.Lock()
			all = append(all, mine...)
			mu.Unlock()
		}()
		for pb.Next() {
			m := <-r.pool
			took, err := r.pair(ctx, m)
			r.pool <- m
			if err != nil {
				b.Error(err)
				return
			}
			mine = append(mine, took)
		}
	})
	b.StopTimer()
	cpu := cpuTime() - cpu0
	commits1, txs1 := r.s.Store().Commits()
	if len(all) == 0 {
		return
	}
	slices.Sort(all)
	at := func(p int) float64 {
		i := len(all) * p / 100
		if i >= len(all) {
			i = len(all) - 1
		}
		return float64(all[i]) / float64(time.Millisecond)
	}
	b.ReportMetric(float64(len(all))/b.Elapsed().Seconds(), "pairs/s")
	b.ReportMetric(at(50), "p50-ms")
	b.ReportMetric(at(99), "p99-ms")
	if cpu > 0 {
		// CPU time per pair, server and client together: what the pairs cost
		// whatever else the machine is doing. 2 cores give at most 2,000 ms/s.
		b.ReportMetric(float64(cpu)/float64(time.Millisecond)/float64(len(all)), "cpu-ms/pair")
	}
	if commits1 > commits0 {
		// How many transactions shared a commit on SQLite (see store.committer).
		b.ReportMetric(float64(txs1-txs0)/float64(commits1-commits0), "tx/commit")
	}
}

// TestMFARig keeps the benchmark's machinery honest in the test run: a
// small pool cycles through several TOTP steps without a code refused.
func TestMFARig(t *testing.T) {
	r := newMFARig(t, 3)
	ctx := servertest.Ctx(t)
	start := r.s.Clock.Now()
	for range 10 {
		m := <-r.pool
		if _, err := r.pair(ctx, m); err != nil {
			t.Fatal(err)
		}
		r.pool <- m
	}
	if steps := mfa.Step(r.s.Clock.Now()) - mfa.Step(start); steps != 3 {
		t.Errorf("the clock moved %d TOTP steps for 10 pairs of 3 users, want 3", steps)
	}
}
