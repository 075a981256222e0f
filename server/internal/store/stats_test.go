package store

import (
	"context"
	"strings"
	"testing"
	"time"
)

// TestStatsEscapeText: on SQLite keys travel as JSON; quotes,
// backslashes and control characters in a key and an endpoint arrive as
// sent, and bytes that are not UTF-8 and NUL (which PostgreSQL refuses)
// as U+FFFD, failing nothing on either engine.
func TestStatsEscapeText(t *testing.T) {
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
		report := LastOfEachKey([]PeerStats{{PublicKey: key, Handshake: t0, Rx: 1, Tx: 2, Endpoint: "\"a\\b\"\n\t\x7f é \xff\x00:1"}})
		w := s.StatsWriter()
		found, err := w.SessionsByKey(ctx, "l", []string{report[0].PublicKey})
		if err != nil || len(found) != 1 || found[0].ID != "s" || found[0].PublicKey != key {
			t.Fatalf("SessionsByKey = %+v, %v; want session s under its key", found, err)
		}
		at := t0.Add(time.Second).UnixMilli()
		missed, err := w.Write(ctx, []StatsWrite{{Row: found[0].Row, ID: "s", Handshake: t0.UnixMilli(), Activity: at, Connected: true, Rx: 1, Tx: 2, Endpoint: report[0].Endpoint}}, false)
		if err != nil || len(missed) != 0 {
			t.Fatalf("Write = %v, %v", missed, err)
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

// TestStatsFindSessionsByKey: SQLite reads the keys first and finds each
// session through its key; a plan that walks the location's sessions
// instead costs a scan of 100,000 rows per peer at a large location.
func TestStatsFindSessionsByKey(t *testing.T) {
	s := openTest(t, t.TempDir()+"/wicket.db")
	rows, err := s.db.QueryContext(context.Background(), "EXPLAIN QUERY PLAN "+statsByKeySQLite, "l", "[]")
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
