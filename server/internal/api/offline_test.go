package api_test

import (
	"testing"

	"connectrpc.com/connect"

	v1 "github.com/wicket-vpn/wicket/proto/gen/wicket/v1"
	"github.com/wicket-vpn/wicket/server/internal/servertest"
)

// TestNoGatewayNoSession: with every gateway of the location
// disconnected, FinishMfa used to answer success at once, and the client
// showed Connected for a tunnel nothing carried. Now it answers
// Unavailable, leaves no session, and the code is still good once a
// gateway follows the location again.
func TestNoGatewayNoSession(t *testing.T) {
	s, loc, u, d := totpSetup(t, servertest.WithGatewayRequired())
	ctx := servertest.Ctx(t)
	code := s.TOTPCode(u.TOTPSecret)
	c := mfaStart(t, s, d, loc.Id, methodTOTP).ChallengeToken
	_, err := mfaFinish(s, c, code)
	wantCode(t, err, connect.CodeUnavailable, "The gateway of Office is offline; try again in a minute.")
	list, err := s.Admin.ListSessions(ctx, servertest.Req(s.AdminToken(), &v1.ListSessionsRequest{LocationId: loc.Id, ActiveOnly: true}))
	if err != nil || len(list.Msg.Sessions) != 0 {
		t.Fatalf("sessions after the refusal: %v, %v", list, err)
	}
	open := s.CreateLocation(&v1.Location{Name: "Open", Address: "10.20.0.1/24"})
	_, err = s.Client.Connect(ctx, servertest.Req("", &v1.ConnectRequest{DeviceToken: d.Token, LocationId: open.Id}))
	wantCode(t, err, connect.CodeUnavailable, "The gateway of Open is offline; try again in a minute.")

	// A standalone gateway connects (the SyncPeers stream of a real
	// gateway token); the same challenge and code now open the session.
	gt, err := s.Admin.CreateGatewayToken(ctx, servertest.Req(s.AdminToken(), &v1.CreateGatewayTokenRequest{LocationId: loc.Id}))
	if err != nil {
		t.Fatal(err)
	}
	stream, err := s.Gateway.SyncPeers(ctx, servertest.Req("", &v1.SyncPeersRequest{GatewayToken: gt.Msg.GatewayToken}))
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Close()
	if !stream.Receive() || stream.Msg().Snapshot == nil {
		t.Fatalf("no snapshot: %v", stream.Err())
	}
	go func() {
		for stream.Receive() { // asking for the next change acknowledges the last
		}
	}()
	wantPSK(t, mfaFinishOK(t, s, c, code).Tunnel)
}
