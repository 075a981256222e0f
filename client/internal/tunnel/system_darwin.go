package tunnel

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"os/exec"
	"strings"
	"sync"

	"golang.zx2c4.com/wireguard/conn"
	"golang.zx2c4.com/wireguard/device"
	"golang.zx2c4.com/wireguard/tun"
)

// System is a tunnel on a macOS utun interface: wireguard-go moves the
// packets; ifconfig and route set the address and routes, since macOS has
// no netlink. It needs root.
type System struct {
	name   string
	dev    *device.Device
	log    *slog.Logger
	routes []netip.Prefix
	pinned []string // endpoint host routes to delete on close

	closeOnce sync.Once
}

func upSystem(ctx context.Context, cfg Config, opts Options) (Tunnel, error) {
	ep, err := resolveEndpoint(ctx, cfg.Endpoint)
	if err != nil {
		return nil, err
	}
	// macOS names utun devices itself; "utun" asks for the next free one.
	td, err := tun.CreateTUN("utun", cfg.mtu())
	if err != nil {
		if strings.Contains(err.Error(), "operation not permitted") || strings.Contains(err.Error(), "permission denied") {
			return nil, fmt.Errorf("a system tunnel on macOS needs administrator rights (%v); run wicket with sudo, or use userspace mode "+
				"(Settings → Tunnel mode → Userspace, or `wicket connect --userspace`)", err)
		}
		return nil, fmt.Errorf("cannot create a utun device: %v", err)
	}
	name, err := td.Name()
	if err != nil {
		td.Close()
		return nil, err
	}
	s := &System{name: name, log: opts.Log.With("tunnel", name), routes: cfg.AllowedIPs}
	s.dev = device.NewDevice(td, conn.NewDefaultBind(), deviceLogger(s.log))
	fail := func(err error) (Tunnel, error) {
		s.Close()
		return nil, err
	}
	if err := s.dev.IpcSet(cfg.uapi(ep)); err != nil {
		return fail(fmt.Errorf("cannot configure WireGuard: %v", err))
	}
	if err := s.dev.Up(); err != nil {
		return fail(fmt.Errorf("cannot bring WireGuard up: %v", err))
	}
	a := cfg.Address
	family := "inet"
	if a.Addr().Is6() {
		family = "inet6"
	}
	// utun is point-to-point: the address is its own destination.
	args := []string{name, family, a.String(), a.Addr().String(), "up"}
	if family == "inet6" {
		args = []string{name, family, a.String(), "up"}
	}
	if err := run(ctx, "ifconfig", args...); err != nil {
		return fail(err)
	}
	for _, p := range cfg.AllowedIPs {
		if p.Contains(ep.Addr()) {
			if gw, err := defaultGateway(ctx, ep.Addr()); err == nil {
				if run(ctx, "route", "-q", "-n", "add", "-host", ep.Addr().String(), gw) == nil {
					s.pinned = append(s.pinned, ep.Addr().String())
				}
			}
			break
		}
	}
	for _, p := range cfg.AllowedIPs {
		fam := "-inet"
		if p.Addr().Is6() {
			fam = "-inet6"
		}
		if err := run(ctx, "route", "-q", "-n", "add", fam, p.Masked().String(), "-interface", name); err != nil {
			return fail(err)
		}
	}
	if len(cfg.DNS) > 0 {
		s.log.Warn("DNS servers are not set on macOS yet; names resolve with the system's DNS", "dns", cfg.DNS)
	}
	return s, nil
}

func run(ctx context.Context, name string, args ...string) error {
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %v: %s", name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// defaultGateway returns the gateway the system uses for a now.
func defaultGateway(ctx context.Context, a netip.Addr) (string, error) {
	out, err := exec.CommandContext(ctx, "route", "-n", "get", a.String()).Output()
	if err != nil {
		return "", err
	}
	for _, line := range strings.Split(string(out), "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "gateway:"); ok {
			return strings.TrimSpace(v), nil
		}
	}
	return "", fmt.Errorf("no gateway for %s", a)
}

// Offers implements Tunnel.
func (s *System) Offers() string {
	var rs []string
	for _, p := range s.routes {
		rs = append(rs, p.String())
	}
	return fmt.Sprintf("routes %s through %s", strings.Join(rs, ", "), s.name)
}

// Stats implements Tunnel.
func (s *System) Stats() (Stats, error) { return deviceStats(s.dev) }

// Close implements Tunnel; the routes through the utun go with it.
func (s *System) Close() error {
	s.closeOnce.Do(func() {
		for _, h := range s.pinned {
			exec.Command("route", "-q", "-n", "delete", "-host", h).Run()
		}
		s.dev.Close()
	})
	return nil
}
