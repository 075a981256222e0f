//go:build !linux

package gateway

import (
	"errors"
	"net/netip"

	"golang.zx2c4.com/wireguard/tun"
)

func newKernelTUN(string, netip.Prefix, int) (tun.Device, error) {
	return nil, errors.New("tun mode runs on Linux only; use --gateway netstack")
}
