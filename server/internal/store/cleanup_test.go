package store

import (
	"context"
	"testing"
	"time"

	"github.com/wicket-vpn/wicket/server/internal/clock/clocktest"
)

// TestDeleteExpired runs the sweeper's clean-up on a clock that only moves
// when told: bearer tokens go once expired, enrollment tokens, challenges,
// wrong codes and used TOTP steps are kept for the record a day longer.
func TestDeleteExpired(t *testing.T) {
	eachEngine(t, func(t *testing.T, db testDB) {
		ctx := context.Background()
		s := db.open(t)
		clk := clocktest.New(time.Date(2026, 4, 1, 12, 0, 0, 0, time.UTC))
		const keep = 24 * time.Hour
		now := clk.Now()
		if err := s.CreateUser(ctx, User{ID: "u1", Username: "alice", Email: "a@example.com", PasswordHash: "h", CreatedAt: now}); err != nil {
			t.Fatal(err)
		}
		must := func(err error) {
			t.Helper()
			if err != nil {
				t.Fatal(err)
			}
		}
		// Each kind: one past its end a day ago, one past it just now, one
		// still running.
		for name, end := range map[string]time.Time{"old": now.Add(-keep - time.Minute), "recent": now.Add(-time.Minute), "live": now.Add(time.Hour)} {
			must(s.CreateAPIToken(ctx, APIToken{Hash: "api-" + name, UserID: "u1", CreatedAt: end.Add(-time.Hour), ExpiresAt: end}))
			must(s.CreateEnrollmentToken(ctx, EnrollmentToken{Hash: "enr-" + name, UserID: "u1", DeviceName: "d", CreatedAt: end.Add(-time.Hour), ExpiresAt: end}))
			must(s.CreateChallenge(ctx, Challenge{Hash: "ch-" + name, Purpose: "login", UserID: "u1", Method: 1, CreatedAt: end.Add(-5 * time.Minute), ExpiresAt: end}))
			must(s.RecordMFAFailure(ctx, "u1", end))
		}
		if _, err := s.UseTOTPStep(ctx, "u1", 1, now.Add(-keep-time.Second)); err != nil {
			t.Fatal(err)
		}
		if _, err := s.UseTOTPStep(ctx, "u1", 2, now.Add(-time.Second)); err != nil {
			t.Fatal(err)
		}

		count := func(table string) int {
			t.Helper()
			var n int
			if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM `+table).Scan(&n); err != nil {
				t.Fatal(err)
			}
			return n
		}
		want := func(api, enr, ch, fail, steps int) {
			t.Helper()
			got := [5]int{count("api_tokens"), count("enrollment_tokens"), count("mfa_challenges"), count("mfa_failures"), count("totp_used_steps")}
			if got != [5]int{api, enr, ch, fail, steps} {
				t.Fatalf("left: api tokens, enrollment tokens, challenges, failures, TOTP steps = %v, want %v", got, [5]int{api, enr, ch, fail, steps})
			}
		}

		// Bearer tokens go as soon as they expire; the rest are kept a day.
		n, err := s.DeleteExpired(ctx, clk.Now(), keep)
		if err != nil || n != 2+1+1+1+1 {
			t.Fatalf("first clean-up deleted %d (%v), want 6", n, err)
		}
		want(1, 2, 2, 2, 1)
		if _, err := s.APITokenByHash(ctx, "api-live"); err != nil {
			t.Fatalf("the live token went: %v", err)
		}
		if _, err := s.ChallengeByHash(ctx, "ch-recent"); err != nil {
			t.Fatalf("a challenge that ended a minute ago went: %v", err)
		}

		// Nothing more to do at the same time.
		if n, err := s.DeleteExpired(ctx, clk.Now(), keep); err != nil || n != 0 {
			t.Fatalf("a second clean-up at once deleted %d (%v)", n, err)
		}

		// A day later the recent ones are past keeping, and the live bearer
		// token has expired.
		clk.Advance(keep)
		n, err = s.DeleteExpired(ctx, clk.Now(), keep)
		if err != nil || n != 1+1+1+1+1 {
			t.Fatalf("a day later the clean-up deleted %d (%v), want 5", n, err)
		}
		want(0, 1, 1, 1, 0)

		// And once the live ones ended a day ago, nothing is left.
		clk.Advance(2 * time.Hour)
		if n, err := s.DeleteExpired(ctx, clk.Now(), keep); err != nil || n != 3 {
			t.Fatalf("the last clean-up deleted %d (%v), want 3", n, err)
		}
		want(0, 0, 0, 0, 0)
	})
}

// TestTouchDevice writes a device's last use at most once per interval,
// whoever asks.
func TestTouchDevice(t *testing.T) {
	eachEngine(t, func(t *testing.T, db testDB) {
		ctx := context.Background()
		s := db.open(t)
		clk := clocktest.New(time.Date(2026, 4, 1, 12, 0, 0, 0, time.UTC))
		if err := s.CreateUser(ctx, User{ID: "u1", Username: "alice", Email: "a@example.com", PasswordHash: "h", CreatedAt: clk.Now()}); err != nil {
			t.Fatal(err)
		}
		if err := s.CreateDevice(ctx, Device{ID: "d1", UserID: "u1", Name: "laptop", PublicKey: "k", TokenHash: "t", CreatedAt: clk.Now(), LastSeen: clk.Now()}); err != nil {
			t.Fatal(err)
		}
		touch := func() bool {
			t.Helper()
			now := clk.Now()
			wrote, err := s.TouchDevice(ctx, "d1", now, now.Add(-time.Minute))
			if err != nil {
				t.Fatal(err)
			}
			return wrote
		}
		last := func() time.Time {
			t.Helper()
			d, err := s.DeviceByID(ctx, "d1")
			if err != nil {
				t.Fatal(err)
			}
			return d.LastSeen
		}
		start := clk.Now()
		clk.Advance(time.Minute)
		if touch() || !last().Equal(start) {
			t.Fatalf("a touch a minute after the last wrote (last seen %v)", last())
		}
		clk.Advance(time.Millisecond)
		if !touch() || !last().Equal(clk.Now()) {
			t.Fatalf("a touch past the minute did not write (last seen %v)", last())
		}
		written := clk.Now()
		clk.Advance(59 * time.Second)
		if touch() || !last().Equal(written) {
			t.Fatalf("a second touch within the minute wrote (last seen %v)", last())
		}
		if wrote, err := s.TouchDevice(ctx, "nope", clk.Now(), clk.Now()); err != nil || wrote {
			t.Fatalf("touching a missing device = %v, %v", wrote, err)
		}
	})
}
