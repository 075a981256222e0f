package store

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

// TestRecordStatsBatchAsSingleReports: a report about many peers in one
// statement changes each session exactly as RecordStats, peer by peer,
// changes its twin. Every device has a session in three locations; the
// same random reports go peer by peer to "single" and as batches to
// "batch", and "other" hears none. Reports mix handshakes older, newer
// and absent, received bytes grown, equal and reset, keys of no device,
// ended sessions and a key listed twice (the last entry counts).
func TestRecordStatsBatchAsSingleReports(t *testing.T) {
	eachEngine(t, func(t *testing.T, db testDB) {
		ctx := context.Background()
		s := db.open(t)
		t0 := time.UnixMilli(1_780_000_000_000).UTC()
		if err := s.CreateUser(ctx, User{ID: "u", Username: "alice", CreatedAt: t0}); err != nil {
			t.Fatal(err)
		}
		locs := []string{"single", "batch", "other"}
		for i, l := range locs {
			if err := s.CreateLocation(ctx, Location{ID: l, Name: l, Address: fmt.Sprintf("10.%d.0.1/24", i), ListenPort: 51820 + i, Endpoint: "vpn:51820", MFA: true, PeerDisconnectThresholdSeconds: 300, CreatedAt: t0}); err != nil {
				t.Fatal(err)
			}
		}
		const devices = 80
		rng := rand.New(rand.NewPCG(1, 2))
		for i := range devices {
			d := Device{ID: fmt.Sprintf("d%02d", i), UserID: "u", Name: "device", PublicKey: fmt.Sprintf("key-%02d=", i), TokenHash: fmt.Sprintf("t%02d", i), CreatedAt: t0}
			if err := s.CreateDevice(ctx, d); err != nil {
				t.Fatal(err)
			}
			hs := time.Time{}
			if i%3 > 0 {
				hs = t0.Add(time.Duration(rng.IntN(60)) * time.Second)
			}
			for _, l := range locs {
				ss := Session{ID: l + "/" + d.ID, LocationID: l, DeviceID: d.ID, UserID: "u", Method: 1, State: StateAuthorized,
					AuthorizedAt: t0, LatestHandshake: hs, RxBytes: 1000, TxBytes: 1000, Endpoint: "192.0.2.1:1"}
				if !hs.IsZero() {
					ss.State = StateConnected
				}
				if i%10 == 0 {
					ss.EndedAt, ss.State, ss.EndReason = t0.Add(time.Second), StateEnded, 1
				}
				if err := s.CreateSession(ctx, ss); err != nil {
					t.Fatal(err)
				}
			}
		}
		rx := make([]uint64, devices)
		for i := range rx {
			rx[i] = 1000
		}
		now := t0.Add(time.Minute)
		for round := range 30 {
			now = now.Add(time.Duration(1+rng.IntN(20)) * time.Second)
			var report []PeerStats
			for i := range devices {
				if rng.IntN(4) == 0 {
					continue // not in this report
				}
				switch rng.IntN(5) {
				case 0, 1:
					rx[i] += uint64(1 + rng.IntN(3000))
				case 2:
					rx[i] = uint64(rng.IntN(500)) // the gateway restarted
				}
				var hs time.Time
				if rng.IntN(4) > 0 {
					hs = now.Add(-time.Duration(rng.IntN(200)) * time.Second)
				}
				report = append(report, PeerStats{PublicKey: fmt.Sprintf("key-%02d=", i), Handshake: hs, Rx: rx[i], Tx: uint64(rng.IntN(1 << 40)),
					Endpoint: fmt.Sprintf("198.51.100.%d:%d", rng.IntN(255), 1024+rng.IntN(60000))})
			}
			report = append(report, PeerStats{PublicKey: "no-such-key=", Handshake: now, Rx: 5}, PeerStats{PublicKey: "", Rx: 5})
			rng.Shuffle(len(report), func(i, j int) { report[i], report[j] = report[j], report[i] })
			err := s.InTx(ctx, func(q *Q) error {
				for _, st := range report {
					if _, err := q.RecordStats(ctx, "single", st.PublicKey, st.Handshake, st.Rx, st.Tx, st.Endpoint, now); err != nil && err != ErrNotFound {
						return err
					}
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			// The batch also lists one key earlier with other figures; its
			// last entry is the one the single reports had.
			twice := report[len(report)/2]
			twice.Rx, twice.Handshake, twice.Endpoint = twice.Rx+1e6, now, "bogus"
			batch := append([]PeerStats{twice}, report...)
			n, err := s.RecordStatsBatch(ctx, "batch", batch, now)
			if err != nil {
				t.Fatal(err)
			}
			want := 0
			for _, st := range report {
				var i int
				if _, err := fmt.Sscanf(st.PublicKey, "key-%d=", &i); err == nil && i%10 != 0 {
					want++
				}
			}
			if n != want {
				t.Fatalf("round %d: the batch changed %d sessions, want %d", round, n, want)
			}
			all, err := s.ListSessions(ctx, SessionFilter{})
			if err != nil {
				t.Fatal(err)
			}
			byID := map[string]Session{}
			for _, ss := range all {
				byID[ss.ID] = ss
			}
			for i := range devices {
				d := fmt.Sprintf("d%02d", i)
				single, batched, other := byID["single/"+d], byID["batch/"+d], byID["other/"+d]
				single.ID, single.LocationID = "", ""
				batched.ID, batched.LocationID = "", ""
				if single != batched {
					t.Fatalf("round %d, device %s:\n single reports %+v\n batch          %+v", round, d, single, batched)
				}
				if other.RxBytes != 1000 || other.Endpoint != "192.0.2.1:1" || !other.LastActivity.Equal(other.LatestHandshake) {
					t.Fatalf("round %d: a report to another location changed %+v", round, other)
				}
				if i%10 == 0 && (batched.Active() || batched.RxBytes != 1000) {
					t.Fatalf("round %d: an ended session changed: %+v", round, batched)
				}
			}
		}
	})
}

// TestRecordStatsBatchEscapesJSON: on SQLite the report travels as JSON;
// quotes, backslashes and control characters in an endpoint arrive as
// sent, and bytes that are not UTF-8 and NUL (which PostgreSQL refuses)
// as U+FFFD, failing nothing on either engine.
func TestRecordStatsBatchEscapesJSON(t *testing.T) {
	eachEngine(t, func(t *testing.T, db testDB) {
		ctx := context.Background()
		s := db.open(t)
		t0 := time.UnixMilli(1_780_000_000_000).UTC()
		if err := s.CreateUser(ctx, User{ID: "u", Username: "alice", CreatedAt: t0}); err != nil {
			t.Fatal(err)
		}
		if err := s.CreateLocation(ctx, Location{ID: "l", Name: "l", Address: "10.0.0.1/24", ListenPort: 51820, Endpoint: "vpn:51820", CreatedAt: t0}); err != nil {
			t.Fatal(err)
		}
		key := `k"\` + "\x01=" // no real key looks so, but the store takes it
		if err := s.CreateDevice(ctx, Device{ID: "d", UserID: "u", Name: "d", PublicKey: key, TokenHash: "t", CreatedAt: t0}); err != nil {
			t.Fatal(err)
		}
		if err := s.CreateSession(ctx, Session{ID: "s", LocationID: "l", DeviceID: "d", UserID: "u", Method: 1, State: StateAuthorized, AuthorizedAt: t0}); err != nil {
			t.Fatal(err)
		}
		ep := "\"a\\b\"\n\t\x7f é \xff\x00:1"
		n, err := s.RecordStatsBatch(ctx, "l", []PeerStats{{PublicKey: key, Handshake: t0, Rx: 1, Tx: 2, Endpoint: ep}}, t0.Add(time.Second))
		if err != nil || n != 1 {
			t.Fatalf("RecordStatsBatch = %d, %v", n, err)
		}
		got, err := s.SessionByID(ctx, "s")
		if err != nil {
			t.Fatal(err)
		}
		want := "\"a\\b\"\n\t\x7f é \uFFFD\uFFFD:1"
		if got.Endpoint != want {
			t.Fatalf("endpoint = %q, want %q", got.Endpoint, want)
		}
		if got.State != StateConnected || !got.LatestHandshake.Equal(t0) || !got.LastActivity.Equal(t0.Add(time.Second)) || got.RxBytes != 1 || got.TxBytes != 2 {
			t.Fatalf("session = %+v", got)
		}
	})
}

// TestRecordStatsBatchFindsSessionsByKey: SQLite reads the report first
// and finds each session through its key; a plan that walks the
// location's sessions instead costs a scan of 100,000 rows per peer at a
// large location.
func TestRecordStatsBatchFindsSessionsByKey(t *testing.T) {
	s := openTest(t, t.TempDir()+"/wicket.db")
	rows, err := s.db.QueryContext(context.Background(), "EXPLAIN QUERY PLAN "+recordStatsSQLite, "l", 1, "[]")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	for _, step := range plan {
		if strings.HasPrefix(step, "SCAN sessions") || strings.HasPrefix(step, "SCAN s ") || strings.Contains(step, "sessions_location_active") {
			t.Fatalf("the plan walks the sessions:\n%s", strings.Join(plan, "\n"))
		}
	}
}
