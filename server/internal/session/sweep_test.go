package session_test

import (
	"context"
	"log/slog"
	"strconv"
	"sync"
	"testing"
	"time"

	v1 "github.com/wicket-vpn/wicket/proto/gen/wicket/v1"
	"github.com/wicket-vpn/wicket/server/internal/notify"
	"github.com/wicket-vpn/wicket/server/internal/seal"
	"github.com/wicket-vpn/wicket/server/internal/servertest"
	"github.com/wicket-vpn/wicket/server/internal/session"
	"github.com/wicket-vpn/wicket/server/internal/store"
)

// TestReplicasSweepOnce runs the sweep of several managers (as several
// server replicas would) over one store at once: every idle session ends
// exactly once, with one audit event. On PostgreSQL each replica has a
// store (a connection pool) of its own.
func TestReplicasSweepOnce(t *testing.T) { servertest.EachEngine(t, testReplicasSweepOnce) }

func testReplicasSweepOnce(t *testing.T, engine servertest.Option) {
	s := servertest.New(t, engine)
	ctx := servertest.Ctx(t)
	l := s.CreateLocation(&v1.Location{Name: "Office", MfaMode: v1.LocationMfaMode_LOCATION_MFA_MODE_INTERNAL, PeerDisconnectThresholdSeconds: 300})
	u := s.CreateUser("alice")
	st := s.Store()
	const n = 40
	now := s.Clock.Now()
	for i := range n {
		_, pub := servertest.NewKeyPair(t)
		dev := store.Device{ID: "dev" + itoa(i), UserID: u.ID, Name: "d", PublicKey: pub, TokenHash: "h" + itoa(i), CreatedAt: now}
		if err := st.CreateDevice(ctx, dev); err != nil {
			t.Fatal(err)
		}
		if err := st.CreateSession(ctx, store.Session{ID: "s" + itoa(i), LocationID: l.Id, DeviceID: dev.ID, UserID: u.ID, Method: 1, State: 1, AuthorizedAt: now}); err != nil {
			t.Fatal(err)
		}
	}
	s.Clock.Advance(301 * time.Second)
	sealer, err := seal.New(make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	counts := make([]int, 4)
	for i := range counts {
		rst := st
		if s.Database != "" {
			var err error
			if rst, err = store.OpenPostgres(ctx, s.Database); err != nil {
				t.Fatal(err)
			}
			defer rst.Close()
		}
		m := session.NewManager(rst, sealer, s.Clock, slog.New(slog.DiscardHandler), notify.NewHub())
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := m.Sweep(context.Background())
			if err != nil {
				t.Error(err)
			}
			counts[i] = c
		}()
	}
	wg.Wait()
	total := 0
	for _, c := range counts {
		total += c
	}
	if total != n {
		t.Fatalf("replicas ended %v sessions in all, want %d exactly", counts, n)
	}
	events, err := st.ListAuditEvents(ctx, store.AuditFilter{Action: "session.ended", Limit: 500})
	if err != nil || len(events) != n {
		t.Fatalf("%d session.ended events (%v), want %d", len(events), err, n)
	}
	left, err := st.ListSessions(ctx, store.SessionFilter{ActiveOnly: true})
	if err != nil || len(left) != 0 {
		t.Fatalf("%d sessions still active (%v)", len(left), err)
	}
}

// TestMaxDurationEndsSessions ends a session at the location's maximum
// age even while it has traffic, with reason MAX_DURATION.
func TestMaxDurationEndsSessions(t *testing.T) {
	s := servertest.New(t)
	ctx := servertest.Ctx(t)
	l := s.CreateLocation(&v1.Location{Name: "Lab", MaxSessionSeconds: 3600})
	u := s.CreateUser("bob")
	d := s.Enroll(u, "laptop")
	resp, err := s.Client.Connect(ctx, servertest.Req("", &v1.ConnectRequest{DeviceToken: d.Token, LocationId: l.Id}))
	if err != nil {
		t.Fatal(err)
	}
	watch, err := s.Client.WatchInstance(ctx, servertest.Req("", &v1.WatchInstanceRequest{DeviceToken: d.Token, KnownConfigVersion: d.Instance.ConfigVersion}))
	if err != nil {
		t.Fatal(err)
	}
	st := s.Store()
	loc, err := st.LocationByID(ctx, l.Id)
	if err != nil {
		t.Fatal(err)
	}
	s.Clock.Advance(3599 * time.Second)
	if _, err := st.RecordStats(ctx, l.Id, d.PublicKey, s.Clock.Now(), 10, 10, "127.0.0.1:1", s.Clock.Now()); err != nil {
		t.Fatal(err)
	}
	if n, err := s.Svc.Sessions.Sweep(ctx); err != nil || n != 0 {
		t.Fatalf("swept %d (%v) before the maximum age", n, err)
	}
	s.Clock.Advance(time.Second)
	if n, err := s.Svc.Sessions.Sweep(ctx); err != nil || n != 1 {
		t.Fatalf("swept %d (%v) at the maximum age", n, err)
	}
	sess, err := st.SessionByID(ctx, resp.Msg.SessionId)
	if err != nil || sess.EndReason != session.ReasonMaxDuration {
		t.Fatalf("session = %+v, %v", sess, err)
	}
	for watch.Receive() {
		if se := watch.Msg().SessionEnded; se != nil {
			if se.Reason != v1.SessionEndReason_SESSION_END_REASON_MAX_DURATION || se.Message != session.Message(session.ReasonMaxDuration, loc) {
				t.Fatalf("session_ended = %v", se)
			}
			return
		}
	}
	t.Fatalf("no session_ended: %v", watch.Err())
}

func itoa(i int) string { return strconv.Itoa(i) }
