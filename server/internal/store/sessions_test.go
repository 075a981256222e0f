package store

import (
	"context"
	"slices"
	"testing"
	"time"
)

// TestIdleQueriesTakeTheCutoff: the store decides no policy. Given a
// cutoff, a session is idle when its latest handshake and its
// authorization are both before it, and ending it as idle checks that
// again; given a time, a session authorized at or before it is listed.
func TestIdleQueriesTakeTheCutoff(t *testing.T) {
	eachEngine(t, func(t *testing.T, db testDB) {
		ctx := context.Background()
		s := db.open(t)
		t0 := time.UnixMilli(1_780_000_000_000).UTC()
		cutoff := t0.Add(10 * time.Minute)
		if err := s.CreateUser(ctx, User{ID: "u", Username: "alice", CreatedAt: t0}); err != nil {
			t.Fatal(err)
		}
		for _, l := range []string{"office", "lab"} {
			if err := s.CreateLocation(ctx, Location{ID: l, Name: l, Address: "10.0.0.1/24", ListenPort: 51820, Endpoint: "vpn:51820", MFA: true, PeerDisconnectThresholdSeconds: 300, CreatedAt: t0}); err != nil {
				t.Fatal(err)
			}
		}
		sessions := []Session{
			{ID: "quiet", LocationID: "office", AuthorizedAt: t0},
			{ID: "shook-hands-before", LocationID: "office", AuthorizedAt: t0, LatestHandshake: cutoff.Add(-time.Millisecond)},
			{ID: "shook-hands-at", LocationID: "office", AuthorizedAt: t0, LatestHandshake: cutoff},
			{ID: "authorized-at", LocationID: "office", AuthorizedAt: cutoff},
			{ID: "authorized-after", LocationID: "office", AuthorizedAt: cutoff.Add(time.Second)},
			{ID: "ended", LocationID: "office", AuthorizedAt: t0, EndedAt: t0.Add(time.Minute), State: StateEnded},
			{ID: "elsewhere", LocationID: "lab", AuthorizedAt: t0},
		}
		for i, ss := range sessions {
			d := Device{ID: ss.ID, UserID: "u", Name: ss.ID, PublicKey: ss.ID, TokenHash: ss.ID, CreatedAt: t0}
			if err := s.CreateDevice(ctx, d); err != nil {
				t.Fatal(err)
			}
			ss.DeviceID, ss.UserID, ss.Method = d.ID, "u", 1
			if ss.State == 0 {
				ss.State = StateAuthorized
			}
			sessions[i] = ss
			if err := s.CreateSession(ctx, ss); err != nil {
				t.Fatal(err)
			}
		}
		ids := func(list []Session, err error) []string {
			t.Helper()
			if err != nil {
				t.Fatal(err)
			}
			var out []string
			for _, s := range list {
				out = append(out, s.ID)
			}
			slices.Sort(out)
			return out
		}
		if got, want := ids(s.IdleSessions(ctx, "office", cutoff)), []string{"quiet", "shook-hands-before"}; !slices.Equal(got, want) {
			t.Fatalf("IdleSessions = %v, want %v", got, want)
		}
		if got, want := ids(s.SessionsAuthorizedBy(ctx, "office", cutoff)), []string{"authorized-at", "quiet", "shook-hands-at", "shook-hands-before"}; !slices.Equal(got, want) {
			t.Fatalf("SessionsAuthorizedBy = %v, want %v", got, want)
		}

		// Ending as idle asks again: a handshake at the cutoff keeps the session.
		end := func(id string) bool {
			t.Helper()
			ok, err := s.EndIdleSession(ctx, id, 1, cutoff, cutoff)
			if err != nil {
				t.Fatal(err)
			}
			return ok
		}
		if end("shook-hands-at") || end("authorized-after") || end("ended") {
			t.Fatal("ended a session that is not idle")
		}
		if !end("quiet") || end("quiet") {
			t.Fatal("an idle session did not end exactly once")
		}
		q, err := s.SessionByID(ctx, "quiet")
		if err != nil || q.Active() || q.EndReason != 1 || q.State != StateEnded || !q.EndedAt.Equal(cutoff) {
			t.Fatalf("ended session = %+v, %v", q, err)
		}
	})
}
