package service_test

import (
	"testing"

	v1 "github.com/wicket-vpn/wicket/proto/gen/wicket/v1"
	"github.com/wicket-vpn/wicket/server/internal/servertest"
)

// TestActiveSessionCount counts sessions as they open and end, on every
// location.
func TestActiveSessionCount(t *testing.T) {
	s := servertest.New(t)
	ctx := servertest.Ctx(t)
	office := s.CreateLocation(&v1.Location{Name: "Office"})
	lab := s.CreateLocation(&v1.Location{Name: "Lab", Address: "10.20.0.1/24"})
	want := func(n int) {
		t.Helper()
		if got, err := s.Svc.ActiveSessionCount(ctx); err != nil || got != n {
			t.Fatalf("%d active sessions (%v), want %d", got, err, n)
		}
	}
	want(0)
	u := s.CreateUser("alice")
	d := s.Enroll(u, "laptop")
	var ids []string
	for _, l := range []*v1.Location{office, lab} {
		c, err := s.Client.Connect(ctx, servertest.Req("", &v1.ConnectRequest{DeviceToken: d.Token, LocationId: l.Id}))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, c.Msg.SessionId)
	}
	want(2)
	if _, err := s.Client.Disconnect(ctx, servertest.Req("", &v1.DisconnectRequest{DeviceToken: d.Token, SessionId: ids[0]})); err != nil {
		t.Fatal(err)
	}
	want(1)
}
