package core_test

import (
	"testing"
	"time"

	"github.com/wicket-vpn/wicket/client/internal/core"
	v1 "github.com/wicket-vpn/wicket/proto/gen/wicket/v1"
	"github.com/wicket-vpn/wicket/server/wickettest"
)

// TestSessionEndedWhileStreamDownReachesClient: the server restarts, and
// an admin ends the session before the client's stream is back, so the
// session_ended event reaches nobody. The reconnecting stream's session
// report still brings the location to Disconnected with the server's
// reason, and the tunnel goes down.
func TestSessionEndedWhileStreamDownReachesClient(t *testing.T) {
	afters := make(chan chan time.Time, 16)
	after := func(d time.Duration) <-chan time.Time {
		if d >= time.Hour { // poll and stats: never in this test
			return nil
		}
		ch := make(chan time.Time, 1)
		afters <- ch
		return ch
	}
	e := newEnv(t, nil, func(o *core.Options) { o.After = after })
	loc := e.s.CreateLocation(&v1.Location{Name: "Office", MfaMode: v1.LocationMfaMode_LOCATION_MFA_MODE_DISABLED})
	v := e.enroll()
	e.run(v.ID)
	if err := e.c.Connect(ctx(t), v.ID, loc.Id); err != nil {
		t.Fatal(err)
	}
	e.wantState(v.ID, loc.Id, core.Connected)
	tun := e.tunnels.last(t)

	e.s.Restart()
	e.waitFor("the stream to drop", func(core.Event) bool {
		iv, _ := e.c.Instance(v.ID)
		return !iv.Live
	})
	// The stream is down: the admin's disconnect is announced to nobody.
	list, err := e.s.Admin.ListSessions(ctx(t), wickettest.Req(e.s.AdminToken(), &v1.ListSessionsRequest{LocationId: loc.Id, ActiveOnly: true}))
	if err != nil || len(list.Msg.Sessions) != 1 {
		t.Fatalf("sessions %v, %v", list, err)
	}
	if _, err := e.s.Admin.DisconnectSession(ctx(t), wickettest.Req(e.s.AdminToken(), &v1.DisconnectSessionRequest{SessionId: list.Msg.Sessions[0].Id})); err != nil {
		t.Fatal(err)
	}
	if got := e.loc(v.ID, loc.Id); got.State != core.Connected {
		t.Fatalf("before the stream is back the client shows %v", got.State)
	}
	// The backoff timer fires when the test says so.
	select {
	case ch := <-afters:
		ch <- time.Now()
	case <-time.After(failsafe):
		t.Fatal("no backoff timer")
	}
	ev := e.waitFor("the session report", func(ev core.Event) bool { return ev.Kind == core.EventSessionEnded })
	if ev.Reason != "admin" || ev.Message != "An admin ended this connection." {
		t.Fatalf("ended with %q %q", ev.Reason, ev.Message)
	}
	got := e.wantState(v.ID, loc.Id, core.Disconnected)
	if got.EndReason != "admin" {
		t.Fatalf("view = %+v", got)
	}
	if !tun.isClosed() {
		t.Fatal("the tunnel is still up for a session the server ended")
	}
}

// TestPollReconcilesSessions: with no stream at all (a proxy that drops
// it, a laptop that slept), the next poll ends a session the server no
// longer has.
func TestPollReconcilesSessions(t *testing.T) {
	e := newEnv(t, nil)
	loc := e.s.CreateLocation(&v1.Location{Name: "Office", MfaMode: v1.LocationMfaMode_LOCATION_MFA_MODE_DISABLED})
	v := e.enroll()
	if err := e.c.Connect(ctx(t), v.ID, loc.Id); err != nil {
		t.Fatal(err)
	}
	e.wantState(v.ID, loc.Id, core.Connected)
	list, err := e.s.Admin.ListSessions(ctx(t), wickettest.Req(e.s.AdminToken(), &v1.ListSessionsRequest{LocationId: loc.Id, ActiveOnly: true}))
	if err != nil || len(list.Msg.Sessions) != 1 {
		t.Fatalf("sessions %v, %v", list, err)
	}
	if _, err := e.s.Admin.DisconnectSession(ctx(t), wickettest.Req(e.s.AdminToken(), &v1.DisconnectSessionRequest{SessionId: list.Msg.Sessions[0].Id})); err != nil {
		t.Fatal(err)
	}
	// An update with nothing changed in the configuration still tells.
	if err := e.c.Update(ctx(t), v.ID); err != nil {
		t.Fatal(err)
	}
	if got := e.wantState(v.ID, loc.Id, core.Disconnected); got.EndReason != "admin" {
		t.Fatalf("view = %+v", got)
	}
}
