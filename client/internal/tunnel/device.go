package tunnel

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"

	"golang.zx2c4.com/wireguard/device"

	"github.com/wicket-vpn/wicket/shared/uapi"
)

// DefaultMTU is WireGuard's usual MTU, used when the server sends none.
const DefaultMTU = 1420

func (c Config) mtu() int {
	if c.MTU > 0 {
		return c.MTU
	}
	return DefaultMTU
}

// validate checks what every backend needs.
func (c Config) validate() error {
	switch {
	case c.PrivateKey.IsZero():
		return errors.New("tunnel config has no private key")
	case c.PeerPublicKey.IsZero():
		return errors.New("tunnel config has no server public key")
	case !c.Address.IsValid():
		return errors.New("tunnel config has no tunnel address")
	case c.Endpoint == "":
		return errors.New("tunnel config has no server endpoint")
	case len(c.AllowedIPs) == 0:
		return errors.New("tunnel config routes nothing (no allowed IPs)")
	}
	return nil
}

// resolveEndpoint turns "host:port" into an IP and port, because
// wireguard-go's configuration protocol takes addresses only.
func resolveEndpoint(ctx context.Context, endpoint string) (netip.AddrPort, error) {
	if ap, err := netip.ParseAddrPort(endpoint); err == nil {
		return ap, nil
	}
	host, port, err := net.SplitHostPort(endpoint)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("server endpoint %q is not host:port: %v", endpoint, err)
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("server endpoint %q has a bad port", endpoint)
	}
	addrs, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	if err != nil || len(addrs) == 0 {
		return netip.AddrPort{}, fmt.Errorf("cannot resolve the server endpoint %s: %v", host, err)
	}
	// Prefer IPv4: it is what most gateways listen on.
	best := addrs[0]
	for _, a := range addrs {
		if a.Unmap().Is4() {
			best = a
			break
		}
	}
	return netip.AddrPortFrom(best.Unmap(), uint16(p)), nil
}

// uapi renders the configuration in wireguard-go's configuration protocol.
// The result holds the keys; it goes straight to the device and is never
// logged or stored.
func (c Config) uapi(endpoint netip.AddrPort) string {
	return uapi.Config{PrivateKey: c.PrivateKey, ReplacePeers: true, Peers: []uapi.PeerConfig{{
		PublicKey: c.PeerPublicKey, PresharedKey: c.PresharedKey, Endpoint: endpoint,
		PersistentKeepalive: c.Keepalive, ReplaceAllowedIPs: true, AllowedIPs: c.AllowedIPs,
	}}}.Encode()
}

// deviceStats reads the single peer's statistics from a wireguard-go
// device.
func deviceStats(dev *device.Device) (Stats, error) {
	raw, err := dev.IpcGet()
	if err != nil {
		return Stats{}, err
	}
	return parseStats(raw)
}

func parseStats(raw string) (Stats, error) {
	d, err := uapi.ParseDevice(raw)
	if err != nil || len(d.Peers) == 0 {
		return Stats{}, err
	}
	p := d.Peers[0]
	return Stats{LatestHandshake: p.LatestHandshake, RxBytes: p.RxBytes, TxBytes: p.TxBytes}, nil
}

// deviceLogger sends wireguard-go's messages to slog at debug level; its
// errors are mostly transient (a lost packet, a retried handshake).
func deviceLogger(log *slog.Logger) *device.Logger {
	if log == nil {
		return device.NewLogger(device.LogLevelSilent, "")
	}
	return &device.Logger{
		Verbosef: func(format string, args ...any) { log.Debug(fmt.Sprintf(format, args...)) },
		Errorf:   func(format string, args ...any) { log.Debug(fmt.Sprintf(format, args...)) },
	}
}

func discardLog(l *slog.Logger) *slog.Logger {
	if l != nil {
		return l
	}
	return slog.New(slog.DiscardHandler)
}

// Default is the factory of the real backends.
var Default Factory = backends{}

type backends struct{}

// Up brings a tunnel up with the backend opts.Mode names.
func (backends) Up(ctx context.Context, cfg Config, opts Options) (Tunnel, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	opts.Log = discardLog(opts.Log)
	switch opts.Mode {
	case ModeUserspace:
		return upUserspace(ctx, cfg, opts)
	case ModeSystem, "":
		if cfg.Name == "" {
			cfg.Name = "wicket0"
		}
		return upSystem(ctx, cfg, opts)
	}
	return nil, fmt.Errorf("unknown tunnel mode %q (use %q or %q)", opts.Mode, ModeSystem, ModeUserspace)
}
