package gateway

import (
	"fmt"
	"net/netip"

	v1 "github.com/wicket-vpn/wicket/proto/gen/wicket/v1"
	"github.com/wicket-vpn/wicket/server/internal/session"
	"github.com/wicket-vpn/wicket/shared/wgkey"
)

func parsePrefixes(list []string) ([]netip.Prefix, error) {
	out := make([]netip.Prefix, 0, len(list))
	for _, s := range list {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return nil, fmt.Errorf("bad prefix %q: %w", s, err)
		}
		out = append(out, p)
	}
	return out, nil
}

func parseOptionalKey(s string) (wgkey.Key, error) {
	if s == "" {
		return wgkey.Key{}, nil
	}
	return wgkey.Parse(s)
}

func makeInterface(locationID, priv, address string, port, mtu int, allowed []string) (Interface, error) {
	k, err := wgkey.Parse(priv)
	if err != nil {
		return Interface{}, fmt.Errorf("interface private key: %w", err)
	}
	addr, err := netip.ParsePrefix(address)
	if err != nil {
		return Interface{}, fmt.Errorf("interface address %q: %w", address, err)
	}
	ips, err := parsePrefixes(allowed)
	if err != nil {
		return Interface{}, err
	}
	return Interface{LocationID: locationID, PrivateKey: k, Address: addr, ListenPort: port, MTU: mtu, AllowedIPs: ips}, nil
}

func makePeer(pub string, allowed []string, psk string) (Peer, error) {
	k, err := wgkey.Parse(pub)
	if err != nil {
		return Peer{}, fmt.Errorf("peer public key: %w", err)
	}
	ps, err := parseOptionalKey(psk)
	if err != nil {
		return Peer{}, fmt.Errorf("peer pre-shared key: %w", err)
	}
	ips, err := parsePrefixes(allowed)
	if err != nil {
		return Peer{}, err
	}
	return Peer{PublicKey: k, AllowedIPs: ips, PresharedKey: ps}, nil
}

// FromSession converts the session manager's change.
func FromSession(ch session.PeerChange) (Change, error) {
	var out Change
	var err error
	out.Snapshot = ch.Snapshot
	if ch.Snapshot {
		i := ch.Interface
		if out.Interface, err = makeInterface(i.LocationID, i.PrivateKey, i.Address, i.ListenPort, i.MTU, i.AllowedIPs); err != nil {
			return out, err
		}
	}
	conv := func(ps []session.Peer) ([]Peer, error) {
		var r []Peer
		for _, p := range ps {
			q, err := makePeer(p.PublicKey, p.AllowedIPs, p.PresharedKey)
			if err != nil {
				return nil, err
			}
			r = append(r, q)
		}
		return r, nil
	}
	if out.Peers, err = conv(ch.Peers); err != nil {
		return out, err
	}
	if out.Upserts, err = conv(ch.Upserts); err != nil {
		return out, err
	}
	for _, k := range ch.Removes {
		key, err := wgkey.Parse(k)
		if err != nil {
			return out, err
		}
		out.Removes = append(out.Removes, key)
	}
	return out, nil
}

// FromProto converts one SyncPeers message.
func FromProto(m *v1.SyncPeersResponse) (Change, error) {
	switch {
	case m.GetSnapshot() != nil:
		s := m.GetSnapshot()
		i := s.GetInterface()
		iface, err := makeInterface(i.GetLocationId(), i.GetPrivateKey(), i.GetAddress(), int(i.GetListenPort()), int(i.GetMtu()), i.GetAllowedIps())
		if err != nil {
			return Change{}, err
		}
		ch := Change{Snapshot: true, Interface: iface}
		for _, p := range s.GetPeers() {
			q, err := makePeer(p.GetPublicKey(), p.GetAllowedIps(), p.GetPresharedKey())
			if err != nil {
				return Change{}, err
			}
			ch.Peers = append(ch.Peers, q)
		}
		return ch, nil
	case m.GetUpsert() != nil:
		p := m.GetUpsert()
		q, err := makePeer(p.GetPublicKey(), p.GetAllowedIps(), p.GetPresharedKey())
		if err != nil {
			return Change{}, err
		}
		return Change{Upserts: []Peer{q}}, nil
	case m.GetRemove() != nil:
		k, err := wgkey.Parse(m.GetRemove().GetPublicKey())
		if err != nil {
			return Change{}, err
		}
		return Change{Removes: []wgkey.Key{k}}, nil
	}
	return Change{}, nil
}
