package session_test

// Benchmarks for the design's session-store targets, on the harness's real
// SQLite store. Beside the rates on the clock, each reports the rate per
// CPU second, which a busy machine does not skew:
//
//	go test -run '^$' -bench . ./server/internal/session/

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"testing"
	"time"

	v1 "github.com/wicket-vpn/wicket/proto/gen/wicket/v1"
	"github.com/wicket-vpn/wicket/server/internal/gateway/gatewaytest"
	"github.com/wicket-vpn/wicket/server/internal/servertest"
	"github.com/wicket-vpn/wicket/server/internal/service"
	"github.com/wicket-vpn/wicket/server/internal/store"
	"github.com/wicket-vpn/wicket/server/internal/store/storetest"
)

const (
	// activeSessions is how many sessions are active in the MFA location
	// when a sweep or a report runs.
	activeSessions = 100_000
	// idlePerSweep of them are idle at each sweep; the rest are not.
	idlePerSweep = 1_000
	// peersPerReport is the size of a gateway's stats report.
	peersPerReport = 1_000
)

// fixture is a harness server with one MFA location (idle threshold 300 s)
// and one user owning every device.
type fixture struct {
	s    *servertest.Server
	st   *store.Store
	loc  store.Location
	user string
	now  time.Time
	seq  int
	// keys are the public keys of the devices with a session, in order.
	keys []string
}

func newFixture(b *testing.B, opts ...servertest.Option) *fixture {
	b.Helper()
	s := servertest.New(b, opts...)
	l := s.CreateLocation(&v1.Location{Name: "Office", MfaMode: v1.LocationMfaMode_LOCATION_MFA_MODE_INTERNAL, PeerDisconnectThresholdSeconds: 300})
	ctx := context.Background()
	loc, err := s.Store().LocationByID(ctx, l.Id)
	if err != nil {
		b.Fatal(err)
	}
	if !loc.MFA || loc.PeerDisconnectThresholdSeconds != 300 {
		b.Fatalf("location = %+v", loc)
	}
	u := s.CreateUser("alice")
	return &fixture{s: s, st: s.Store(), loc: loc, user: u.ID, now: s.Clock.Now()}
}

// addSessions inserts n devices, each with an active session in the
// location, in one transaction. Idle sessions last shook hands 10 minutes
// ago; the others within the last two minutes.
func (f *fixture) addSessions(b *testing.B, n int, idle bool) {
	b.Helper()
	ctx := context.Background()
	var raw [32]byte
	err := f.st.InTx(ctx, func(q *store.Q) error {
		for range n {
			f.seq++
			i := f.seq
			rand.Read(raw[:])
			key := base64.StdEncoding.EncodeToString(raw[:])
			dev := store.Device{ID: fmt.Sprintf("dev-%07d", i), UserID: f.user, Name: "device", PublicKey: key,
				TokenHash: fmt.Sprintf("token-%07d", i), CreatedAt: f.now.Add(-24 * time.Hour), LastSeen: f.now}
			if err := q.CreateDevice(ctx, dev); err != nil {
				return err
			}
			hs := f.now.Add(-time.Duration(i%120) * time.Second)
			if idle {
				hs = f.now.Add(-10 * time.Minute)
			}
			rand.Read(raw[:])
			sess := store.Session{ID: fmt.Sprintf("sess-%07d", i), LocationID: f.loc.ID, DeviceID: dev.ID, UserID: f.user, Method: 1,
				State: store.StateConnected, PresharedKey: base64.StdEncoding.EncodeToString(append(raw[:], raw[:28]...)), // sealed size
				AuthorizedAt: f.now.Add(-time.Hour), LatestHandshake: hs, RxBytes: 1 << 20, TxBytes: 1 << 20, Endpoint: "192.0.2.1:51820"}
			if err := q.CreateSession(ctx, sess); err != nil {
				return err
			}
			f.keys = append(f.keys, key)
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
}

// BenchmarkSweep100k times one Sweep over 100,000 active sessions of an MFA
// location of which 1,000 are idle (and end); before each sweep, outside
// the timer, 1,000 new idle sessions replace the ones the last sweep ended.
// It runs on each engine; on PostgreSQL the CPU figure is wicketd's alone,
// not the database server's.
func BenchmarkSweep100k(b *testing.B) {
	for _, e := range storetest.Engines {
		b.Run(string(e), func(b *testing.B) { benchmarkSweep(b, servertest.WithEngine(e)) })
	}
}

func benchmarkSweep(b *testing.B, engine servertest.Option) {
	f := newFixture(b, engine)
	f.addSessions(b, activeSessions-idlePerSweep, false)
	ctx := context.Background()
	var cpu time.Duration
	for b.Loop() {
		b.StopTimer()
		f.addSessions(b, idlePerSweep, true)
		b.StartTimer()
		c0 := gatewaytest.ProcessCPU()
		n, err := f.s.Svc.Sessions.Sweep(ctx)
		cpu += gatewaytest.ProcessCPU() - c0
		if err != nil {
			b.Fatal(err)
		}
		if n != idlePerSweep {
			b.Fatalf("sweep ended %d sessions, want %d", n, idlePerSweep)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/1e3/float64(b.N), "ms/sweep")
	// The CPU time does not depend on what else the machine runs.
	if cpu > 0 {
		b.ReportMetric(float64(cpu.Microseconds())/1e3/float64(b.N), "cpu-ms/sweep")
	}
}

// BenchmarkReportStats feeds service.ReportStats reports of 1,000 peers
// each, as a gateway sends them, over a location with 100,000 active
// sessions, cycling through the peers with growing counters. One cycle
// through every peer runs before the timer starts, as on a server that
// has heard each of its gateways before. Two loads, on each engine:
//
//   - counters: the clock stands still, so after that first cycle the
//     reports move only the byte counters (a tunnel's activity changes
//     within a millisecond no more);
//   - activity: the clock moves a millisecond per report, so every report
//     also moves each session's last activity, the column of the idle
//     sweep's index;
//   - idle: nothing moves (tunnels up but unused), as for most of a large
//     location's peers at any one time.
//
// On PostgreSQL the CPU figure is wicketd's alone.
func BenchmarkReportStats(b *testing.B) {
	for _, e := range storetest.Engines {
		for _, load := range []string{"counters", "activity", "idle"} {
			b.Run(string(e)+"/"+load, func(b *testing.B) { benchmarkReportStats(b, servertest.WithEngine(e), load) })
		}
	}
}

func benchmarkReportStats(b *testing.B, engine servertest.Option, load string) {
	f := newFixture(b, engine)
	f.addSessions(b, activeSessions, false)
	ctx := context.Background()
	// As on a server that has run for a while, the planner knows the
	// tables' sizes.
	if err := f.st.Analyze(ctx); err != nil {
		b.Fatal(err)
	}
	batch := make([]service.PeerStat, peersPerReport)
	loc := f.s.Location(f.loc.ID)
	next, round := 0, uint64(0)
	warm := false
	report := func() error {
		if !warm || load != "idle" {
			round++
		}
		for i := range batch {
			batch[i] = service.PeerStat{PublicKey: f.keys[next], Endpoint: "192.0.2.1:51820", RxBytes: (1 << 20) + round*1500, TxBytes: (1 << 20) + round*900,
				LatestHandshake: f.now.Add(-time.Duration(next%120) * time.Second)}
			next = (next + 1) % len(f.keys)
		}
		if load == "activity" {
			f.s.Clock.Advance(time.Millisecond)
		}
		return f.s.Svc.ReportStats(ctx, loc, batch)
	}
	warmUp := func() {
		for range len(f.keys) / peersPerReport {
			if err := report(); err != nil {
				b.Fatal(err)
			}
		}
	}
	warmUp()
	warm = true
	if load == "idle" {
		// Once more with the counters as they then stay.
		warmUp()
	}
	var cpu time.Duration
	for b.Loop() {
		c0 := gatewaytest.ProcessCPU()
		err := report()
		cpu += gatewaytest.ProcessCPU() - c0
		if err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	// The reports must have landed, not missed their sessions.
	last := (next + len(f.keys) - 1) % len(f.keys)
	sess, err := f.st.SessionByID(ctx, fmt.Sprintf("sess-%07d", last+1))
	if err != nil || sess.RxBytes != (1<<20)+round*1500 || sess.LastActivity.Before(f.now) {
		b.Fatalf("session after the reports = %+v, %v", sess, err)
	}
	reports := float64(b.N * peersPerReport)
	b.ReportMetric(reports/b.Elapsed().Seconds(), "peer-reports/s")
	if cpu > 0 {
		b.ReportMetric(reports/cpu.Seconds(), "peer-reports/cpu-s")
		b.ReportMetric(float64(cpu.Nanoseconds())/1e3/reports, "cpu-µs/report")
	}
}
