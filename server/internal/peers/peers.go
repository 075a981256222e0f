// Package peers holds what a location's gateway runs: its WireGuard
// interface, the peers it lets in, and the change from one peer set to the
// next. The session manager publishes them and the gateway driver applies
// them, so both speak these types and compare and diff them here, once.
package peers

import (
	"bytes"
	"net/netip"
	"slices"

	"github.com/wicket-vpn/wicket/shared/wgkey"
)

// Interface is the WireGuard interface of a location.
type Interface struct {
	LocationID string
	PrivateKey wgkey.Key
	Address    netip.Prefix // the gateway's tunnel address with its prefix
	ListenPort int
	MTU        int            // 0 means WireGuard's usual 1420
	AllowedIPs []netip.Prefix // the networks clients may reach through it
}

// Equal reports whether a and b run the same device.
func (a Interface) Equal(b Interface) bool {
	return a.LocationID == b.LocationID && a.PrivateKey == b.PrivateKey && a.Address == b.Address &&
		a.ListenPort == b.ListenPort && a.MTU == b.MTU && slices.Equal(a.AllowedIPs, b.AllowedIPs)
}

// Peer is one client a gateway lets in.
type Peer struct {
	PublicKey    wgkey.Key
	AllowedIPs   []netip.Prefix
	PresharedKey wgkey.Key // zero for locations without MFA
	// Endpoint is where the client was last heard from, zero when not
	// known. It is a hint for a gateway that creates the peer afresh, not
	// part of the peer's identity: Equal leaves it out, so a client that
	// roams changes nothing.
	Endpoint netip.AddrPort
}

// Equal reports whether a and b configure the same peer.
func (a Peer) Equal(b Peer) bool {
	return a.PublicKey == b.PublicKey && a.PresharedKey == b.PresharedKey && slices.Equal(a.AllowedIPs, b.AllowedIPs)
}

// Change is what a gateway must do to match the desired peer set. A
// snapshot replaces everything: the interface and the full peer set.
type Change struct {
	Snapshot  bool
	Interface Interface
	Peers     []Peer // the full set, for a snapshot
	Upserts   []Peer
	Removes   []wgkey.Key
}

// Empty reports whether the change does nothing.
func (c Change) Empty() bool {
	return !c.Snapshot && len(c.Upserts) == 0 && len(c.Removes) == 0
}

// Set is a peer set by public key.
type Set map[wgkey.Key]Peer

// NewSet holds the peers of list; a later peer with the same key wins.
func NewSet(list []Peer) Set {
	s := make(Set, len(list))
	for _, p := range list {
		s[p.PublicKey] = p
	}
	return s
}

// Diff returns what takes s to want: the peers that are new or changed
// and the keys of those that left, each in key order.
func (s Set) Diff(want Set) (upserts []Peer, removes []wgkey.Key) {
	for k, p := range want {
		if old, ok := s[k]; !ok || !old.Equal(p) {
			upserts = append(upserts, p)
		}
	}
	for k := range s {
		if _, ok := want[k]; !ok {
			removes = append(removes, k)
		}
	}
	slices.SortFunc(upserts, func(a, b Peer) int { return compare(a.PublicKey, b.PublicKey) })
	slices.SortFunc(removes, compare)
	return upserts, removes
}

func compare(a, b wgkey.Key) int { return bytes.Compare(a[:], b[:]) }
