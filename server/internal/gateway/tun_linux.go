package gateway

import (
	"errors"
	"fmt"
	"net/netip"
	"os"

	"github.com/vishvananda/netlink"
	"golang.zx2c4.com/wireguard/tun"
)

var errNoNetAdmin = errors.New("tun mode needs CAP_NET_ADMIN: run wicketd as root, grant it with `setcap cap_net_admin+ep wicketd` (the package's unit does), or use --gateway netstack")

// newKernelTUN makes a kernel TUN interface with the location's address.
func newKernelTUN(name string, addr netip.Prefix, mtu int) (tun.Device, error) {
	if name == "" {
		name = "wicket%d"
	}
	td, err := tun.CreateTUN(name, mtu)
	if err != nil {
		if errors.Is(err, os.ErrPermission) {
			return nil, errNoNetAdmin
		}
		return nil, fmt.Errorf("create TUN interface: %w (tun mode needs /dev/net/tun and CAP_NET_ADMIN; or use --gateway netstack)", err)
	}
	real, err := td.Name()
	if err != nil {
		td.Close()
		return nil, err
	}
	link, err := netlink.LinkByName(real)
	if err != nil {
		td.Close()
		return nil, fmt.Errorf("find interface %s: %w", real, err)
	}
	nl, err := netlink.ParseAddr(addr.String())
	if err != nil {
		td.Close()
		return nil, err
	}
	if err := netlink.AddrAdd(link, nl); err != nil {
		td.Close()
		if errors.Is(err, os.ErrPermission) {
			return nil, errNoNetAdmin
		}
		return nil, fmt.Errorf("assign %s to %s: %w", addr, real, err)
	}
	if err := netlink.LinkSetUp(link); err != nil {
		td.Close()
		return nil, fmt.Errorf("bring %s up: %w", real, err)
	}
	return td, nil
}
