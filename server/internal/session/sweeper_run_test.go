package session_test

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	v1 "github.com/wicket-vpn/wicket/proto/gen/wicket/v1"
	"github.com/wicket-vpn/wicket/server/internal/notify"
	"github.com/wicket-vpn/wicket/server/internal/seal"
	"github.com/wicket-vpn/wicket/server/internal/servertest"
	"github.com/wicket-vpn/wicket/server/internal/session"
	"github.com/wicket-vpn/wicket/server/internal/store"
)

// TestRunSweepsAndCleansUp runs the sweeper loop on the harness's fake
// clock. Run ticks on a short real interval, but the test never waits for
// time to pass: it moves the fake clock and waits for what each sweep
// announces. Each tick ends the sessions idle by then, deletes spent tokens
// older than a day and wrong passwords the throttle no longer reads; Run
// returns when its context ends.
func TestRunSweepsAndCleansUp(t *testing.T) {
	s := servertest.New(t)
	ctx := servertest.Ctx(t)
	l := s.CreateLocation(&v1.Location{Name: "Office", MfaMode: v1.LocationMfaMode_LOCATION_MFA_MODE_INTERNAL, PeerDisconnectThresholdSeconds: 300})
	u := s.CreateUser("alice")
	st := s.Store()
	start := s.Clock.Now()
	device := func(id string) store.Device {
		t.Helper()
		_, pub := servertest.NewKeyPair(t)
		d := store.Device{ID: id, UserID: u.ID, Name: id, PublicKey: pub, TokenHash: "hash-" + id, CreatedAt: start, LastSeen: start}
		if err := st.CreateDevice(ctx, d); err != nil {
			t.Fatal(err)
		}
		return d
	}
	open := func(id string, d store.Device) {
		t.Helper()
		err := st.CreateSession(ctx, store.Session{ID: id, LocationID: l.Id, DeviceID: d.ID, UserID: u.ID, Method: 1, State: store.StateConnected, AuthorizedAt: s.Clock.Now()})
		if err != nil {
			t.Fatal(err)
		}
	}
	first, second := device("first"), device("second")
	open("s-first", first)

	// Spent and live tokens, and wrong passwords old and new.
	for name, exp := range map[string]time.Time{"spent": start.Add(-25 * time.Hour), "live": start.Add(time.Hour)} {
		if err := st.CreateEnrollmentToken(ctx, store.EnrollmentToken{Hash: "enr-" + name, UserID: u.ID, DeviceName: "d", CreatedAt: exp.Add(-time.Hour), ExpiresAt: exp}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := st.AddPasswordFailure(ctx, "alice", "192.0.2.1", start.Add(-store.PasswordFailureKeep-time.Minute)); err != nil {
		t.Fatal(err)
	}
	if _, err := st.AddPasswordFailure(ctx, "alice", "192.0.2.1", start); err != nil {
		t.Fatal(err)
	}

	sealer, err := seal.New(make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	hub := notify.NewHub()
	m := session.NewManager(st, sealer, s.Clock, slog.New(slog.DiscardHandler), hub)
	watchFirst, watchSecond := hub.Subscribe(first.ID, u.ID), hub.Subscribe(second.ID, u.ID)
	defer watchFirst.Close()
	defer watchSecond.Close()
	ended := func(w *notify.Sub, session string) {
		t.Helper()
		wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		for {
			_, list, err := w.Next(wctx)
			if err != nil {
				t.Fatalf("no end of %s announced: %v", session, err)
			}
			for _, e := range list {
				if e.SessionID == session && e.Reason == 1 {
					return
				}
			}
		}
	}

	s.Clock.Advance(301 * time.Second)
	open("s-second", second) // fresh when the first is idle
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		m.Run(runCtx, 5*time.Millisecond)
		close(done)
	}()

	ended(watchFirst, "s-first")
	if sess, err := st.SessionByID(ctx, "s-second"); err != nil || !sess.Active() {
		t.Fatalf("the fresh session was swept: %+v, %v", sess, err)
	}
	// Once the second is idle too, a later tick ends it; the tick that
	// ended the first had cleaned up by then.
	s.Clock.Advance(301 * time.Second)
	ended(watchSecond, "s-second")

	if _, err := st.UseEnrollmentToken(ctx, "enr-spent", start.Add(-26*time.Hour)); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("the spent enrollment token is still there: %v", err)
	}
	if _, err := st.UseEnrollmentToken(ctx, "enr-live", s.Clock.Now()); err != nil {
		t.Fatalf("the live enrollment token went: %v", err)
	}
	_, n, err := st.RecentPasswordFailures(ctx, store.ScopeAccount, "alice", "", start.Add(-48*time.Hour), 96*time.Hour)
	if err != nil || n != 1 {
		t.Fatalf("%d wrong passwords left (%v), want the recent one", n, err)
	}

	stop()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
}
