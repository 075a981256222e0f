package gateway_test

import (
	"context"
	"log/slog"
	"strconv"
	"testing"
	"time"

	v1 "github.com/wicket-vpn/wicket/proto/gen/wicket/v1"
	"github.com/wicket-vpn/wicket/server/internal/gateway"
	"github.com/wicket-vpn/wicket/server/internal/gateway/gatewaytest"
	"github.com/wicket-vpn/wicket/server/internal/servertest"
)

type env struct {
	s   *servertest.Server
	loc *v1.Location
	emb *gateway.Embedded
	u   *servertest.User
	d   *servertest.Device
}

func newEnv(t *testing.T, mfa bool) *env {
	s := servertest.New(t)
	port := gatewaytest.FreeUDPPort(t)
	mode := v1.LocationMfaMode_LOCATION_MFA_MODE_DISABLED
	if mfa {
		mode = v1.LocationMfaMode_LOCATION_MFA_MODE_INTERNAL
	}
	loc := s.CreateLocation(&v1.Location{Name: "Office", ListenPort: uint32(port), Endpoint: "127.0.0.1:" + strconv.Itoa(port), MfaMode: mode})
	emb := gateway.NewEmbedded(s.Svc, gateway.Options{Mode: gateway.Netstack, Log: slog.New(slog.DiscardHandler)}, time.Hour)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { emb.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	u := s.CreateUser("alice")
	s.EnableTOTP(u)
	d := s.Enroll(u, "laptop")
	return &env{s: s, loc: loc, emb: emb, u: u, d: d}
}

func (e *env) finishMFA(t *testing.T) *v1.FinishMfaResponse {
	t.Helper()
	ctx := servertest.Ctx(t)
	st, err := e.s.Client.StartMfa(ctx, servertest.Req("", &v1.StartMfaRequest{DeviceToken: e.d.Token, LocationId: e.loc.Id, Method: v1.MfaMethod_MFA_METHOD_TOTP}))
	if err != nil {
		t.Fatal(err)
	}
	e.s.Clock.Advance(30 * time.Second)
	fin, err := e.s.Client.FinishMfa(ctx, servertest.Req("", &v1.FinishMfaRequest{ChallengeToken: st.Msg.ChallengeToken, Code: e.s.TOTPCode(e.u.TOTPSecret)}))
	if err != nil {
		t.Fatal(err)
	}
	return fin.Msg
}

func TestMFASessionHandshakeAndPing(t *testing.T) {
	e := newEnv(t, true)
	fin := e.finishMFA(t)
	c := gatewaytest.NewClient(t, e.d.PrivateKey, fin.Tunnel)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := c.PingUntil(ctx, "10.10.0.1"); err != nil {
		g := e.emb.Gateway(e.loc.Id)
		if g != nil {
			st, _ := g.Stats()
			t.Logf("gateway peers %v stats %+v", g.Peers(), st)
		}
		t.Logf("client handshake %v", c.Handshake())
		t.Fatal(err)
	}
	if c.Handshake().IsZero() {
		t.Fatal("ping answered without a handshake")
	}
}
