package core_test

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wicket-vpn/wicket/client/internal/core"
	"github.com/wicket-vpn/wicket/client/internal/tunnel"
	v1 "github.com/wicket-vpn/wicket/proto/gen/wicket/v1"
	"github.com/wicket-vpn/wicket/server/wickettest"
)

// namedTunnels gives system tunnels a test name so a real wicket0 is never
// touched.
type namedTunnels struct{ name string }

func (n namedTunnels) Up(ctx context.Context, cfg tunnel.Config, opts tunnel.Options) (tunnel.Tunnel, error) {
	cfg.Name = n.name
	return tunnel.Default.Up(ctx, cfg, opts)
}

// TestSystemTunnelOnKernelTUN brings the Linux system backend up on a real
// TUN device with its address and routes set over netlink, and sends
// traffic from the host's own TCP stack through it to a host behind the
// embedded gateway. It needs CAP_NET_ADMIN and skips without it, saying
// so.
func TestSystemTunnelOnKernelTUN(t *testing.T) {
	if _, err := os.Stat("/dev/net/tun"); err != nil {
		t.Skip("no /dev/net/tun")
	}
	s := wickettest.New(t)
	s.Clock.Set(time.Now())
	port := wickettest.FreeUDPPort(t)
	// Networks unlikely to exist on a test machine.
	const behind = "10.213.77.5"
	dial := func(ctx context.Context, network, address string) (net.Conn, error) {
		host, p, _ := net.SplitHostPort(address)
		if host != behind {
			return nil, errors.New("test gateway reaches only " + behind)
		}
		var d net.Dialer
		return d.DialContext(ctx, network, net.JoinHostPort("127.0.0.1", p))
	}
	gw := wickettest.StartGateway(t, s, dial)
	loc := s.CreateLocation(&v1.Location{Name: "Office", Address: "10.213.76.1/24", ListenPort: uint32(port), Endpoint: "127.0.0.1:" + strconv.Itoa(port),
		MfaMode: v1.LocationMfaMode_LOCATION_MFA_MODE_DISABLED, AllowedIps: []string{"10.213.76.0/24", "10.213.77.0/24"}})
	u := s.CreateUser("alice")
	echoPort := wickettest.EchoServer(t)

	name := "wkt" + strconv.Itoa(os.Getpid()%100000)
	c, err := core.New(core.Options{ConfigDir: t.TempDir(), Secrets: newMemory(), Log: testLog(t), Tunnels: namedTunnels{name}, PollInterval: time.Hour, StatsInterval: time.Hour})
	if err != nil {
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
	err = c.Connect(ctx(t), inst.ID, loc.Id)
	if errors.Is(err, tunnel.ErrNeedsPrivilege) {
		if !strings.Contains(err.Error(), "setcap cap_net_admin+ep") || !strings.Contains(err.Error(), "--userspace") {
			t.Fatalf("the privilege error does not say what to do: %v", err)
		}
		t.Skipf("no CAP_NET_ADMIN here: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	v, _ := c.Location(inst.ID, loc.Id)
	if v.State != core.Connected || !strings.Contains(v.Offers, "through "+name) {
		t.Fatalf("view = %+v", v)
	}
	wctx, cancel := context.WithTimeout(context.Background(), failsafe)
	defer cancel()
	if !gw.WaitPeer(wctx, loc.Id, mustPublicKey(t, c, inst.ID), true) {
		t.Fatal("the gateway never got the peer")
	}
	// The host's own stack: the kernel routes 10.213.77.0/24 into the TUN.
	var d net.Dialer
	conn, err := d.DialContext(wctx, "tcp", net.JoinHostPort(behind, strconv.Itoa(echoPort)))
	if err != nil {
		t.Fatalf("dial through the kernel TUN: %v", err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(failsafe))
	msg := []byte("hello through the kernel tunnel")
	conn.Write(msg)
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(conn, got); err != nil || string(got) != string(msg) {
		t.Fatalf("echo = %q, %v", got, err)
	}
	if err := c.Disconnect(ctx(t), inst.ID, loc.Id); err != nil {
		t.Fatal(err)
	}
	if _, err := net.InterfaceByName(name); err == nil {
		t.Fatalf("interface %s outlived Disconnect", name)
	}
}
