package tunnel

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"sync"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
	"golang.zx2c4.com/wireguard/conn"
	"golang.zx2c4.com/wireguard/device"
	"golang.zx2c4.com/wireguard/tun"
)

// System is a tunnel on a kernel TUN interface: wireguard-go moves the
// packets, the address and routes are set over netlink, and DNS goes to
// systemd-resolved when it runs.
type System struct {
	name    string
	dev     *device.Device
	log     *slog.Logger
	pinned  []*netlink.Route // host routes keeping the endpoint off the tunnel
	dnsSet  bool
	dnsNote string
	routes  []netip.Prefix

	closeOnce sync.Once
}

// ErrNeedsPrivilege means the system backend lacks CAP_NET_ADMIN. Errors
// wrapping it say how to grant it.
var ErrNeedsPrivilege = errors.New("a system tunnel needs the CAP_NET_ADMIN capability")

func privilegeError(op string, err error) error {
	exe, _ := os.Executable()
	if exe == "" {
		exe = "$(which wicket)"
	}
	return fmt.Errorf("%w (%s: %v): grant it once with `sudo setcap cap_net_admin+ep %s`, or use userspace mode "+
		"(Settings → Tunnel mode → Userspace, or `wicket connect --userspace`), which needs no privileges and offers a SOCKS5 proxy",
		ErrNeedsPrivilege, op, err, exe)
}

func isPermission(err error) bool {
	return errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES) || errors.Is(err, os.ErrPermission)
}

func upSystem(ctx context.Context, cfg Config, opts Options) (Tunnel, error) {
	ep, err := resolveEndpoint(ctx, cfg.Endpoint)
	if err != nil {
		return nil, err
	}
	td, err := tun.CreateTUN(cfg.Name, cfg.mtu())
	if err != nil {
		if isPermission(err) || strings.Contains(err.Error(), "operation not permitted") {
			return nil, privilegeError("create TUN device "+cfg.Name, err)
		}
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("cannot create TUN device %s: /dev/net/tun is missing (load the tun kernel module, or use userspace mode): %v", cfg.Name, err)
		}
		return nil, fmt.Errorf("cannot create TUN device %s: %v", cfg.Name, err)
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
	if err := s.configure(cfg, ep); err != nil {
		return fail(err)
	}
	s.configureDNS(ctx, cfg)
	s.log.Info("system tunnel up", "address", cfg.Address, "endpoint", ep, "routes", cfg.AllowedIPs)
	return s, nil
}

// configure sets the address, brings the link up and routes the allowed
// IPs into it.
func (s *System) configure(cfg Config, ep netip.AddrPort) error {
	link, err := netlink.LinkByName(s.name)
	if err != nil {
		return fmt.Errorf("cannot find interface %s: %v", s.name, err)
	}
	addr := &netlink.Addr{IPNet: prefixNet(cfg.Address)}
	if err := netlink.AddrReplace(link, addr); err != nil {
		if isPermission(err) {
			return privilegeError("set address", err)
		}
		return fmt.Errorf("cannot set address %s on %s: %v", cfg.Address, s.name, err)
	}
	if err := netlink.LinkSetUp(link); err != nil {
		return fmt.Errorf("cannot bring %s up: %v", s.name, err)
	}
	// When the tunnel routes the endpoint's own address (a default route,
	// say), WireGuard's UDP packets would loop into the tunnel. Pin the
	// endpoint to the route it has now.
	for _, p := range cfg.AllowedIPs {
		if p.Contains(ep.Addr()) {
			if err := s.pinEndpoint(ep.Addr()); err != nil {
				s.log.Warn("cannot keep the endpoint off the tunnel", "err", err)
			}
			break
		}
	}
	for _, p := range cfg.AllowedIPs {
		r := &netlink.Route{LinkIndex: link.Attrs().Index, Dst: prefixNet(p.Masked()), Scope: netlink.SCOPE_LINK}
		if err := netlink.RouteReplace(r); err != nil {
			return fmt.Errorf("cannot route %s through %s: %v", p, s.name, err)
		}
	}
	return nil
}

func (s *System) pinEndpoint(a netip.Addr) error {
	rs, err := netlink.RouteGet(a.AsSlice())
	if err != nil || len(rs) == 0 {
		return fmt.Errorf("no route to %s: %v", a, err)
	}
	r := &netlink.Route{LinkIndex: rs[0].LinkIndex, Dst: prefixNet(netip.PrefixFrom(a, a.BitLen())), Gw: rs[0].Gw, Src: rs[0].Src}
	if err := netlink.RouteReplace(r); err != nil {
		return err
	}
	s.pinned = append(s.pinned, r)
	return nil
}

// configureDNS hands the location's DNS servers to systemd-resolved for
// this interface. Without resolved the tunnel still works with the host's
// DNS, and Offers says so.
func (s *System) configureDNS(ctx context.Context, cfg Config) {
	if len(cfg.DNS) == 0 {
		return
	}
	resolvectl, err := exec.LookPath("resolvectl")
	if err != nil {
		s.dnsNote = "DNS not set: systemd-resolved (resolvectl) is not installed"
		s.log.Warn(s.dnsNote)
		return
	}
	args := []string{"dns", s.name}
	for _, d := range cfg.DNS {
		args = append(args, d.String())
	}
	if out, err := exec.CommandContext(ctx, resolvectl, args...).CombinedOutput(); err != nil {
		s.dnsNote = "DNS not set: " + strings.TrimSpace(string(out))
		s.log.Warn("resolvectl dns failed", "err", err, "output", strings.TrimSpace(string(out)))
		return
	}
	s.dnsSet = true
	// A full tunnel sends every query to the location's servers; a split
	// tunnel only makes them available.
	full := false
	for _, p := range cfg.AllowedIPs {
		if p.Bits() == 0 {
			full = true
		}
	}
	if full {
		if out, err := exec.CommandContext(ctx, resolvectl, "domain", s.name, "~.").CombinedOutput(); err != nil {
			s.log.Warn("resolvectl domain failed", "err", err, "output", strings.TrimSpace(string(out)))
		}
	}
}

// Offers implements Tunnel.
func (s *System) Offers() string {
	var rs []string
	for _, p := range s.routes {
		rs = append(rs, p.String())
	}
	msg := fmt.Sprintf("routes %s through %s", strings.Join(rs, ", "), s.name)
	if s.dnsNote != "" {
		msg += "; " + s.dnsNote
	}
	return msg
}

// Stats implements Tunnel.
func (s *System) Stats() (Stats, error) { return deviceStats(s.dev) }

// Close implements Tunnel. Removing the TUN device removes its address and
// routes with it; the DNS settings and pinned endpoint route are undone
// here.
func (s *System) Close() error {
	s.closeOnce.Do(func() {
		if s.dnsSet {
			if out, err := exec.Command("resolvectl", "revert", s.name).CombinedOutput(); err != nil {
				s.log.Warn("resolvectl revert failed", "err", err, "output", strings.TrimSpace(string(out)))
			}
		}
		for _, r := range s.pinned {
			netlink.RouteDel(r)
		}
		s.dev.Close()
	})
	return nil
}

func prefixNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}
