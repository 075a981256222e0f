package tunnel

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/proxy"
	"golang.zx2c4.com/wireguard/conn"
	"golang.zx2c4.com/wireguard/device"
	"golang.zx2c4.com/wireguard/tun/netstack"

	"github.com/wicket-vpn/wicket/shared/wgkey"
)

// The office network behind the test tunnel: the peer owns 10.99.0.1 and
// answers DNS there; nothing owns 10.99.0.9.
var (
	peerAddr   = netip.MustParseAddr("10.99.0.1")
	clientAddr = netip.MustParseAddr("10.99.0.2")
	officeNet  = netip.MustParsePrefix("10.99.0.0/24")
	officeNet6 = netip.MustParsePrefix("fd00:99::/64")
)

// netstackPair brings up two WireGuard devices on userspace network stacks
// that reach each other over loopback UDP, as a client and a gateway do,
// and returns the client's dialer (as the SOCKS5 proxy uses it) and the
// peer's network, where tests listen.
func netstackPair(t *testing.T) (*tunnelDialer, *netstack.Net) {
	t.Helper()
	clientKey, _ := wgkey.NewPrivate()
	peerKey, _ := wgkey.NewPrivate()

	peerTun, peerNet, err := netstack.CreateNetTUN([]netip.Addr{peerAddr}, nil, 1420)
	if err != nil {
		t.Fatal(err)
	}
	peer := device.NewDevice(peerTun, conn.NewDefaultBind(), device.NewLogger(device.LogLevelSilent, ""))
	t.Cleanup(peer.Close)
	if err := peer.IpcSet(fmt.Sprintf("private_key=%s\nlisten_port=0\npublic_key=%s\nallowed_ip=%s/32\n",
		peerKey.Hex(), clientKey.Public().Hex(), clientAddr)); err != nil {
		t.Fatal(err)
	}
	if err := peer.Up(); err != nil {
		t.Fatal(err)
	}
	port := listenPort(t, peer)

	clientTun, clientNet, err := netstack.CreateNetTUN([]netip.Addr{clientAddr}, []netip.Addr{peerAddr}, 1420)
	if err != nil {
		t.Fatal(err)
	}
	client := device.NewDevice(clientTun, conn.NewDefaultBind(), device.NewLogger(device.LogLevelSilent, ""))
	t.Cleanup(client.Close)
	if err := client.IpcSet(fmt.Sprintf("private_key=%s\npublic_key=%s\nendpoint=127.0.0.1:%d\nallowed_ip=%s\nallowed_ip=%s\n",
		clientKey.Hex(), peerKey.Public().Hex(), port, officeNet, officeNet6)); err != nil {
		t.Fatal(err)
	}
	if err := client.Up(); err != nil {
		t.Fatal(err)
	}
	return &tunnelDialer{net: clientNet, allowed: []netip.Prefix{officeNet, officeNet6}, dns: true}, peerNet
}

func listenPort(t *testing.T, d *device.Device) int {
	t.Helper()
	raw, err := d.IpcGet()
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(raw, "\n") {
		if v, ok := strings.CutPrefix(line, "listen_port="); ok {
			var p int
			fmt.Sscan(v, &p)
			return p
		}
	}
	t.Fatal("the device reports no listen port")
	return 0
}

// serveNXDOMAIN answers every DNS query on the peer's port 53 with "no
// such name", as the office's DNS server does for names it does not know.
func serveNXDOMAIN(t *testing.T, n *netstack.Net) {
	t.Helper()
	pc, err := n.ListenUDPAddrPort(netip.AddrPortFrom(peerAddr, 53))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	go func() {
		buf := make([]byte, 1500)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			if n < 12 {
				continue
			}
			q := buf[:n]
			// Keep the ID, the question and the recursion-desired bit; set
			// "response", "recursion available" and RCODE 3 (NXDOMAIN).
			flags := binary.BigEndian.Uint16(q[2:4])
			binary.BigEndian.PutUint16(q[2:4], 0x8000|flags&0x0100|0x0080|3)
			binary.BigEndian.PutUint16(q[6:8], 0)   // answers
			binary.BigEndian.PutUint16(q[8:10], 0)  // authority
			binary.BigEndian.PutUint16(q[10:12], 0) // additional (drops EDNS)
			q = q[:12+questionLen(q[12:])]
			pc.WriteTo(q, from)
		}
	}()
}

// questionLen is the length of the one question at the start of b.
func questionLen(b []byte) int {
	i := 0
	for i < len(b) && b[i] != 0 {
		i += int(b[i]) + 1
	}
	return min(i+1+4, len(b)) // the root label, type and class
}

// waitHandshake pings the peer through the tunnel until it answers, so the
// cases below are not slowed by the first handshake.
func waitHandshake(t *testing.T, d *tunnelDialer, peer *netstack.Net) {
	t.Helper()
	ln, err := peer.ListenTCPAddrPort(netip.AddrPortFrom(peerAddr, 7))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		if c, err := ln.Accept(); err == nil {
			c.Close()
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := d.dial(ctx, peerAddr.String(), 7)
	if err != nil {
		t.Fatalf("no connection through the test tunnel: %v", err)
	}
	c.Close()
}

// TestReplyCodes dials real destinations, through a real tunnel to a
// userspace network stack and on loopback, and checks the SOCKS5 reply
// each failure maps to.
func TestReplyCodes(t *testing.T) {
	d, peer := netstackPair(t)
	serveNXDOMAIN(t, peer)
	waitHandshake(t, d, peer)

	// A loopback port with nothing listening on it.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedPort := ln.Addr().String()
	ln.Close()

	for _, tt := range []struct {
		name string
		dial func(ctx context.Context) (net.Conn, error)
		want byte
	}{
		{"a port the peer does not serve", func(ctx context.Context) (net.Conn, error) {
			return d.dial(ctx, peerAddr.String(), 1)
		}, socksConnectionRefused},
		{"an address the location does not route", func(ctx context.Context) (net.Conn, error) {
			return d.dial(ctx, "192.0.2.1", 80)
		}, socksNotAllowed},
		{"a name the office DNS does not know", func(ctx context.Context) (net.Conn, error) {
			return d.dial(ctx, "nowhere.office.example", 80)
		}, socksHostUnreachable},
		{"an IPv6 address on a stack without IPv6", func(ctx context.Context) (net.Conn, error) {
			return d.dial(ctx, "fd00:99::1", 80)
		}, socksHostUnreachable},
		{"a host that never answers", func(ctx context.Context) (net.Conn, error) {
			ctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
			defer cancel()
			return d.dial(ctx, "10.99.0.9", 80)
		}, socksTTLExpired},
		{"a closed loopback port", func(ctx context.Context) (net.Conn, error) {
			var nd net.Dialer
			return nd.DialContext(ctx, "tcp", closedPort)
		}, socksConnectionRefused},
		{"a loopback dial past its deadline", func(ctx context.Context) (net.Conn, error) {
			nd := net.Dialer{Deadline: time.Now().Add(-time.Second)}
			return nd.DialContext(ctx, "tcp", closedPort)
		}, socksTTLExpired},
		{"something else", func(context.Context) (net.Conn, error) {
			return nil, errors.New("the tunnel is closing")
		}, socksGeneralFailure},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			c, err := tt.dial(ctx)
			if err == nil {
				c.Close()
				t.Fatal("the dial succeeded")
			}
			if got := replyCode(err); got != tt.want {
				t.Fatalf("replyCode(%v) = %d, want %d", err, got, tt.want)
			}
		})
	}
}

// TestSOCKS5RepliesThroughTunnel asks the proxy, over the wire, for
// destinations through a real tunnel and reads the replies it sends.
func TestSOCKS5RepliesThroughTunnel(t *testing.T) {
	d, peer := netstackPair(t)
	serveNXDOMAIN(t, peer)
	waitHandshake(t, d, peer)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := newSOCKSServer(ln, d, nil)
	go s.serve()
	t.Cleanup(func() { s.close() })

	for dest, want := range map[string]string{
		"10.99.0.1:1":               "connection refused",
		"192.0.2.1:80":              "connection not allowed by ruleset",
		"nowhere.office.example:80": "host unreachable",
		"bad_.-name.example:80":     "host unreachable",
	} {
		dialer, err := proxy.SOCKS5("tcp", ln.Addr().String(), nil, proxy.Direct)
		if err != nil {
			t.Fatal(err)
		}
		_, err = dialer.Dial("tcp", dest)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("dial %s through the proxy = %v, want %q", dest, err, want)
		}
	}

	// The peer's own service is reached.
	pl, err := peer.ListenTCPAddrPort(netip.AddrPortFrom(peerAddr, 8080))
	if err != nil {
		t.Fatal(err)
	}
	defer pl.Close()
	go func() {
		if c, err := pl.Accept(); err == nil {
			c.Write([]byte("office"))
			c.Close()
		}
	}()
	dialer, _ := proxy.SOCKS5("tcp", ln.Addr().String(), nil, proxy.Direct)
	c, err := dialer.Dial("tcp", "10.99.0.1:8080")
	if err != nil {
		t.Fatalf("dial the peer's service through the proxy: %v", err)
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 6)
	if n, err := c.Read(buf); err != nil || string(buf[:n]) != "office" {
		t.Fatalf("read %q, %v", buf[:n], err)
	}
}
