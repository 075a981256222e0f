// Package tunnel brings a WireGuard tunnel up on this machine. Backends are
// chosen by file name: the system backend (a kernel TUN on Linux, utun on
// macOS, the WireGuard tunnel service on Windows) and the userspace backend
// (wireguard-go on a userspace TCP/IP stack with a SOCKS5 proxy), which
// works anywhere without privileges.
package tunnel

import (
	"context"
	"log/slog"
	"net/netip"
	"time"

	"github.com/wicket-vpn/wicket/shared/wgkey"
)

// Mode selects a backend.
type Mode string

// Backends.
const (
	// ModeSystem routes the location's allowed IPs through a network
	// interface of the operating system. It needs privileges.
	ModeSystem Mode = "system"
	// ModeUserspace runs WireGuard and a TCP/IP stack inside the process and
	// offers a SOCKS5 proxy on the loopback interface. It needs none.
	ModeUserspace Mode = "userspace"
)

// DefaultSOCKSAddr is where the userspace backend listens unless told
// otherwise.
const DefaultSOCKSAddr = "127.0.0.1:1080"

// Config is everything needed to bring one tunnel up. The keys stay in
// memory; nothing here is written to disk.
type Config struct {
	// Name names the interface where the backend has one ("wicket0").
	Name string
	// PrivateKey is the device's WireGuard private key.
	PrivateKey wgkey.Key
	// Address is the device's tunnel address with prefix, "10.10.0.7/32".
	Address netip.Prefix
	// DNS servers reachable through the tunnel; may be empty.
	DNS []netip.Addr
	// MTU of the tunnel; 0 means the WireGuard default of 1420.
	MTU int

	// PeerPublicKey is the gateway's public key.
	PeerPublicKey wgkey.Key
	// PresharedKey is the session's pre-shared key (zero for locations
	// without MFA).
	PresharedKey wgkey.Key
	// Endpoint is the gateway's UDP address, "vpn.example.com:51820".
	Endpoint string
	// AllowedIPs are the networks routed through the tunnel.
	AllowedIPs []netip.Prefix
	// Keepalive is the persistent keepalive interval; 0 disables it.
	Keepalive time.Duration
}

// Options are the user's choices for a backend.
type Options struct {
	// Mode picks the backend; empty means ModeSystem.
	Mode Mode
	// SOCKSAddr is the loopback address of the userspace backend's SOCKS5
	// proxy; empty means DefaultSOCKSAddr.
	SOCKSAddr string
	// Log receives the backend's diagnostics; nil discards them.
	Log *slog.Logger
}

// Stats is a snapshot of the tunnel's WireGuard peer.
type Stats struct {
	// LatestHandshake is the time of the last completed handshake, zero
	// before the first.
	LatestHandshake time.Time
	// RxBytes and TxBytes count traffic received from and sent to the
	// gateway.
	RxBytes, TxBytes uint64
}

// Tunnel is a tunnel that is up.
type Tunnel interface {
	// Offers says in a sentence how to use the tunnel, e.g. "SOCKS5 proxy on
	// 127.0.0.1:1080" or "routes 10.10.0.0/24 through wicket0".
	Offers() string
	// Stats returns the current peer statistics.
	Stats() (Stats, error)
	// Close takes the tunnel down and undoes every change it made to the
	// system. It is safe to call more than once.
	Close() error
}

// Factory brings tunnels up. Up returns once the device is configured; the
// handshake happens in the background.
type Factory interface {
	Up(ctx context.Context, cfg Config, opts Options) (Tunnel, error)
}
