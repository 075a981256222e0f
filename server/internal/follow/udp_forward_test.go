package follow_test

import (
	"bytes"
	"net"
	"net/netip"
	"strconv"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	v1 "github.com/wicket-vpn/wicket/proto/gen/wicket/v1"
	"github.com/wicket-vpn/wicket/server/internal/gateway/gatewaytest"
)

// udpEchoServer answers every datagram on loopback with the same bytes
// prefixed by "echo: "; it stands for a UDP service (DNS, syslog, a game
// server) inside the location's network. It returns the port.
func udpEchoServer(t *testing.T) int {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	go func() {
		buf := make([]byte, 65535)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			pc.WriteTo(append([]byte("echo: "), buf[:n]...), from)
		}
	}()
	return pc.LocalAddr().(*net.UDPAddr).Port
}

// TestUDPForwardingInsideAllowedIPsOnly sends datagrams through a real
// WireGuard tunnel to the netstack gateway, which relays them to a UDP
// echo server on the host and the answers back; a datagram to an address
// outside the location's networks is dropped without a host socket.
func TestUDPForwardingInsideAllowedIPsOnly(t *testing.T) {
	e := newEnv(t, true)
	port := udpEchoServer(t)
	fin := e.finishMFA(t)
	e.waitPeer(t, true)
	tc := proto.Clone(fin.Tunnel).(*v1.TunnelConfig)
	tc.AllowedIps = []string{"0.0.0.0/0"} // the client sends everything; the gateway decides
	c := gatewaytest.NewClient(t, e.d.PrivateKey, tc)
	if err := c.PingUntil(pingCtx(t, 15*time.Second), "10.10.0.1"); err != nil {
		t.Fatal(err)
	}

	dst := netip.AddrPortFrom(netip.MustParseAddr("10.99.0.5"), uint16(port))
	conn, err := c.Net.DialUDPAddrPort(netip.AddrPort{}, dst)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	buf := make([]byte, 2048)
	// Three datagrams of one flow, the last near the tunnel's MTU, each
	// answered in turn.
	for i, msg := range [][]byte{[]byte("hello through the gateway"), []byte("second datagram"), bytes.Repeat([]byte("u"), 1300)} {
		if _, err := conn.Write(msg); err != nil {
			t.Fatalf("datagram %d: %v", i, err)
		}
		conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		n, err := conn.Read(buf)
		if err != nil {
			t.Fatalf("no answer to datagram %d: %v", i, err)
		}
		if want := append([]byte("echo: "), msg...); !bytes.Equal(buf[:n], want) {
			t.Fatalf("answer to datagram %d = %q, want %q", i, buf[:n], want)
		}
	}

	// A datagram outside the allowed IPs is not relayed: no answer, and
	// the gateway never opens a host socket for it.
	outside, err := c.Net.DialUDPAddrPort(netip.AddrPort{}, netip.AddrPortFrom(netip.MustParseAddr("10.98.0.5"), uint16(port)))
	if err != nil {
		t.Fatal(err)
	}
	defer outside.Close()
	if _, err := outside.Write([]byte("nobody should relay this")); err != nil {
		t.Fatal(err)
	}
	// A datagram sent after it on the allowed flow is answered, so the
	// gateway has handled the dropped one by then (the tunnel keeps order).
	if _, err := conn.Write([]byte("after")); err != nil {
		t.Fatal(err)
	}
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	if n, err := conn.Read(buf); err != nil || string(buf[:n]) != "echo: after" {
		t.Fatalf("answer after the dropped datagram = %q, %v", buf[:n], err)
	}
	outside.SetReadDeadline(time.Now())
	if n, err := outside.Read(buf); err == nil {
		t.Fatalf("a datagram outside the allowed IPs was answered: %q", buf[:n])
	}
	want := "10.99.0.5:" + strconv.Itoa(port)
	for _, a := range e.dials.list() {
		if a != want {
			t.Fatalf("the gateway dialled %s (want only %s)", a, want)
		}
	}
}
