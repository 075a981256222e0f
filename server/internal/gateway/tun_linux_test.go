package gateway_test

import (
	"net/netip"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	v1 "github.com/wicket-vpn/wicket/proto/gen/wicket/v1"
	"github.com/wicket-vpn/wicket/server/internal/gateway"
	"github.com/wicket-vpn/wicket/server/internal/gateway/gatewaytest"
	"github.com/wicket-vpn/wicket/server/internal/peers"
	"github.com/wicket-vpn/wicket/shared/wgkey"
)

func TestKernelTUNGateway(t *testing.T) {
	if f, err := os.OpenFile("/dev/net/tun", os.O_RDWR, 0); err != nil {
		t.Skipf("kernel TUN unavailable here (%v); tun mode is covered where /dev/net/tun works", err)
	} else {
		f.Close()
	}
	if os.Geteuid() != 0 {
		t.Skip("kernel TUN needs CAP_NET_ADMIN; run the tests as root to cover tun mode")
	}
	srvKey, _ := wgkey.NewPrivate()
	cliKey, _ := wgkey.NewPrivate()
	psk, _ := wgkey.NewPreshared()
	port := gatewaytest.FreeUDPPort(t)
	const name = "wkt-test0"
	g := gateway.New(gateway.Options{Mode: gateway.TUN, TUNName: name, Log: gatewaytest.Log(t)})
	defer g.Close()
	err := g.Apply(peers.Change{Snapshot: true,
		Interface: peers.Interface{LocationID: "l", PrivateKey: srvKey, Address: netip.MustParsePrefix("10.213.0.1/24"), ListenPort: port, MTU: 1420,
			AllowedIPs: []netip.Prefix{netip.MustParsePrefix("10.213.0.0/24")}},
		Peers: []peers.Peer{{PublicKey: cliKey.Public(), AllowedIPs: []netip.Prefix{netip.MustParsePrefix("10.213.0.2/32")}, PresharedKey: psk}},
	})
	if err != nil {
		t.Fatal(err)
	}
	link, err := netlink.LinkByName(name)
	if err != nil {
		t.Fatalf("interface %s missing: %v", name, err)
	}
	addrs, err := netlink.AddrList(link, netlink.FAMILY_V4)
	if err != nil || len(addrs) != 1 || addrs[0].IPNet.String() != "10.213.0.1/24" {
		t.Fatalf("addresses of %s: %v, %v", name, addrs, err)
	}
	c := gatewaytest.NewClient(t, cliKey.String(), &v1.TunnelConfig{
		Address: "10.213.0.2/32", ServerPublicKey: srvKey.Public().String(), Endpoint: "127.0.0.1:" + strconv.Itoa(port),
		AllowedIps: []string{"10.213.0.0/24"}, PresharedKey: psk.String(),
	})
	if err := c.PingUntil(pingCtx(t, 15*time.Second), "10.213.0.1"); err != nil {
		t.Fatalf("the kernel did not answer through the tunnel: %v", err)
	}
	g.Close()
	if _, err := netlink.LinkByName(name); err == nil {
		t.Fatalf("interface %s left behind", name)
	}
}
