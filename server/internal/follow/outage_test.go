package follow_test

import (
	"testing"
	"time"

	v1 "github.com/wicket-vpn/wicket/proto/gen/wicket/v1"
	"github.com/wicket-vpn/wicket/server/internal/peers"
	"github.com/wicket-vpn/wicket/server/internal/servertest"
)

// TestStandaloneGatewayResyncsSoonAfterOutage: the server is away for a
// few seconds, long enough for the gateway's probes to reach their
// longest interval. Within 2 s of the server's return the gateway has its
// snapshot again, without the peer of a session that ended meanwhile.
// Before, the gateway waited up to its 30 s backoff, and the ended
// session's peer kept working all that time.
func TestStandaloneGatewayResyncsSoonAfterOutage(t *testing.T) {
	s := servertest.New(t)
	s.Clock.Set(time.Now())
	ctx := servertest.Ctx(t)
	loc := mfaLocation(t, s, "Branch", 0)
	tok, err := s.Admin.CreateGatewayToken(ctx, servertest.Req(s.AdminToken(), &v1.CreateGatewayTokenRequest{LocationId: loc.Id}))
	if err != nil {
		t.Fatal(err)
	}
	a := newApplied()
	// The gateway's own defaults: this is what is measured.
	r, _ := startRemoteWith(t, s, tok.Msg.GatewayToken, a, nil)
	a.waitFor(t, "the first snapshot", isSnapshotWith(""))

	d, conn := connectWithTOTP(t, s, "bob", loc.Id)
	a.waitFor(t, "the session's peer", func(c peers.Change) bool {
		return len(c.Upserts) == 1 && c.Upserts[0].PublicKey.String() == d.PublicKey
	})

	s.Close()
	// The outage itself: its length is the scenario, not a wait for a result.
	time.Sleep(4 * time.Second)
	s.Start()
	back := time.Now()
	if _, err := s.Admin.DisconnectSession(ctx, servertest.Req(s.AdminToken(), &v1.DisconnectSessionRequest{SessionId: conn.SessionId})); err != nil {
		t.Fatal(err)
	}
	// The gateway is back in step: a snapshot without the ended session's
	// peer (or, had it reconnected before the disconnect, the removal).
	a.waitFor(t, "the gateway back in step", func(c peers.Change) bool {
		if c.Snapshot {
			return !isSnapshotWith(d.PublicKey)(c)
		}
		return len(c.Removes) == 1 && c.Removes[0].String() == d.PublicKey
	})
	took := time.Since(back)
	t.Logf("in step %s after the server's return", took.Round(time.Millisecond))
	if took > 2*time.Second {
		t.Fatalf("in step %s after the server's return, want at most 2 s", took)
	}
	for _, k := range r.Gateway().Peers() {
		if k.String() == d.PublicKey {
			t.Fatal("the peer of a session ended during the outage is still on the gateway")
		}
	}
}
