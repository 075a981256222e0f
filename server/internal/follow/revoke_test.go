package follow_test

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/timestamppb"

	v1 "github.com/wicket-vpn/wicket/proto/gen/wicket/v1"
	"github.com/wicket-vpn/wicket/server/internal/follow"
	"github.com/wicket-vpn/wicket/server/internal/gateway"
	"github.com/wicket-vpn/wicket/server/internal/gateway/gatewaytest"
	"github.com/wicket-vpn/wicket/server/internal/servertest"
)

// runRemote runs a standalone gateway over HTTPS and returns what its Run
// ends with.
func runRemote(t *testing.T, s *servertest.Server, token string, a *applied) <-chan error {
	r := follow.NewRemote(follow.RemoteOptions{
		Options:   gateway.Options{Mode: gateway.Netstack, Log: gatewaytest.Log(t), OnApplied: a.hook},
		HTTP:      s.HTTP,
		ServerURL: s.URL, Token: token, StatsInterval: time.Hour,
		MinBackoff: 10 * time.Millisecond, MaxBackoff: 100 * time.Millisecond,
	})
	ctx, cancel := context.WithCancel(context.Background())
	done, finished := make(chan error, 1), make(chan struct{})
	go func() { done <- r.Run(ctx); close(finished) }()
	t.Cleanup(func() { cancel(); <-finished })
	return done
}

// wantRefused checks that a gateway ended, or a call failed, with
// Unauthenticated and a message containing part.
func wantRefused(t *testing.T, what string, err error, part string) {
	t.Helper()
	if connect.CodeOf(err) != connect.CodeUnauthenticated || !strings.Contains(err.Error(), part) {
		t.Fatalf("%s: got %v, want Unauthenticated saying %q", what, err, part)
	}
}

// firstMessage opens a SyncPeers stream and returns how it ends before or
// with its first message: nil when a message came.
func firstMessage(ctx context.Context, s *servertest.Server, token string) error {
	stream, err := s.Gateway.SyncPeers(ctx, servertest.Req("", &v1.SyncPeersRequest{GatewayToken: token}))
	if err != nil {
		return err
	}
	defer stream.Close()
	if stream.Receive() {
		return nil
	}
	return stream.Err()
}

func gatewayLocation(t *testing.T, s *servertest.Server, name string) *v1.Location {
	port := gatewaytest.FreeUDPPort(t)
	return s.CreateLocation(&v1.Location{Name: name, ListenPort: uint32(port), Endpoint: "127.0.0.1:" + strconv.Itoa(port), MfaMode: v1.LocationMfaMode_LOCATION_MFA_MODE_INTERNAL})
}

// TestRevokedGatewayTokenDropsTheConnectedGateway: a stolen gateway token
// receives the location's private key and every session's pre-shared key
// for as long as its stream stays open. Revoking it must end that stream at
// once, not at the next change, and keep the gateway from coming back.
func TestRevokedGatewayTokenDropsTheConnectedGateway(t *testing.T) {
	s := servertest.New(t)
	ctx := servertest.Ctx(t)
	loc := gatewayLocation(t, s, "Branch")
	stolen, err := s.Admin.CreateGatewayToken(ctx, servertest.Req(s.AdminToken(), &v1.CreateGatewayTokenRequest{LocationId: loc.Id, Name: "branch-gw"}))
	if err != nil {
		t.Fatal(err)
	}
	// Two gateways on one host cannot share the port: the other one serves another location.
	depot := gatewayLocation(t, s, "Depot")
	kept, err := s.Admin.CreateGatewayToken(ctx, servertest.Req(s.AdminToken(), &v1.CreateGatewayTokenRequest{LocationId: depot.Id, Name: "depot-gw"}))
	if err != nil {
		t.Fatal(err)
	}
	a, b := newApplied(), newApplied()
	done := runRemote(t, s, stolen.Msg.GatewayToken, a)
	other := runRemote(t, s, kept.Msg.GatewayToken, b)
	a.waitFor(t, "the first snapshot", isSnapshotWith(""))
	b.waitFor(t, "the first snapshot", isSnapshotWith(""))
	if n := s.Svc.GatewayStreams(stolen.Msg.Token.Id); n != 1 {
		t.Fatalf("%d streams open with the token, want 1", n)
	}

	if _, err := s.Admin.RevokeGatewayToken(ctx, servertest.Req(s.AdminToken(), &v1.RevokeGatewayTokenRequest{Id: stolen.Msg.Token.Id})); err != nil {
		t.Fatal(err)
	}
	// Nothing else changes at the location: only the revocation can end the stream.
	select {
	case err := <-done:
		wantRefused(t, "the gateway", err, "This gateway token was revoked; create a new one on the Gateways page.")
	case <-time.After(15 * time.Second):
		t.Fatal("the gateway with the revoked token is still connected")
	}
	if n := s.Svc.GatewayStreams(stolen.Msg.Token.Id); n != 0 {
		t.Fatalf("%d streams still registered with the revoked token", n)
	}
	wantRefused(t, "a reconnect", firstMessage(ctx, s, stolen.Msg.GatewayToken), "was revoked")
	_, err = s.Gateway.ReportStats(ctx, servertest.Req("", &v1.ReportStatsRequest{GatewayToken: stolen.Msg.GatewayToken}))
	wantRefused(t, "ReportStats", err, "was revoked")

	// Other tokens keep serving.
	select {
	case err := <-other:
		t.Fatalf("the gateway with the other token ended: %v", err)
	default:
	}
	if err := firstMessage(ctx, s, kept.Msg.GatewayToken); err != nil {
		t.Fatalf("the other token: %v", err)
	}
}

// TestExpiredGatewayTokenIsRefused: a token made to last an hour must stop
// working after it, for new connections, for reports, and for the stream
// that was open when it expired, before that stream hands over new keys.
func TestExpiredGatewayTokenIsRefused(t *testing.T) {
	s := servertest.New(t)
	ctx := servertest.Ctx(t)
	loc := gatewayLocation(t, s, "Branch")
	tok, err := s.Admin.CreateGatewayToken(ctx, servertest.Req(s.AdminToken(), &v1.CreateGatewayTokenRequest{
		LocationId: loc.Id, Name: "temporary", ExpiresAt: timestamppb.New(s.Clock.Now().Add(time.Hour)),
	}))
	if err != nil {
		t.Fatal(err)
	}
	a := newApplied()
	done := runRemote(t, s, tok.Msg.GatewayToken, a)
	a.waitFor(t, "the first snapshot", isSnapshotWith(""))

	s.Clock.Advance(time.Hour)
	const expired = "This gateway token expired on 1 Jun 2026 13:00 UTC; create a new one on the Gateways page"
	_, err = s.Gateway.ReportStats(ctx, servertest.Req("", &v1.ReportStatsRequest{GatewayToken: tok.Msg.GatewayToken}))
	wantRefused(t, "ReportStats", err, expired)
	wantRefused(t, "a new connection", firstMessage(ctx, s, tok.Msg.GatewayToken), expired)

	// A new MTU makes a new snapshot, with the location's private key in it.
	l := loc
	l.Mtu = 1380
	if _, err := s.Admin.UpdateLocation(ctx, servertest.Req(s.AdminToken(), &v1.UpdateLocationRequest{Location: l})); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		wantRefused(t, "the open stream", err, expired)
	case c := <-a.ch:
		t.Fatalf("the gateway with the expired token was sent a change: %+v", c)
	case <-time.After(15 * time.Second):
		t.Fatal("the gateway with the expired token is still connected")
	}
}
