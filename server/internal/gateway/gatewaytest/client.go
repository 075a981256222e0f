// Package gatewaytest brings a real WireGuard client tunnel up in process
// (wireguard-go on netstack) from the TunnelConfig the server hands out, for
// end-to-end tests of gateways.
package gatewaytest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"testing"
	"time"

	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"
	"golang.zx2c4.com/wireguard/conn"
	"golang.zx2c4.com/wireguard/device"
	"golang.zx2c4.com/wireguard/tun/netstack"

	v1 "github.com/wicket-vpn/wicket/proto/gen/wicket/v1"
	"github.com/wicket-vpn/wicket/shared/uapi"
	"github.com/wicket-vpn/wicket/shared/wgkey"
)

// Client is a WireGuard client tunnel on netstack.
type Client struct {
	Dev *device.Device
	Net *netstack.Net
}

// NewClient brings a tunnel up with the device's private key (base64) and
// the server's tunnel config; it is closed when the test ends.
func NewClient(t testing.TB, privateKey string, tc *v1.TunnelConfig) *Client {
	t.Helper()
	c, err := Start(privateKey, tc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// Start brings a tunnel up like NewClient but leaves closing it to the
// caller, for benchmarks that bring many tunnels up and down.
func Start(privateKey string, tc *v1.TunnelConfig) (*Client, error) {
	addr, err := netip.ParsePrefix(tc.Address)
	if err != nil {
		return nil, fmt.Errorf("tunnel address %q: %v", tc.Address, err)
	}
	mtu := int(tc.Mtu)
	if mtu == 0 {
		mtu = 1420
	}
	cfg, err := config(privateKey, tc)
	if err != nil {
		return nil, err
	}
	td, tnet, err := netstack.CreateNetTUN([]netip.Addr{addr.Addr()}, nil, mtu)
	if err != nil {
		return nil, err
	}
	dev := device.NewDevice(td, conn.NewDefaultBind(), device.NewLogger(device.LogLevelSilent, ""))
	if err := dev.IpcSet(cfg.Encode()); err != nil {
		dev.Close()
		return nil, err
	}
	if err := dev.Up(); err != nil {
		dev.Close()
		return nil, err
	}
	return &Client{Dev: dev, Net: tnet}, nil
}

// config is the device's configuration for the private key (base64) and
// the server's tunnel config.
func config(privateKey string, tc *v1.TunnelConfig) (uapi.Config, error) {
	priv, err := wgkey.Parse(privateKey)
	if err != nil {
		return uapi.Config{}, fmt.Errorf("private key: %w", err)
	}
	peer := uapi.PeerConfig{}
	if peer.PublicKey, err = wgkey.Parse(tc.ServerPublicKey); err != nil {
		return uapi.Config{}, fmt.Errorf("server public key: %w", err)
	}
	if tc.PresharedKey != "" {
		if peer.PresharedKey, err = wgkey.Parse(tc.PresharedKey); err != nil {
			return uapi.Config{}, fmt.Errorf("pre-shared key: %w", err)
		}
	}
	if peer.Endpoint, err = netip.ParseAddrPort(tc.Endpoint); err != nil {
		return uapi.Config{}, fmt.Errorf("endpoint: %w", err)
	}
	for _, a := range tc.AllowedIps {
		p, err := netip.ParsePrefix(a)
		if err != nil {
			return uapi.Config{}, fmt.Errorf("allowed IPs: %w", err)
		}
		peer.AllowedIPs = append(peer.AllowedIPs, p)
	}
	return uapi.Config{PrivateKey: priv, Peers: []uapi.PeerConfig{peer}}, nil
}

// Close takes the tunnel down (idempotent).
func (c *Client) Close() { c.Dev.Close() }

// Ping sends one echo request to addr and waits for the reply until ctx ends.
func (c *Client) Ping(ctx context.Context, addr string) error {
	sock, err := c.Net.Dial("ping4", addr)
	if err != nil {
		return err
	}
	defer sock.Close()
	if dl, ok := ctx.Deadline(); ok {
		sock.SetDeadline(dl)
	}
	req := icmp.Echo{ID: rand.IntN(1 << 16), Seq: rand.IntN(1 << 16), Data: []byte("wicket ping")}
	msg, _ := (&icmp.Message{Type: ipv4.ICMPTypeEcho, Body: &req}).Marshal(nil)
	if _, err := sock.Write(msg); err != nil {
		return err
	}
	buf := make([]byte, 1500)
	n, err := sock.Read(buf)
	if err != nil {
		return err
	}
	rep, err := icmp.ParseMessage(1, buf[:n])
	if err != nil {
		return err
	}
	echo, ok := rep.Body.(*icmp.Echo)
	if !ok || echo.Seq != req.Seq || !bytes.Equal(echo.Data, req.Data) {
		return fmt.Errorf("unexpected reply %v", rep)
	}
	return nil
}

// PingUntil pings until a reply comes or ctx ends; the first packets may be
// spent on the handshake.
func (c *Client) PingUntil(ctx context.Context, addr string) error {
	for {
		pctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
		err := c.Ping(pctx, addr)
		cancel()
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("no ping reply from %s: %w", addr, err)
		}
	}
}

// Handshake reports the client's latest handshake time, zero when none.
func (c *Client) Handshake() time.Time {
	raw, err := c.Dev.IpcGet()
	if err != nil {
		return time.Time{}
	}
	d, err := uapi.ParseDevice(raw)
	if err != nil || len(d.Peers) == 0 {
		return time.Time{}
	}
	return d.Peers[0].LatestHandshake
}

// DialTCP opens a TCP connection through the tunnel.
func (c *Client) DialTCP(ctx context.Context, addr string) (net.Conn, error) {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		return nil, err
	}
	return c.Net.DialContextTCPAddrPort(ctx, ap)
}

// FreeUDPPort returns a UDP port free on loopback now.
func FreeUDPPort(t testing.TB) int {
	t.Helper()
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}

// EchoServer listens for TCP on loopback and echoes what it reads; it
// stands for a host inside a location's network. It returns the port.
func EchoServer(t testing.TB) int {
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
	return ln.Addr().(*net.TCPAddr).Port
}
