// Package gateway drives a location's WireGuard device with wireguard-go,
// on a userspace TCP/IP stack (netstack) or a kernel TUN interface, and
// keeps its peers equal to the peer changes it is given. It is
// level-triggered: a snapshot replaces everything, then upserts and removes
// follow; it never decides who may connect. It knows nothing of where the
// changes come from: package follow feeds it in wicketd from the session
// manager, and in `wicketd gateway` from GatewayService.
package gateway

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	"golang.zx2c4.com/wireguard/conn"
	"golang.zx2c4.com/wireguard/device"
	"golang.zx2c4.com/wireguard/tun"

	"github.com/wicket-vpn/wicket/server/internal/peers"
	"github.com/wicket-vpn/wicket/shared/uapi"
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
	OnApplied func(peers.Change)
}

// Gateway is one location's WireGuard device.
type Gateway struct {
	opts Options
	log  *slog.Logger

	mu    sync.Mutex
	iface *peers.Interface
	dev   *device.Device
	tun   tun.Device
	peers peers.Set
	sent  map[wgkey.Key]sentStats
	get   bytes.Buffer // the device's last report, kept for the next
}

// sentStats is what the last report said of a peer.
type sentStats struct {
	endpoint  netip.AddrPort
	rx, tx    uint64
	handshake time.Time
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
	return &Gateway{opts: opts, log: opts.Log, peers: peers.Set{}, sent: map[wgkey.Key]sentStats{}}
}

// Apply makes the device match a change.
func (g *Gateway) Apply(ch peers.Change) error {
	if err := g.apply(ch); err != nil {
		return err
	}
	if g.opts.OnApplied != nil {
		g.opts.OnApplied(ch)
	}
	return nil
}

func (g *Gateway) apply(ch peers.Change) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if ch.Snapshot {
		if g.iface == nil || !g.iface.Equal(ch.Interface) {
			if err := g.recreate(ch.Interface); err != nil {
				return err
			}
		}
		// The device keeps the peers the snapshot keeps, and their
		// handshakes: a reconnect to the server costs no tunnel.
		return g.set(g.peers.Diff(peers.NewSet(ch.Peers)))
	}
	if g.dev == nil {
		return errors.New("peer change before the first snapshot")
	}
	return g.set(ch.Upserts, ch.Removes)
}

// set applies peer upserts and removals in one configuration (and a
// second for keepalives to turn off again).
func (g *Gateway) set(ups []peers.Peer, rms []wgkey.Key) error {
	if len(ups) == 0 && len(rms) == 0 {
		return nil
	}
	cfg, calm := batch(g.peers, ups, rms)
	if err := g.dev.IpcSet(cfg.Encode()); err != nil {
		return fmt.Errorf("configure WireGuard peers: %w", err)
	}
	if len(calm.Peers) > 0 {
		if err := g.dev.IpcSet(calm.Encode()); err != nil {
			return fmt.Errorf("configure WireGuard peers: %w", err)
		}
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

// batch is the device configuration that takes a device holding have to
// have plus ups minus rms, and calm, the one that turns off again the
// keepalives cfg turns on. A peer whose pre-shared key changed is removed
// and added again, so no session keys derived from the old key survive.
func batch(have peers.Set, ups []peers.Peer, rms []wgkey.Key) (cfg, calm uapi.Config) {
	cfg.Peers = make([]uapi.PeerConfig, 0, len(rms)+len(ups))
	for _, k := range rms {
		cfg.Peers = append(cfg.Peers, uapi.PeerConfig{PublicKey: k, Remove: true})
	}
	for _, p := range ups {
		old, had := have[p.PublicKey]
		fresh := !had
		if had && old.PresharedKey != p.PresharedKey {
			cfg.Peers = append(cfg.Peers, uapi.PeerConfig{PublicKey: p.PublicKey, Remove: true})
			fresh = true
		}
		pc := uapi.PeerConfig{PublicKey: p.PublicKey, PresharedKey: p.PresharedKey, ReplaceAllowedIPs: true, AllowedIPs: p.AllowedIPs}
		if fresh && p.Endpoint.IsValid() {
			// A peer created afresh (a restarted gateway) for a client
			// that was connected: turning a keepalive on sends one at once,
			// which starts the handshake, so traffic resumes in about a
			// round trip instead of after the client's own retries (5 s,
			// then 10 s). The keepalive goes off again right after.
			pc.Endpoint, pc.PersistentKeepalive = p.Endpoint, time.Second
			calm.Peers = append(calm.Peers, uapi.PeerConfig{PublicKey: p.PublicKey, KeepaliveOff: true})
		}
		cfg.Peers = append(cfg.Peers, pc)
	}
	return cfg, calm
}

// recreate replaces the device for a new interface.
func (g *Gateway) recreate(iface peers.Interface) error {
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
		Verbosef: device.DiscardLogf,
		Errorf:   func(format string, args ...any) { g.log.Warn(fmt.Sprintf(format, args...), "component", "wireguard") },
	}
	// wireguard-go logs a line per peer it creates: formatting them only
	// to drop them costs a tenth of a large snapshot.
	if g.log.Enabled(context.Background(), slog.LevelDebug) {
		logger.Verbosef = func(format string, args ...any) { g.log.Debug(fmt.Sprintf(format, args...), "component", "wireguard") }
	}
	dev := device.NewDevice(td, conn.NewDefaultBind(), logger)
	if err := dev.IpcSet(uapi.Config{PrivateKey: iface.PrivateKey, ListenPort: iface.ListenPort}.Encode()); err != nil {
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
	g.peers = peers.Set{}
	g.sent = map[wgkey.Key]sentStats{}
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
	var out []PeerStats
	err := g.eachStats(func(p *uapi.Peer) {
		out = append(out, peerStats(p))
	})
	return out, err
}

func peerStats(p *uapi.Peer) PeerStats {
	s := PeerStats{PublicKey: p.PublicKey, RxBytes: p.RxBytes, TxBytes: p.TxBytes, LatestHandshake: p.LatestHandshake}
	if p.Endpoint.IsValid() {
		s.Endpoint = p.Endpoint.String()
	}
	return s
}

// eachStats reads the device's report into a buffer the gateway keeps
// and hands over each peer in it, without collecting them.
func (g *Gateway) eachStats(fn func(*uapi.Peer)) error {
	if g.dev == nil {
		return nil
	}
	g.get.Reset()
	if err := g.dev.IpcGetOperation(&g.get); err != nil {
		return fmt.Errorf("read WireGuard statistics: %w", err)
	}
	_, err := uapi.EachPeer(g.get.Bytes(), func(p *uapi.Peer) error { fn(p); return nil })
	if g.get.Cap() > 4*g.get.Len()+64<<10 {
		g.get = bytes.Buffer{} // the device shrank: let the big buffer go
	}
	if err != nil {
		return fmt.Errorf("read WireGuard statistics: %w", err)
	}
	return nil
}

// ChangedStats returns the peers whose statistics changed since the last
// call, which is what a gateway reports.
func (g *Gateway) ChangedStats() ([]PeerStats, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	var out []PeerStats
	err := g.eachStats(func(p *uapi.Peer) {
		now := sentStats{endpoint: p.Endpoint, rx: p.RxBytes, tx: p.TxBytes, handshake: p.LatestHandshake}
		if old, ok := g.sent[p.PublicKey]; ok && old == now {
			return
		}
		g.sent[p.PublicKey] = now
		out = append(out, peerStats(p))
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// ReportNow sends the statistics that changed since the last report; when
// sending fails they are sent again next time.
func (g *Gateway) ReportNow(ctx context.Context, report func(context.Context, []PeerStats) error) error {
	stats, err := g.ChangedStats()
	if err != nil || len(stats) == 0 {
		return err
	}
	if err := report(ctx, stats); err != nil {
		g.forget(stats)
		return err
	}
	return nil
}

func (g *Gateway) forget(stats []PeerStats) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, s := range stats {
		delete(g.sent, s.PublicKey)
	}
}
