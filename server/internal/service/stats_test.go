package service_test

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	v1 "github.com/wicket-vpn/wicket/proto/gen/wicket/v1"
	"github.com/wicket-vpn/wicket/server/internal/servertest"
	"github.com/wicket-vpn/wicket/server/internal/service"
	"github.com/wicket-vpn/wicket/server/internal/store"
)

// TestReportStatsAsSingleReports: ReportStats, which remembers where each
// reported session is and what it wrote there, leaves every session
// exactly as the store's own rule (store.Q.RecordStats, peer by peer)
// leaves its twin, while sessions end and are replaced behind its back,
// as another replica or an admin would: every device has a session in
// "single" and in "cached"; the same random reports go peer by peer to
// "single" and through ReportStats to "cached". Reports mix handshakes
// older, newer and absent, received bytes grown, equal and reset, keys of
// no device and a key listed twice (the last entry counts); between
// rounds, sessions of both twins end, some for good, some replaced by a
// new session of the same device, some after their device is deleted.
func TestReportStatsAsSingleReports(t *testing.T) {
	servertest.EachEngine(t, func(t *testing.T, engine servertest.Option) {
		s := servertest.New(t, engine)
		ctx := servertest.Ctx(t)
		st := s.Store()
		single := s.CreateLocation(&v1.Location{Name: "Single", MfaMode: v1.LocationMfaMode_LOCATION_MFA_MODE_INTERNAL, PeerDisconnectThresholdSeconds: 300})
		cached := s.CreateLocation(&v1.Location{Name: "Cached", Address: "10.30.0.1/24", MfaMode: v1.LocationMfaMode_LOCATION_MFA_MODE_INTERNAL, PeerDisconnectThresholdSeconds: 300})
		u := s.CreateUser("alice")
		t0 := s.Clock.Now().Truncate(time.Millisecond)
		const devices = 60
		rng := rand.New(rand.NewPCG(3, 4))
		seq := 0
		// open gives device i a new session in both locations, alike.
		open := func(i int) {
			t.Helper()
			seq++
			hs := time.Time{}
			if rng.IntN(3) > 0 {
				hs = s.Clock.Now().Add(-time.Duration(rng.IntN(60)) * time.Second).Truncate(time.Millisecond)
			}
			for _, l := range []string{single.Id, cached.Id} {
				ss := store.Session{ID: fmt.Sprintf("%s/%d", l, seq), LocationID: l, DeviceID: fmt.Sprintf("d%02d", i), UserID: u.ID, Method: 1, State: store.StateAuthorized,
					AuthorizedAt: s.Clock.Now(), LatestHandshake: hs, LastActivity: hs, RxBytes: 1000, TxBytes: 1000, Endpoint: "192.0.2.1:1"}
				if !hs.IsZero() {
					ss.State = store.StateConnected
				}
				if err := st.CreateSession(ctx, ss); err != nil {
					t.Fatal(err)
				}
			}
		}
		// end ends device i's sessions in both locations.
		end := func(i int) {
			t.Helper()
			list, err := st.ListSessions(ctx, store.SessionFilter{DeviceID: fmt.Sprintf("d%02d", i)})
			if err != nil {
				t.Fatal(err)
			}
			for _, ss := range list {
				if ss.Active() {
					if _, err := st.EndSession(ctx, ss.ID, 2, s.Clock.Now()); err != nil {
						t.Fatal(err)
					}
				}
			}
		}
		deleted := map[int]bool{}
		for i := range devices {
			d := store.Device{ID: fmt.Sprintf("d%02d", i), UserID: u.ID, Name: "device", PublicKey: fmt.Sprintf("key-%02d=", i), TokenHash: fmt.Sprintf("t%02d", i), CreatedAt: t0}
			if err := st.CreateDevice(ctx, d); err != nil {
				t.Fatal(err)
			}
			open(i)
		}
		rx := make([]uint64, devices)
		for i := range rx {
			rx[i] = 1000
		}
		loc := s.Location(cached.Id)
		for round := range 40 {
			s.Clock.Advance(time.Duration(rng.IntN(20)) * time.Second) // at times not at all
			now := s.Clock.Now()
			if round > 0 {
				for range 4 {
					switch i := rng.IntN(devices); {
					case deleted[i]:
					case rng.IntN(3) == 0:
						end(i) // for good: its key is reported still
					case rng.IntN(4) == 0:
						end(i) // then the device goes
						if err := st.DeleteDevice(ctx, fmt.Sprintf("d%02d", i)); err != nil {
							t.Fatal(err)
						}
						deleted[i] = true
					default:
						end(i) // replaced
						open(i)
					}
				}
			}
			var report []service.PeerStat
			for i := range devices {
				if rng.IntN(4) == 0 {
					continue
				}
				switch rng.IntN(5) {
				case 0, 1:
					rx[i] += uint64(1 + rng.IntN(3000))
				case 2:
					rx[i] = uint64(rng.IntN(500))
				}
				var hs time.Time
				if rng.IntN(4) > 0 {
					hs = now.Add(-time.Duration(rng.IntN(200)) * time.Second).Truncate(time.Millisecond)
				}
				ep := "198.51.100.7:4000"
				if rng.IntN(3) == 0 {
					ep = fmt.Sprintf("198.51.100.%d:%d", rng.IntN(255), 1024+rng.IntN(60000))
				}
				report = append(report, service.PeerStat{PublicKey: fmt.Sprintf("key-%02d=", i), LatestHandshake: hs, RxBytes: rx[i], TxBytes: uint64(rng.IntN(1 << 40)), Endpoint: ep})
			}
			report = append(report, service.PeerStat{PublicKey: "no-such-key=", LatestHandshake: now, RxBytes: 5})
			rng.Shuffle(len(report), func(i, j int) { report[i], report[j] = report[j], report[i] })
			for _, ps := range report {
				if _, err := st.RecordStats(ctx, single.Id, ps.PublicKey, ps.LatestHandshake, ps.RxBytes, ps.TxBytes, ps.Endpoint, now); err != nil && err != store.ErrNotFound {
					t.Fatal(err)
				}
			}
			twice := report[len(report)/2]
			twice.RxBytes, twice.LatestHandshake, twice.Endpoint = twice.RxBytes+1e6, now, "bogus"
			if err := s.Svc.ReportStats(ctx, loc, append([]service.PeerStat{twice}, report...)); err != nil {
				t.Fatal(err)
			}
			all, err := st.ListSessions(ctx, store.SessionFilter{})
			if err != nil {
				t.Fatal(err)
			}
			byID := map[string]store.Session{}
			for _, ss := range all {
				byID[ss.ID] = ss
			}
			for n := 1; n <= seq; n++ {
				a, b := byID[fmt.Sprintf("%s/%d", single.Id, n)], byID[fmt.Sprintf("%s/%d", cached.Id, n)]
				a.ID, a.LocationID, b.ID, b.LocationID = "", "", "", ""
				if a != b {
					t.Fatalf("round %d, session %d:\n single reports %+v\n ReportStats    %+v", round, n, a, b)
				}
			}
		}
	})
}

// TestReportStatsConcurrently: two gateways of a location report the
// same peers at once through one replica, while the sessions end; every
// report is answered, and an ended session stays ended.
func TestReportStatsConcurrently(t *testing.T) {
	servertest.EachEngine(t, func(t *testing.T, engine servertest.Option) {
		s := servertest.New(t, engine)
		ctx := servertest.Ctx(t)
		st := s.Store()
		l := s.CreateLocation(&v1.Location{Name: "Office", MfaMode: v1.LocationMfaMode_LOCATION_MFA_MODE_INTERNAL, PeerDisconnectThresholdSeconds: 300})
		u := s.CreateUser("alice")
		const devices = 40
		for i := range devices {
			if err := st.CreateDevice(ctx, store.Device{ID: fmt.Sprintf("d%02d", i), UserID: u.ID, Name: "device", PublicKey: fmt.Sprintf("key-%02d=", i), TokenHash: fmt.Sprintf("t%02d", i), CreatedAt: s.Clock.Now()}); err != nil {
				t.Fatal(err)
			}
			if err := st.CreateSession(ctx, store.Session{ID: fmt.Sprintf("s%02d", i), LocationID: l.Id, DeviceID: fmt.Sprintf("d%02d", i), UserID: u.ID, Method: 1, State: store.StateAuthorized, AuthorizedAt: s.Clock.Now()}); err != nil {
				t.Fatal(err)
			}
		}
		loc := s.Location(l.Id)
		errs := make(chan error, 2)
		for g := range 2 {
			go func() {
				for round := range 20 {
					var report []service.PeerStat
					for i := range devices {
						report = append(report, service.PeerStat{PublicKey: fmt.Sprintf("key-%02d=", i), LatestHandshake: s.Clock.Now(), RxBytes: uint64(1000*round + g), Endpoint: "192.0.2.1:1"})
					}
					if err := s.Svc.ReportStats(ctx, loc, report); err != nil {
						errs <- err
						return
					}
				}
				errs <- nil
			}()
		}
		for i := range devices / 2 {
			if _, err := st.EndSession(ctx, fmt.Sprintf("s%02d", i), 2, s.Clock.Now()); err != nil {
				t.Fatal(err)
			}
		}
		for range 2 {
			if err := <-errs; err != nil {
				t.Fatal(err)
			}
		}
		for i := range devices {
			ss, err := st.SessionByID(ctx, fmt.Sprintf("s%02d", i))
			if err != nil {
				t.Fatal(err)
			}
			if ended := i < devices/2; ended == ss.Active() || (!ended && (ss.State != store.StateConnected || ss.RxBytes < 19000)) {
				t.Fatalf("session %d after the reports: %+v", i, ss)
			}
		}
	})
}
