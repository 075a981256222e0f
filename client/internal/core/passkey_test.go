package core_test

import (
	"context"
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

// TestPasskeyConnectsThroughTheBrowser is the whole passkey path with real
// parts: the core starts a passkey challenge and hands browser_url to the
// browser (Options.OpenURL); real Chromium with a virtual authenticator
// confirms it on the server's page while the core waits in AwaitMfa; the
// real userspace tunnel comes up through the embedded netstack gateway
// and carries traffic. The method is remembered for the location.
func TestPasskeyConnectsThroughTheBrowser(t *testing.T) {
	s := wickettest.New(t, wickettest.WithHostName("localhost"), wickettest.WithPages())
	s.Clock.Set(time.Now()) // handshakes carry real times
	port := wickettest.FreeUDPPort(t)
	gw := wickettest.StartGateway(t, s, func(ctx context.Context, network, address string) (net.Conn, error) {
		_, p, _ := net.SplitHostPort(address)
		var d net.Dialer
		return d.DialContext(ctx, network, net.JoinHostPort("127.0.0.1", p))
	})
	loc := s.CreateLocation(&v1.Location{Name: "Office", ListenPort: uint32(port), Endpoint: "127.0.0.1:" + strconv.Itoa(port),
		MfaMode: v1.LocationMfaMode_LOCATION_MFA_MODE_INTERNAL, AllowedIps: []string{"10.10.0.0/24", "10.99.0.0/24"}, PeerDisconnectThresholdSeconds: 300})
	u := s.CreateUser("alice")
	et, err := s.Account.CreateEnrollmentToken(ctx(t), wickettest.Req(u.Token, &v1.CreateEnrollmentTokenRequest{DeviceName: "laptop"}))
	if err != nil {
		t.Fatal(err)
	}
	browser := wickettest.NewBrowser(t)
	browser.AddPasskey(s, u)

	opened := make(chan string, 1)
	c, err := core.New(core.Options{ConfigDir: t.TempDir(), Secrets: newMemory(), Log: testLog(t), Tunnels: tunnel.Default, PollInterval: time.Hour, StatsInterval: time.Hour,
		OpenURL: func(url string) error { opened <- url; return nil }})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.UseSettings(core.Settings{TunnelMode: core.TunnelModeUserspace, SOCKSAddr: "127.0.0.1:0"}); err != nil {
		t.Fatal(err)
	}
	inst, err := c.Enroll(ctx(t), et.Msg.EnrollmentCode, "laptop")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.DisconnectAll(context.Background()) })
	iv, _ := c.Instance(inst.ID)
	if len(iv.EnabledMethods) != 1 || iv.EnabledMethods[0] != core.MethodPasskey {
		t.Fatalf("the instance offers %v, want the passkey", iv.EnabledMethods)
	}
	if err := c.Connect(ctx(t), inst.ID, loc.Id); err != nil {
		t.Fatal(err)
	}
	if err := c.ChooseMethod(ctx(t), inst.ID, loc.Id, core.MethodPasskey); err != nil {
		t.Fatal(err)
	}
	v, _ := c.Location(inst.ID, loc.Id)
	if v.State != core.AwaitingCode || v.Method != core.MethodPasskey || !strings.HasPrefix(v.BrowserURL, s.URL+"/connect/passkey?challenge=") {
		t.Fatalf("after choosing the passkey: %+v", v)
	}
	var url string
	select {
	case url = <-opened:
	case <-ctx(t).Done():
		t.Fatal("the core did not open the browser")
	}
	if url != v.BrowserURL {
		t.Fatalf("opened %q, the view says %q", url, v.BrowserURL)
	}
	if err := c.SubmitCode(ctx(t), inst.ID, loc.Id, "123456"); err == nil {
		t.Fatal("a code was taken for a passkey challenge")
	}

	events, unsubscribe := c.Subscribe() // what follows the choice
	defer unsubscribe()
	if got := browser.Approve(url); !strings.HasPrefix(got, "Confirmed.") {
		t.Fatalf("the page says %q", got)
	}
	for v.State != core.Connected {
		select {
		case ev := <-events:
			if ev.LocationID == loc.Id && ev.Kind == core.EventLocationChanged {
				v = ev.Location
				if v.State == core.Failed || v.State == core.AwaitingMethod {
					t.Fatalf("after the approval: %v (%s)", v.State, v.Error)
				}
			}
		case <-ctx(t).Done():
			t.Fatalf("not connected after the approval: %v", v.State)
		}
	}
	pub := mustPublicKey(t, c, inst.ID)
	wctx, cancel := context.WithTimeout(context.Background(), failsafe)
	defer cancel()
	if !gw.WaitPeer(wctx, loc.Id, pub, true) {
		t.Fatal("the gateway never got the device's peer")
	}
	echoThroughSOCKS(t, wctx, v, wickettest.EchoServer(t))
	c.RefreshStats()
	if v, _ = c.Location(inst.ID, loc.Id); v.LatestHandshake.IsZero() {
		t.Fatal("no handshake after traffic")
	}

	// The next Connect preselects the passkey.
	if err := c.Disconnect(ctx(t), inst.ID, loc.Id); err != nil {
		t.Fatal(err)
	}
	if err := c.Connect(ctx(t), inst.ID, loc.Id); err != nil {
		t.Fatal(err)
	}
	if v, _ = c.Location(inst.ID, loc.Id); v.Method != core.MethodPasskey {
		t.Fatalf("preselected %q after a passkey connection", v.Method)
	}
	c.Cancel(inst.ID, loc.Id)
}

// echoThroughSOCKS sends bytes through the location's SOCKS proxy to the
// echo server, as reached behind the gateway, and checks they come back.
func echoThroughSOCKS(t *testing.T, ctx context.Context, v core.LocationView, echoPort int) {
	t.Helper()
	socksAddr, ok := strings.CutPrefix(v.Offers, "SOCKS5 proxy on ")
	if !ok {
		t.Fatalf("offers = %q", v.Offers)
	}
	dialer, err := proxy.SOCKS5("tcp", socksAddr, nil, proxy.Direct)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := dialer.(proxy.ContextDialer).DialContext(ctx, "tcp", "10.99.0.5:"+strconv.Itoa(echoPort))
	if err != nil {
		t.Fatalf("dial through the SOCKS proxy: %v", err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(failsafe))
	msg := []byte("hello through a passkey-approved tunnel")
	if _, err := conn.Write(msg); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(conn, got); err != nil || string(got) != string(msg) {
		t.Fatalf("echo = %q, %v", got, err)
	}
}
