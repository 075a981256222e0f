package follow_test

import (
	"context"
	"slices"
	"testing"
	"time"

	v1 "github.com/wicket-vpn/wicket/proto/gen/wicket/v1"
	"github.com/wicket-vpn/wicket/server/internal/follow"
	"github.com/wicket-vpn/wicket/server/internal/gateway"
	"github.com/wicket-vpn/wicket/server/internal/gateway/gatewaytest"
	"github.com/wicket-vpn/wicket/server/internal/servertest"
	"github.com/wicket-vpn/wicket/shared/wgkey"
)

// runEmbedded runs gateways for every location of s, as wicketd serve does.
func runEmbedded(t *testing.T, s *servertest.Server, a *applied) *follow.Embedded {
	emb := follow.NewEmbedded(s.Svc, gateway.Options{Mode: gateway.Netstack, Log: gatewaytest.Log(t), OnApplied: a.hook}, time.Hour)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { emb.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return emb
}

func hasPeer(g *gateway.Gateway, key string) bool {
	return g != nil && slices.ContainsFunc(g.Peers(), func(k wgkey.Key) bool { return k.String() == key })
}

// TestGatewayOfAnotherReplicaHasThePeerBeforeFinishMfaAnswers: the only
// gateway of a location follows replica B; a session made on replica A
// reaches it before A's FinishMfa answers (A waits for B's gateway's
// acknowledgement), A does not refuse the session as if no gateway were
// online, and the client's first handshake, with the session's pre-shared
// key, goes through.
func TestGatewayOfAnotherReplicaHasThePeerBeforeFinishMfaAnswers(t *testing.T) {
	a := servertest.New(t, servertest.WithPostgres(), servertest.WithGatewayRequired())
	a.Clock.Set(time.Now())
	b := a.Replica()
	loc := mfaLocation(t, a, "Office", 5*time.Minute)
	ap := newApplied()
	emb := runEmbedded(t, b, ap)
	ap.waitFor(t, "the location's first snapshot", isSnapshotWith(""))
	waitFollowers(t, a, loc.Id, 1)

	for i, name := range []string{"alice", "bob", "carol"} {
		d, fin := connectWithTOTP(t, a, name, loc.Id)
		if !hasPeer(emb.Gateway(loc.Id), d.PublicKey) {
			t.Fatalf("session %d: A's FinishMfa answered before B's gateway had the peer", i)
		}
		c := gatewaytest.NewClient(t, d.PrivateKey, fin.Tunnel)
		if err := c.PingUntil(pingCtx(t, 4*time.Second), "10.10.0.1"); err != nil {
			t.Fatalf("session %d: no answer through B's gateway within 4 s (a dropped first handshake is retried only after 5 s): %v", i, err)
		}
	}
}

// waitFollowers waits until s counts n gateways following the location,
// on itself or other replicas.
func waitFollowers(t *testing.T, s *servertest.Server, locationID string, n int) {
	t.Helper()
	ctx := pingCtx(t, 10*time.Second)
	for s.Svc.Followers(locationID) != n {
		select {
		case <-ctx.Done():
			t.Fatalf("%d gateways follow the location, want %d", s.Svc.Followers(locationID), n)
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// TestNoGatewayOnAnyReplicaRefusesSession: with the only gateway gone
// from replica B, replica A refuses new sessions as offline.
func TestNoGatewayOnAnyReplicaRefusesSession(t *testing.T) {
	a := servertest.New(t, servertest.WithPostgres(), servertest.WithGatewayRequired())
	a.Clock.Set(time.Now())
	b := a.Replica()
	loc := mfaLocation(t, a, "Office", 5*time.Minute)
	sub := b.Svc.Sessions.FollowPeers(loc.Id)
	waitFollowers(t, a, loc.Id, 1)
	sub.Close()
	waitFollowers(t, a, loc.Id, 0)
	ctx := servertest.Ctx(t)
	u := a.CreateUser("alice")
	a.EnableTOTP(u)
	d := a.Enroll(u, "laptop")
	st, err := a.Client.StartMfa(ctx, servertest.Req("", &v1.StartMfaRequest{DeviceToken: d.Token, LocationId: loc.Id, Method: v1.MfaMethod_MFA_METHOD_TOTP}))
	if err != nil {
		t.Fatal(err)
	}
	_, err = a.Client.FinishMfa(ctx, servertest.Req("", &v1.FinishMfaRequest{ChallengeToken: st.Msg.ChallengeToken, Code: a.TOTPCode(u.TOTPSecret)}))
	if err == nil {
		t.Fatal("a session was opened on a location no gateway follows")
	}
}

// TestTokenRevokedOnOneReplicaDropsGatewayOnAnother: the admin revokes,
// on replica A, the token of a gateway that follows replica B; B drops it
// at once.
func TestTokenRevokedOnOneReplicaDropsGatewayOnAnother(t *testing.T) {
	a := servertest.New(t, servertest.WithPostgres())
	b := a.Replica()
	ctx := servertest.Ctx(t)
	loc := gatewayLocation(t, a, "Branch")
	tok, err := a.Admin.CreateGatewayToken(ctx, servertest.Req(a.AdminToken(), &v1.CreateGatewayTokenRequest{LocationId: loc.Id, Name: "branch-gw"}))
	if err != nil {
		t.Fatal(err)
	}
	ap := newApplied()
	done := runRemote(t, b, tok.Msg.GatewayToken, ap)
	ap.waitFor(t, "the first snapshot", isSnapshotWith(""))
	if _, err := a.Admin.RevokeGatewayToken(ctx, servertest.Req(a.AdminToken(), &v1.RevokeGatewayTokenRequest{Id: tok.Msg.Token.Id})); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		wantRefused(t, "the gateway", err, "This gateway token was revoked")
	case <-time.After(15 * time.Second):
		t.Fatal("the gateway following B is still connected after A revoked its token")
	}
}
