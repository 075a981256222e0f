// Package gateway runs a location's WireGuard device with wireguard-go and
// keeps its peers equal to the peer set the server publishes. It is
// level-triggered: a snapshot replaces everything, then upserts and removes
// follow; it never decides who may connect. The same code runs embedded in
// wicketd and as the standalone `wicketd gateway`.
package gateway

import (
	"bufio"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.zx2c4.com/wireguard/conn"
	"golang.zx2c4.com/wireguard/device"
	"golang.zx2c4.com/wireguard/tun"

	"github.com/wicket-vpn/wicket/shared/wgkey"
)

// Mode is how the gateway reaches the network.
type Mode string

// The gateway modes.
const (
	// Netstack needs no privileges: wireguard-go on a userspace TCP/IP
	// stack that answers ping on the location's address and forwards TCP
	// and UDP to destinations inside the allowed IPs through host sockets.
	Netstack Mode = "netstack"
	// TUN uses a kernel TUN interface and needs CAP_NET_ADMIN.
	TUN Mode = "tun"
	// Off runs no gateway.
	Off Mode = "off"
)

// ParseMode reads a --gateway value.
func ParseMode(s string) (Mode, error) {
	switch Mode(s) {
	case Netstack, TUN, Off:
		return Mode(s), nil
	}
	return "", fmt.Errorf("gateway mode %q: use netstack, tun or off", s)
}

// Interface is the WireGuard interface of a location.
type Interface struct {
	LocationID string
	PrivateKey wgkey.Key
	Address    netip.Prefix
	ListenPort int
	MTU        int
	AllowedIPs []netip.Prefix
}

func (a Interface) equal(b Interface) bool {
	return a.LocationID == b.LocationID && a.PrivateKey == b.PrivateKey && a.Address == b.Address &&
		a.ListenPort == b.ListenPort && a.MTU == b.MTU && slices.Equal(a.AllowedIPs, b.AllowedIPs)
}

// Peer is one client the gateway lets in.
type Peer struct {
	PublicKey    wgkey.Key
	AllowedIPs   []netip.Prefix
	PresharedKey wgkey.Key // zero for locations without MFA
}

// Change is what the gateway must do; a Snapshot replaces everything.
type Change struct {
	Snapshot  bool
	Interface Interface
	Peers     []Peer
	Upserts   []Peer
	Removes   []wgkey.Key
}

// PeerStats is what the gateway knows about a peer.
type PeerStats struct {
	PublicKey       wgkey.Key
	Endpoint        string
	RxBytes         uint64
	TxBytes         uint64
	LatestHandshake time.Time
}

// Options configure a gateway.
type Options struct {
	Mode Mode
	Log  *slog.Logger
	// Dial opens host connections for forwarded flows (netstack mode);
	// net.Dialer when nil.
	Dial DialFunc
	// TUNName names the kernel interface (tun mode); "wicket%d" when empty.
	TUNName string
	// OnApplied, when set, is called after each change is applied (tests
	// wait on it instead of guessing).
	OnApplied func(Change)
}

// Gateway is one location's WireGuard device.
type Gateway struct {
	opts Options
	log  *slog.Logger

	mu    sync.Mutex
	iface *Interface
	dev   *device.Device
	tun   tun.Device
	peers map[wgkey.Key]Peer
	sent  map[wgkey.Key]PeerStats
}

// New returns a gateway with no device; the first snapshot creates it.
func New(opts Options) *Gateway {
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.Dial == nil {
		var d net.Dialer
		opts.Dial = d.DialContext
	}
	if opts.Mode == "" {
		opts.Mode = Netstack
	}
	return &Gateway{opts: opts, log: opts.Log, peers: map[wgkey.Key]Peer{}, sent: map[wgkey.Key]PeerStats{}}
}

// Apply makes the device match a change.
func (g *Gateway) Apply(ch Change) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if ch.Snapshot {
		if g.iface == nil || !g.iface.equal(ch.Interface) {
			if err := g.recreate(ch.Interface); err != nil {
				return err
			}
		}
		want := make(map[wgkey.Key]Peer, len(ch.Peers))
		for _, p := range ch.Peers {
			want[p.PublicKey] = p
		}
		var ups []Peer
		var rms []wgkey.Key
		for k, p := range want {
			if old, ok := g.peers[k]; !ok || !samePeer(old, p) {
				ups = append(ups, p)
			}
		}
		for k := range g.peers {
			if _, ok := want[k]; !ok {
				rms = append(rms, k)
			}
		}
		return g.set(ups, rms)
	}
	if g.dev == nil {
		return errors.New("peer change before the first snapshot")
	}
	return g.set(ch.Upserts, ch.Removes)
}

func samePeer(a, b Peer) bool {
	return a.PublicKey == b.PublicKey && a.PresharedKey == b.PresharedKey && slices.Equal(a.AllowedIPs, b.AllowedIPs)
}

// set applies peer upserts and removals through the UAPI. A peer whose
// pre-shared key changed is removed and added again, so no session keys
// derived from the old key survive.
func (g *Gateway) set(ups []Peer, rms []wgkey.Key) error {
	if len(ups) == 0 && len(rms) == 0 {
		return nil
	}
	var b strings.Builder
	for _, k := range rms {
		fmt.Fprintf(&b, "public_key=%s\nremove=true\n", k.Hex())
	}
	for _, p := range ups {
		if old, ok := g.peers[p.PublicKey]; ok && old.PresharedKey != p.PresharedKey {
			fmt.Fprintf(&b, "public_key=%s\nremove=true\n", p.PublicKey.Hex())
		}
		fmt.Fprintf(&b, "public_key=%s\npreshared_key=%s\nreplace_allowed_ips=true\n", p.PublicKey.Hex(), p.PresharedKey.Hex())
		for _, a := range p.AllowedIPs {
			fmt.Fprintf(&b, "allowed_ip=%s\n", a)
		}
	}
	if err := g.dev.IpcSet(b.String()); err != nil {
		return fmt.Errorf("configure WireGuard peers: %w", err)
	}
	for _, k := range rms {
		delete(g.peers, k)
		delete(g.sent, k)
	}
	for _, p := range ups {
		g.peers[p.PublicKey] = p
		delete(g.sent, p.PublicKey)
	}
	g.log.Debug("gateway peers changed", "upserts", len(ups), "removes", len(rms), "peers", len(g.peers))
	return nil
}

// recreate replaces the device for a new interface.
func (g *Gateway) recreate(iface Interface) error {
	g.closeDevice()
	mtu := iface.MTU
	if mtu == 0 {
		mtu = 1420
	}
	var td tun.Device
	var err error
	switch g.opts.Mode {
	case Netstack:
		fwd := &forwarder{allowed: iface.AllowedIPs, self: iface.Address.Addr(), dial: g.opts.Dial, log: g.log}
		td, err = newNetTUN(iface.Address, mtu, fwd)
	case TUN:
		td, err = newKernelTUN(g.opts.TUNName, iface.Address, mtu)
	default:
		return fmt.Errorf("gateway mode %q cannot run a device", g.opts.Mode)
	}
	if err != nil {
		return err
	}
	logger := &device.Logger{
		Verbosef: func(format string, args ...any) { g.log.Debug(fmt.Sprintf(format, args...), "component", "wireguard") },
		Errorf:   func(format string, args ...any) { g.log.Warn(fmt.Sprintf(format, args...), "component", "wireguard") },
	}
	dev := device.NewDevice(td, conn.NewDefaultBind(), logger)
	if err := dev.IpcSet(fmt.Sprintf("private_key=%s\nlisten_port=%d\n", iface.PrivateKey.Hex(), iface.ListenPort)); err != nil {
		dev.Close()
		return fmt.Errorf("configure WireGuard interface: %w", err)
	}
	if err := dev.Up(); err != nil {
		dev.Close()
		return fmt.Errorf("bring WireGuard up on UDP port %d: %w (is the port in use? choose another listen port for the location)", iface.ListenPort, err)
	}
	g.dev, g.tun = dev, td
	i := iface
	g.iface = &i
	g.peers = map[wgkey.Key]Peer{}
	g.sent = map[wgkey.Key]PeerStats{}
	g.log.Info("gateway interface up", "location", iface.LocationID, "address", iface.Address, "port", iface.ListenPort, "mode", g.opts.Mode)
	return nil
}

func (g *Gateway) closeDevice() {
	if g.dev != nil {
		g.dev.Close() // closes the TUN too
		g.dev, g.tun, g.iface = nil, nil, nil
	}
}

// Close stops the device.
func (g *Gateway) Close() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.closeDevice()
}

// Peers returns the public keys the device has now.
func (g *Gateway) Peers() []wgkey.Key {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := make([]wgkey.Key, 0, len(g.peers))
	for k := range g.peers {
		out = append(out, k)
	}
	return out
}

// Stats reads every peer's statistics from the device.
func (g *Gateway) Stats() ([]PeerStats, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.stats()
}

func (g *Gateway) stats() ([]PeerStats, error) {
	if g.dev == nil {
		return nil, nil
	}
	raw, err := g.dev.IpcGet()
	if err != nil {
		return nil, fmt.Errorf("read WireGuard statistics: %w", err)
	}
	return parseStats(raw)
}

// ChangedStats returns the peers whose statistics changed since the last
// call, which is what a gateway reports.
func (g *Gateway) ChangedStats() ([]PeerStats, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	all, err := g.stats()
	if err != nil {
		return nil, err
	}
	var out []PeerStats
	for _, s := range all {
		if old, ok := g.sent[s.PublicKey]; ok && old == s {
			continue
		}
		g.sent[s.PublicKey] = s
		out = append(out, s)
	}
	return out, nil
}

// parseStats reads wireguard-go's UAPI "get" output.
func parseStats(raw string) ([]PeerStats, error) {
	var out []PeerStats
	var cur *PeerStats
	var sec, nsec int64
	flush := func() {
		if cur != nil {
			if sec != 0 || nsec != 0 {
				cur.LatestHandshake = time.Unix(sec, nsec).UTC()
			}
			out = append(out, *cur)
		}
		sec, nsec = 0, 0
	}
	sc := bufio.NewScanner(strings.NewReader(raw))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), "=")
		if !ok {
			continue
		}
		switch k {
		case "public_key":
			flush()
			key, err := keyFromHex(v)
			if err != nil {
				return nil, err
			}
			cur = &PeerStats{PublicKey: key}
		case "endpoint":
			if cur != nil {
				cur.Endpoint = v
			}
		case "rx_bytes":
			if cur != nil {
				cur.RxBytes, _ = strconv.ParseUint(v, 10, 64)
			}
		case "tx_bytes":
			if cur != nil {
				cur.TxBytes, _ = strconv.ParseUint(v, 10, 64)
			}
		case "last_handshake_time_sec":
			sec, _ = strconv.ParseInt(v, 10, 64)
		case "last_handshake_time_nsec":
			nsec, _ = strconv.ParseInt(v, 10, 64)
		}
	}
	flush()
	return out, sc.Err()
}

func keyFromHex(s string) (wgkey.Key, error) {
	var k wgkey.Key
	if len(s) != 64 {
		return k, fmt.Errorf("bad key in WireGuard statistics")
	}
	for i := range k {
		v, err := strconv.ParseUint(s[2*i:2*i+2], 16, 8)
		if err != nil {
			return k, fmt.Errorf("bad key in WireGuard statistics")
		}
		k[i] = byte(v)
	}
	return k, nil
}
