package tunnel

import (
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/proxy"

	"github.com/wicket-vpn/wicket/shared/wgkey"
)

// loopDialer stands for the tunnel: it dials loopback, remembers what was
// asked, and refuses 192.0.2.0/24 as a location that does not route it.
type loopDialer struct{ asked chan string }

func (d *loopDialer) dial(ctx context.Context, host string, port uint16) (net.Conn, error) {
	d.asked <- net.JoinHostPort(host, itoa(port))
	if strings.HasPrefix(host, "192.0.2.") {
		return nil, errNotRouted
	}
	var nd net.Dialer
	return nd.DialContext(ctx, "tcp", net.JoinHostPort("127.0.0.1", itoa(port)))
}

func itoa(p uint16) string { return strconv.Itoa(int(p)) }

func startSOCKS(t *testing.T) (*socksServer, *loopDialer) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	d := &loopDialer{asked: make(chan string, 16)}
	s := newSOCKSServer(ln, d, nil)
	go s.serve()
	t.Cleanup(func() { s.close() })
	return s, d
}

func echo(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { io.Copy(c, c); c.Close() }()
		}
	}()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	return port
}

func TestSOCKS5Connect(t *testing.T) {
	s, d := startSOCKS(t)
	port := echo(t)
	dialer, err := proxy.SOCKS5("tcp", s.ln.Addr().String(), nil, proxy.Direct)
	if err != nil {
		t.Fatal(err)
	}
	for _, dest := range []string{"10.99.0.5:" + port, "intranet.example:" + port, "[fd00::5]:" + port} {
		c, err := dialer.Dial("tcp", dest)
		if err != nil {
			t.Fatalf("dial %s: %v", dest, err)
		}
		if got := <-d.asked; got != dest {
			t.Fatalf("proxy asked the tunnel for %s, want %s", got, dest)
		}
		c.SetDeadline(time.Now().Add(10 * time.Second))
		c.Write([]byte("ping"))
		buf := make([]byte, 4)
		if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "ping" {
			t.Fatalf("echo via %s = %q %v", dest, buf, err)
		}
		c.Close()
	}
	if _, err := dialer.Dial("tcp", "192.0.2.1:80"); err == nil || !strings.Contains(err.Error(), "not allowed") {
		t.Fatalf("dial outside the routes = %v", err)
	}
}

// raw speaks SOCKS5 by hand for what golang.org/x/net/proxy never sends.
func raw(t *testing.T, addr string, greeting, request []byte) []byte {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	c.Write(greeting)
	reply := make([]byte, 2)
	if _, err := io.ReadFull(c, reply); err != nil {
		t.Fatal(err)
	}
	if request == nil {
		return reply
	}
	c.Write(request)
	rep := make([]byte, 10)
	if _, err := io.ReadFull(c, rep); err != nil {
		t.Fatal(err)
	}
	return rep
}

func TestSOCKS5Refusals(t *testing.T) {
	s, _ := startSOCKS(t)
	addr := s.ln.Addr().String()
	// Only username/password offered: no acceptable method.
	if got := raw(t, addr, []byte{5, 1, 2}, nil); got[1] != socksNoAcceptable {
		t.Fatalf("method reply = %v", got)
	}
	// BIND is not supported.
	if got := raw(t, addr, []byte{5, 1, 0}, []byte{5, 2, 0, 1, 127, 0, 0, 1, 0, 80}); got[1] != socksCommandNotSupported {
		t.Fatalf("BIND reply = %v", got)
	}
	// UDP ASSOCIATE neither.
	if got := raw(t, addr, []byte{5, 1, 0}, []byte{5, 3, 0, 1, 127, 0, 0, 1, 0, 80}); got[1] != socksCommandNotSupported {
		t.Fatalf("UDP reply = %v", got)
	}
	// Unknown address type.
	if got := raw(t, addr, []byte{5, 1, 0}, []byte{5, 1, 0, 9, 0, 0, 0, 0, 0, 0}); got[1] != socksAddrNotSupported {
		t.Fatalf("atyp reply = %v", got)
	}
}

func TestSOCKS5CloseEndsConnections(t *testing.T) {
	s, _ := startSOCKS(t)
	port := echo(t)
	dialer, _ := proxy.SOCKS5("tcp", s.ln.Addr().String(), nil, proxy.Direct)
	c, err := dialer.Dial("tcp", "10.0.0.1:"+port)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := s.close(); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err == nil {
		t.Fatal("a proxied connection outlived the proxy")
	}
}

func TestCheckSOCKSAddr(t *testing.T) {
	for addr, ok := range map[string]bool{
		"127.0.0.1:1080": true, "[::1]:1080": true, "localhost:9050": true, "127.0.0.2:0": true,
		"0.0.0.0:1080": false, "192.168.1.2:1080": false, ":1080": false, "1080": false, "example.com:1080": false,
	} {
		if err := CheckSOCKSAddr(addr); (err == nil) != ok {
			t.Errorf("CheckSOCKSAddr(%q) = %v", addr, err)
		}
	}
}

func TestParseStats(t *testing.T) {
	priv, _ := wgkey.NewPrivate()
	peer := priv.Public().Hex()
	st, err := parseStats("private_key=" + priv.Hex() + "\npublic_key=" + peer + "\nlast_handshake_time_sec=1780000000\nlast_handshake_time_nsec=5\nrx_bytes=1234\ntx_bytes=99\n")
	if err != nil || !st.LatestHandshake.Equal(time.Unix(1780000000, 5)) || st.RxBytes != 1234 || st.TxBytes != 99 {
		t.Fatalf("stats = %+v, %v", st, err)
	}
	if st, err := parseStats("public_key=" + peer + "\nlast_handshake_time_sec=0\nlast_handshake_time_nsec=0\n"); err != nil || !st.LatestHandshake.IsZero() {
		t.Fatalf("no handshake parsed as %v (%v)", st.LatestHandshake, err)
	}
}

func TestUAPI(t *testing.T) {
	priv, _ := wgkey.NewPrivate()
	peer, _ := wgkey.NewPrivate()
	psk, _ := wgkey.NewPreshared()
	cfg := Config{PrivateKey: priv, PeerPublicKey: peer.Public(), PresharedKey: psk, Endpoint: "vpn.example.com:51820",
		Address:    netip.MustParsePrefix("10.10.0.7/32"),
		AllowedIPs: []netip.Prefix{netip.MustParsePrefix("10.10.0.0/24"), netip.MustParsePrefix("10.99.0.0/24")}, Keepalive: 25 * time.Second}
	got := cfg.uapi(netip.MustParseAddrPort("192.0.2.1:51820"))
	want := "private_key=" + priv.Hex() + "\nreplace_peers=true\npublic_key=" + peer.Public().Hex() + "\npreshared_key=" + psk.Hex() +
		"\nendpoint=192.0.2.1:51820\npersistent_keepalive_interval=25\nreplace_allowed_ips=true\nallowed_ip=10.10.0.0/24\nallowed_ip=10.99.0.0/24\n"
	if got != want {
		t.Fatalf("uapi =\n%s\nwant\n%s", got, want)
	}
	cfg.PresharedKey = wgkey.Key{}
	if strings.Contains(cfg.uapi(netip.MustParseAddrPort("192.0.2.1:51820")), "preshared_key") {
		t.Fatal("a zero pre-shared key was configured")
	}
}

func TestUpValidates(t *testing.T) {
	_, err := Default.Up(context.Background(), Config{}, Options{Mode: ModeUserspace})
	if err == nil || !strings.Contains(err.Error(), "private key") {
		t.Fatalf("Up(empty) = %v", err)
	}
	priv, _ := wgkey.NewPrivate()
	cfg := Config{PrivateKey: priv, PeerPublicKey: priv.Public(), Endpoint: "127.0.0.1:9", Address: netip.MustParsePrefix("10.0.0.2/32"),
		AllowedIPs: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/24")}}
	if _, err := Default.Up(context.Background(), cfg, Options{Mode: "bogus"}); err == nil {
		t.Fatal("a bogus mode was accepted")
	}
	// A taken port is reported with what to do.
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	defer ln.Close()
	_, err = Default.Up(context.Background(), cfg, Options{Mode: ModeUserspace, SOCKSAddr: ln.Addr().String()})
	if err == nil || !strings.Contains(err.Error(), "choose another SOCKS address") {
		t.Fatalf("Up on a taken port = %v", err)
	}
	if errors.Is(err, errNotRouted) {
		t.Fatal("wrong error class")
	}
}
