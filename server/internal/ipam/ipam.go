// Package ipam hands out tunnel addresses: one stable address per device per
// location, never given to two devices, from the location's prefix.
package ipam

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/wicket-vpn/wicket/server/internal/store"
)

// ErrPoolFull means every address of the location's prefix is held.
var ErrPoolFull = errors.New("no free tunnel address")

// maxScan bounds the search in very large (IPv6) prefixes.
const maxScan = 1 << 20

// Pool describes the usable host addresses of a gateway prefix.
type Pool struct {
	Prefix  netip.Prefix
	Gateway netip.Addr
}

// ParsePool reads a gateway address with prefix, such as "10.10.0.1/24".
func ParsePool(address string) (Pool, error) {
	p, err := netip.ParsePrefix(address)
	if err != nil {
		return Pool{}, fmt.Errorf("address %q is not an IP address with a prefix length, such as 10.10.0.1/24", address)
	}
	return Pool{Prefix: p.Masked(), Gateway: p.Addr()}, nil
}

// Hosts calls fn with each address devices may get, in order, until fn
// returns false: the network address, the gateway's own address and the
// IPv4 broadcast address are skipped.
func (p Pool) Hosts(fn func(netip.Addr) bool) {
	a := p.Prefix.Addr()
	last := lastAddr(p.Prefix)
	for i := 0; i < maxScan; i++ {
		a = a.Next()
		if !a.IsValid() || !p.Prefix.Contains(a) {
			return
		}
		if a == p.Gateway {
			continue
		}
		if a.Is4() && a == last {
			return
		}
		if !fn(a) {
			return
		}
	}
}

func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Addr().AsSlice()
	bits := p.Bits()
	for i := range b {
		for j := 0; j < 8; j++ {
			if i*8+j >= bits {
				b[i] |= 0x80 >> j
			}
		}
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

// AddressFor returns the device's address in the location, assigning one the
// first time: the lowest never-used address, or, when none is left, the
// lowest address released by a deleted device.
func AddressFor(ctx context.Context, q *store.Q, loc store.Location, deviceID string, now time.Time) (string, error) {
	for attempt := 0; attempt < 8; attempt++ {
		if a, err := q.AddressOf(ctx, loc.ID, deviceID); err == nil {
			return a, nil
		} else if !errors.Is(err, store.ErrNotFound) {
			return "", err
		}
		pool, err := ParsePool(loc.Address)
		if err != nil {
			return "", err
		}
		used, err := q.UsedAddresses(ctx, loc.ID)
		if err != nil {
			return "", err
		}
		var fresh, released string
		pool.Hosts(func(a netip.Addr) bool {
			s := netip.PrefixFrom(a, a.BitLen()).String()
			held, seen := used[s]
			switch {
			case !seen:
				fresh = s
				return false
			case !held && released == "":
				released = s
			}
			return true
		})
		pick, reuse := fresh, false
		if pick == "" {
			pick, reuse = released, true
		}
		if pick == "" {
			return "", ErrPoolFull
		}
		err = q.AssignAddress(ctx, loc.ID, pick, deviceID, reuse, now)
		if errors.Is(err, store.ErrConflict) {
			continue // another request took it, or gave this device one; look again
		}
		if err != nil {
			return "", err
		}
		return pick, nil
	}
	return "", fmt.Errorf("assign tunnel address: too much contention")
}
