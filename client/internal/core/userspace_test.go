package core_test

import (
	"context"
	"errors"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/proxy"

	"github.com/wicket-vpn/wicket/client/internal/core"
	"github.com/wicket-vpn/wicket/client/internal/tunnel"
	v1 "github.com/wicket-vpn/wicket/proto/gen/wicket/v1"
	"github.com/wicket-vpn/wicket/server/wickettest"
)

// TestUserspaceTunnelCarriesTrafficThroughSOCKS is the whole path with
// real parts: MFA with TOTP, the real userspace backend (wireguard-go on
// netstack), the server's embedded netstack gateway, a real handshake, and
// bytes through the SOCKS5 proxy to a host behind the gateway.
func TestUserspaceTunnelCarriesTrafficThroughSOCKS(t *testing.T) {
	s := wickettest.New(t)
	// Handshake times come from the real clock; the harness clock starts
	// at it so the idle threshold compares like with like.
	s.Clock.Set(time.Now())
	port := wickettest.FreeUDPPort(t)
	// The gateway reaches "10.99.0.5" on loopback: the host behind it.
	dial := func(ctx context.Context, network, address string) (net.Conn, error) {
		host, p, _ := net.SplitHostPort(address)
		if host != "10.99.0.5" {
			return nil, errors.New("test gateway reaches only 10.99.0.5")
		}
		var d net.Dialer
		return d.DialContext(ctx, network, net.JoinHostPort("127.0.0.1", p))
	}
	gw := wickettest.StartGateway(t, s, dial)
	loc := s.CreateLocation(&v1.Location{Name: "Office", ListenPort: uint32(port), Endpoint: "127.0.0.1:" + strconv.Itoa(port),
		MfaMode: v1.LocationMfaMode_LOCATION_MFA_MODE_INTERNAL, AllowedIps: []string{"10.10.0.0/24", "10.99.0.0/24"}, PeerDisconnectThresholdSeconds: 300})
	u := s.CreateUser("alice")
	s.EnableTOTP(u)
	echoPort := wickettest.EchoServer(t)

	c, err := core.New(core.Options{ConfigDir: t.TempDir(), Secrets: newMemory(), Log: testLog(t), Tunnels: tunnel.Default, PollInterval: time.Hour, StatsInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.UseSettings(core.Settings{TunnelMode: core.TunnelModeUserspace, SOCKSAddr: "127.0.0.1:0"}); err != nil {
		t.Fatal(err)
	}
	et, err := s.Account.CreateEnrollmentToken(ctx(t), wickettest.Req(u.Token, &v1.CreateEnrollmentTokenRequest{DeviceName: "laptop"}))
	if err != nil {
		t.Fatal(err)
	}
	inst, err := c.Enroll(ctx(t), et.Msg.EnrollmentCode, "laptop")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.DisconnectAll(context.Background()) })

	if err := c.Connect(ctx(t), inst.ID, loc.Id); err != nil {
		t.Fatal(err)
	}
	if err := c.ChooseMethod(ctx(t), inst.ID, loc.Id, core.MethodTOTP); err != nil {
		t.Fatal(err)
	}
	s.Clock.Advance(30 * time.Second) // a fresh TOTP step
	if err := c.SubmitCode(ctx(t), inst.ID, loc.Id, s.TOTPCode(u.TOTPSecret)); err != nil {
		t.Fatal(err)
	}
	v, _ := c.Location(inst.ID, loc.Id)
	if v.State != core.Connected {
		t.Fatalf("state = %v (%s)", v.State, v.Error)
	}
	socksAddr, ok := strings.CutPrefix(v.Offers, "SOCKS5 proxy on ")
	if !ok {
		t.Fatalf("offers = %q", v.Offers)
	}
	pub := mustPublicKey(t, c, inst.ID)
	wctx, cancel := context.WithTimeout(context.Background(), failsafe)
	defer cancel()
	if !gw.WaitPeer(wctx, loc.Id, pub, true) {
		t.Fatal("the gateway never got the device's peer")
	}

	dialer, err := proxy.SOCKS5("tcp", socksAddr, nil, proxy.Direct)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := dialer.(proxy.ContextDialer).DialContext(wctx, "tcp", "10.99.0.5:"+strconv.Itoa(echoPort))
	if err != nil {
		t.Fatalf("dial through the SOCKS proxy: %v", err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(failsafe))
	msg := []byte("hello through wicket's userspace tunnel")
	if _, err := conn.Write(msg); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(conn, got); err != nil || string(got) != string(msg) {
		t.Fatalf("echo = %q, %v", got, err)
	}

	c.RefreshStats()
	v, _ = c.Location(inst.ID, loc.Id)
	if v.LatestHandshake.IsZero() || v.RxBytes == 0 || v.TxBytes == 0 {
		t.Fatalf("stats after traffic = handshake %v rx %d tx %d", v.LatestHandshake, v.RxBytes, v.TxBytes)
	}
	if !v.IdleDisconnectAt.After(v.LatestHandshake) {
		t.Fatalf("idle disconnect at %v", v.IdleDisconnectAt)
	}

	// Outside the location's allowed IPs the proxy refuses at once.
	if _, err := dialer.(proxy.ContextDialer).DialContext(wctx, "tcp", "192.0.2.1:80"); err == nil {
		t.Fatal("the proxy dialled an address the location does not route")
	}

	if err := c.Disconnect(ctx(t), inst.ID, loc.Id); err != nil {
		t.Fatal(err)
	}
	if !gw.WaitPeer(wctx, loc.Id, pub, false) {
		t.Fatal("the peer stayed on the gateway after Disconnect")
	}
	if _, err := net.DialTimeout("tcp", socksAddr, time.Second); err == nil {
		t.Fatal("the SOCKS proxy still listens after Disconnect")
	}
}

func mustPublicKey(t *testing.T, c *core.Core, instID string) string {
	t.Helper()
	v, ok := c.Instance(instID)
	if !ok || v.PublicKey == "" {
		t.Fatal("no public key")
	}
	return v.PublicKey
}
