package tunnel

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"

	"golang.zx2c4.com/wireguard/conn"
	"golang.zx2c4.com/wireguard/device"
	"golang.zx2c4.com/wireguard/tun/netstack"
)

// Userspace is a tunnel on a userspace TCP/IP stack: nothing on the
// machine changes, and programs reach the location through a SOCKS5 proxy
// on the loopback interface.
type Userspace struct {
	dev   *device.Device
	net   *netstack.Net
	socks *socksServer

	closeOnce sync.Once
	closeErr  error
}

// upUserspace brings a userspace tunnel up and starts its SOCKS5 proxy.
func upUserspace(ctx context.Context, cfg Config, opts Options) (*Userspace, error) {
	addr := opts.SOCKSAddr
	if addr == "" {
		addr = DefaultSOCKSAddr
	}
	if err := CheckSOCKSAddr(addr); err != nil {
		return nil, err
	}
	ep, err := resolveEndpoint(ctx, cfg.Endpoint)
	if err != nil {
		return nil, err
	}
	// Listen first: a port in use is the likeliest failure, and nothing
	// has to be undone yet.
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("cannot start the SOCKS5 proxy on %s: %v; choose another SOCKS address in the settings (or --socks)", addr, err)
	}
	td, tnet, err := netstack.CreateNetTUN([]netip.Addr{cfg.Address.Addr()}, cfg.DNS, cfg.mtu())
	if err != nil {
		ln.Close()
		return nil, fmt.Errorf("cannot create the userspace network stack: %v", err)
	}
	dev := device.NewDevice(td, conn.NewDefaultBind(), deviceLogger(opts.Log.With("tunnel", "userspace")))
	if err := dev.IpcSet(cfg.uapi(ep)); err != nil {
		dev.Close()
		ln.Close()
		return nil, fmt.Errorf("cannot configure WireGuard: %v", err)
	}
	if err := dev.Up(); err != nil {
		dev.Close()
		ln.Close()
		return nil, fmt.Errorf("cannot bring WireGuard up: %v", err)
	}
	u := &Userspace{dev: dev, net: tnet}
	u.socks = newSOCKSServer(ln, &tunnelDialer{net: tnet, allowed: cfg.AllowedIPs, dns: len(cfg.DNS) > 0}, opts.Log.With("socks", ln.Addr().String()))
	go u.socks.serve()
	opts.Log.Info("userspace tunnel up", "address", cfg.Address, "endpoint", ep, "socks", ln.Addr().String())
	return u, nil
}

// SOCKSAddr is where the proxy listens (with the real port when port 0 was
// asked for).
func (u *Userspace) SOCKSAddr() string { return u.socks.ln.Addr().String() }

// Offers implements Tunnel.
func (u *Userspace) Offers() string { return "SOCKS5 proxy on " + u.SOCKSAddr() }

// Stats implements Tunnel.
func (u *Userspace) Stats() (Stats, error) { return deviceStats(u.dev) }

// Net is the tunnel's network stack, to dial through the tunnel directly.
func (u *Userspace) Net() *netstack.Net { return u.net }

// Close implements Tunnel.
func (u *Userspace) Close() error {
	u.closeOnce.Do(func() {
		u.closeErr = u.socks.close()
		u.dev.Close()
	})
	return u.closeErr
}

// CheckSOCKSAddr reports whether addr is a usable SOCKS5 proxy address. It
// refuses addresses off the loopback interface: the proxy has no
// authentication, so anywhere else it would hand the VPN to the whole
// network.
func CheckSOCKSAddr(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("SOCKS address %q is not host:port (e.g. 127.0.0.1:1080)", addr)
	}
	if host == "localhost" {
		return nil
	}
	ip, err := netip.ParseAddr(host)
	if err != nil || !ip.IsLoopback() {
		return fmt.Errorf("SOCKS address %q is not on the loopback interface; the proxy has no password, so it only listens on 127.0.0.1 or ::1", addr)
	}
	return nil
}

// tunnelDialer opens connections through the netstack, refusing
// destinations the location does not route.
type tunnelDialer struct {
	net     *netstack.Net
	allowed []netip.Prefix
	dns     bool
}

var errNotRouted = errors.New("the location does not route this address")

func (d *tunnelDialer) routes(a netip.Addr) bool {
	for _, p := range d.allowed {
		if p.Contains(a.Unmap()) {
			return true
		}
	}
	return false
}

func (d *tunnelDialer) dial(ctx context.Context, host string, port uint16) (net.Conn, error) {
	var addrs []netip.Addr
	if a, err := netip.ParseAddr(host); err == nil {
		addrs = []netip.Addr{a}
	} else if d.dns {
		// Names resolve through the location's DNS servers, inside the
		// tunnel, so internal names work.
		names, err := d.net.LookupContextHost(ctx, host)
		if err != nil {
			return nil, fmt.Errorf("resolve %s through the tunnel: %w", host, err)
		}
		for _, n := range names {
			if a, err := netip.ParseAddr(n); err == nil {
				addrs = append(addrs, a)
			}
		}
	} else {
		var err error
		addrs, err = net.DefaultResolver.LookupNetIP(ctx, "ip", host)
		if err != nil {
			return nil, fmt.Errorf("resolve %s: %w", host, err)
		}
	}
	var firstErr error
	for _, a := range addrs {
		if !d.routes(a) {
			if firstErr == nil {
				firstErr = fmt.Errorf("%s: %w", a, errNotRouted)
			}
			continue
		}
		c, err := d.net.DialContextTCPAddrPort(ctx, netip.AddrPortFrom(a.Unmap(), port))
		if err == nil {
			return c, nil
		}
		if firstErr == nil || errors.Is(firstErr, errNotRouted) {
			firstErr = err
		}
	}
	if firstErr == nil {
		firstErr = fmt.Errorf("%s has no address", host)
	}
	return nil, firstErr
}

var _ Tunnel = (*Userspace)(nil)

// slogOrDiscard is used by the SOCKS server when no logger is given.
func slogOrDiscard(l *slog.Logger) *slog.Logger { return discardLog(l) }
