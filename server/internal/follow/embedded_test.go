package follow_test

import (
	"context"
	"errors"
	"io"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	v1 "github.com/wicket-vpn/wicket/proto/gen/wicket/v1"
	"github.com/wicket-vpn/wicket/server/internal/follow"
	"github.com/wicket-vpn/wicket/server/internal/gateway"
	"github.com/wicket-vpn/wicket/server/internal/gateway/gatewaytest"
	"github.com/wicket-vpn/wicket/server/internal/peers"
	"github.com/wicket-vpn/wicket/server/internal/servertest"
)

// applied collects the changes a gateway applied, so tests wait for them.
type applied struct {
	ch chan peers.Change
}

func newApplied() *applied { return &applied{ch: make(chan peers.Change, 64)} }

func (a *applied) hook(c peers.Change) { a.ch <- c }

// waitFor returns once a change satisfying ok was applied.
func (a *applied) waitFor(t testing.TB, what string, ok func(peers.Change) bool) {
	t.Helper()
	timeout := time.After(15 * time.Second)
	for {
		select {
		case c := <-a.ch:
			if ok(c) {
				return
			}
		case <-timeout:
			t.Fatalf("gateway never applied %s", what)
		}
	}
}

type env struct {
	s       *servertest.Server
	loc     *v1.Location
	emb     *follow.Embedded
	applied *applied
	u       *servertest.User
	d       *servertest.Device
	dials   *dialLog
}

// dialLog is the gateway's host dialer in tests: destinations in
// 10.99.0.0/24 reach listeners on loopback, by port.
type dialLog struct {
	mu    sync.Mutex
	addrs []string
}

func (l *dialLog) dial(ctx context.Context, network, address string) (net.Conn, error) {
	l.mu.Lock()
	l.addrs = append(l.addrs, address)
	l.mu.Unlock()
	host, port, _ := net.SplitHostPort(address)
	if net.ParseIP(host) == nil || !net.ParseIP(host).Equal(net.ParseIP("10.99.0.5")) {
		return nil, errors.New("test dialer reaches only 10.99.0.5")
	}
	var d net.Dialer
	return d.DialContext(ctx, network, net.JoinHostPort("127.0.0.1", port))
}

func (l *dialLog) list() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.addrs...)
}

func newEnv(t *testing.T, mfa bool) *env {
	s := servertest.New(t)
	// Handshake times come from the real clock; the harness clock starts
	// at it so idle thresholds compare like with like.
	s.Clock.Set(time.Now())
	port := gatewaytest.FreeUDPPort(t)
	mode := v1.LocationMfaMode_LOCATION_MFA_MODE_DISABLED
	if mfa {
		mode = v1.LocationMfaMode_LOCATION_MFA_MODE_INTERNAL
	}
	loc := s.CreateLocation(&v1.Location{Name: "Office", ListenPort: uint32(port), Endpoint: "127.0.0.1:" + strconv.Itoa(port),
		MfaMode: mode, AllowedIps: []string{"10.10.0.0/24", "10.99.0.0/24"}, PeerDisconnectThresholdSeconds: 300})
	e := &env{s: s, loc: loc, applied: newApplied(), dials: &dialLog{}}
	e.emb = follow.NewEmbedded(s.Svc, gateway.Options{Mode: gateway.Netstack, Log: gatewaytest.Log(t), Dial: e.dials.dial, OnApplied: e.applied.hook}, time.Hour)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { e.emb.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	e.u = s.CreateUser("alice")
	s.EnableTOTP(e.u)
	e.d = s.Enroll(e.u, "laptop")
	return e
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

func (e *env) waitPeer(t *testing.T, present bool) {
	t.Helper()
	e.applied.waitFor(t, "the device's peer change", func(peers.Change) bool {
		g := e.emb.Gateway(e.loc.Id)
		if g == nil {
			return false
		}
		has := false
		for _, k := range g.Peers() {
			if k.String() == e.d.PublicKey {
				has = true
			}
		}
		return has == present
	})
}

func pingCtx(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func (e *env) hasPeer(key string) bool {
	g := e.emb.Gateway(e.loc.Id)
	if g == nil {
		return false
	}
	for _, k := range g.Peers() {
		if k.String() == key {
			return true
		}
	}
	return false
}

func TestMFASessionHandshakeAndPing(t *testing.T) {
	e := newEnv(t, true)
	fin := e.finishMFA(t)
	// FinishMfa answers only once the gateway has the peer, so the client's
	// first handshake is never dropped (WireGuard would retry after 5 s).
	if !e.hasPeer(e.d.PublicKey) {
		t.Fatal("FinishMfa answered before the gateway had the peer")
	}
	c := gatewaytest.NewClient(t, e.d.PrivateKey, fin.Tunnel)
	if err := c.PingUntil(pingCtx(t, 15*time.Second), "10.10.0.1"); err != nil {
		t.Fatal(err)
	}
	if c.Handshake().IsZero() {
		t.Fatal("ping answered without a handshake")
	}
}

func TestOldOrWrongPresharedKeyGetsNoHandshake(t *testing.T) {
	e := newEnv(t, true)
	old := e.finishMFA(t)
	e.waitPeer(t, true)
	fresh := e.finishMFA(t) // replaces the first session with a new key
	e.applied.waitFor(t, "the new pre-shared key", func(c peers.Change) bool {
		for _, p := range c.Upserts {
			if p.PresharedKey.String() == fresh.Tunnel.PresharedKey {
				return true
			}
		}
		return false
	})
	if old.Tunnel.PresharedKey == fresh.Tunnel.PresharedKey {
		t.Fatal("a new session reused the pre-shared key")
	}
	stale := gatewaytest.NewClient(t, e.d.PrivateKey, old.Tunnel)
	if err := stale.PingUntil(pingCtx(t, 2*time.Second), "10.10.0.1"); err == nil {
		t.Fatal("the old pre-shared key still reaches the gateway")
	}
	if !stale.Handshake().IsZero() {
		t.Fatal("handshake with the old pre-shared key")
	}
	wrong := proto.Clone(fresh.Tunnel).(*v1.TunnelConfig)
	_, wrong.PresharedKey = servertest.NewKeyPair(t)
	bad := gatewaytest.NewClient(t, e.d.PrivateKey, wrong)
	if err := bad.PingUntil(pingCtx(t, 2*time.Second), "10.10.0.1"); err == nil || !bad.Handshake().IsZero() {
		t.Fatal("handshake with a wrong pre-shared key")
	}
	good := gatewaytest.NewClient(t, e.d.PrivateKey, fresh.Tunnel)
	if err := good.PingUntil(pingCtx(t, 15*time.Second), "10.10.0.1"); err != nil {
		t.Fatal(err)
	}
}

func TestLocationWithoutMFAConnectsWithoutPresharedKey(t *testing.T) {
	e := newEnv(t, false)
	e.waitPeer(t, true) // every allowed device is a static peer
	resp, err := e.s.Client.Connect(servertest.Ctx(t), servertest.Req("", &v1.ConnectRequest{DeviceToken: e.d.Token, LocationId: e.loc.Id}))
	if err != nil {
		t.Fatal(err)
	}
	if resp.Msg.Tunnel.PresharedKey != "" {
		t.Fatal("a location without MFA handed out a pre-shared key")
	}
	c := gatewaytest.NewClient(t, e.d.PrivateKey, resp.Msg.Tunnel)
	if err := c.PingUntil(pingCtx(t, 15*time.Second), "10.10.0.1"); err != nil {
		t.Fatal(err)
	}
}

func TestIdleSweepEndsSessionAndRemovesPeer(t *testing.T) {
	e := newEnv(t, true)
	ctx := servertest.Ctx(t)
	watch, err := e.s.Client.WatchInstance(ctx, servertest.Req("", &v1.WatchInstanceRequest{DeviceToken: e.d.Token, KnownConfigVersion: e.d.Instance.ConfigVersion}))
	if err != nil {
		t.Fatal(err)
	}
	fin := e.finishMFA(t)
	e.waitPeer(t, true)
	c := gatewaytest.NewClient(t, e.d.PrivateKey, fin.Tunnel)
	if err := c.PingUntil(pingCtx(t, 15*time.Second), "10.10.0.1"); err != nil {
		t.Fatal(err)
	}
	// The gateway's report makes the session CONNECTED with its handshake.
	reportNow(t, e.s, e.emb, e.loc.Id)
	sess, err := e.s.Store().SessionByID(ctx, fin.SessionId)
	if err != nil || sess.State != 2 || sess.LatestHandshake.IsZero() || sess.RxBytes == 0 {
		t.Fatalf("session after report = %+v, %v", sess, err)
	}

	// Idleness counts from the latest handshake, or from the authorization
	// when that is later (the harness clock runs ahead of the real one).
	last := sess.LatestHandshake
	if sess.AuthorizedAt.After(last) {
		last = sess.AuthorizedAt
	}
	// Within the threshold nothing ends.
	e.s.Clock.Set(last.Add(299 * time.Second))
	if n, err := e.s.Svc.Sessions.Sweep(ctx); err != nil || n != 0 {
		t.Fatalf("early sweep ended %d (%v)", n, err)
	}
	e.s.Clock.Set(last.Add(301 * time.Second))
	if n, err := e.s.Svc.Sessions.Sweep(ctx); err != nil || n != 1 {
		t.Fatalf("sweep ended %d (%v)", n, err)
	}
	e.waitPeer(t, false)
	if err := c.Ping(pingCtx(t, time.Second), "10.10.0.1"); err == nil {
		t.Fatal("ping still answered after the idle disconnect")
	}
	for watch.Receive() {
		if se := watch.Msg().SessionEnded; se != nil {
			if se.SessionId != fin.SessionId || se.Reason != v1.SessionEndReason_SESSION_END_REASON_IDLE || se.Message == "" {
				t.Fatalf("session_ended = %v", se)
			}
			t.Logf("client was told: %s", se.Message)
			return
		}
	}
	t.Fatalf("watch stream ended without session_ended: %v", watch.Err())
}

func TestTCPForwardingInsideAllowedIPsOnly(t *testing.T) {
	e := newEnv(t, true)
	port := strconv.Itoa(gatewaytest.EchoServer(t))
	fin := e.finishMFA(t)
	e.waitPeer(t, true)
	tc := proto.Clone(fin.Tunnel).(*v1.TunnelConfig)
	tc.AllowedIps = []string{"0.0.0.0/0"} // the client sends everything; the gateway decides
	c := gatewaytest.NewClient(t, e.d.PrivateKey, tc)
	if err := c.PingUntil(pingCtx(t, 15*time.Second), "10.10.0.1"); err != nil {
		t.Fatal(err)
	}
	ctx := pingCtx(t, 10*time.Second)
	conn, err := c.DialTCP(ctx, "10.99.0.5:"+port)
	if err != nil {
		t.Fatalf("dial inside allowed IPs: %v", err)
	}
	msg := []byte("hello through the gateway")
	conn.Write(msg)
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(conn, got); err != nil || string(got) != string(msg) {
		t.Fatalf("echo = %q, %v", got, err)
	}
	conn.Close()

	if _, err := c.DialTCP(ctx, "10.98.0.5:"+port); err == nil {
		t.Fatal("dial outside the allowed IPs succeeded")
	}
	for _, a := range e.dials.list() {
		if a != "10.99.0.5:"+port {
			t.Fatalf("the gateway dialled %s", a)
		}
	}
}

func TestDeadGatewayDoesNotBlockMFA(t *testing.T) {
	e := newEnv(t, true)
	// A gateway that took one change and never asks for the next.
	stuck := e.s.Svc.Sessions.FollowPeers(e.loc.Id)
	defer stuck.Close()
	if _, err := stuck.Next(servertest.Ctx(t)); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	fin := e.finishMFA(t)
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("FinishMfa took %v behind a stuck gateway", took)
	}
	if fin.Tunnel.PresharedKey == "" {
		t.Fatal("no session")
	}
}
