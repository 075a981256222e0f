package follow

import (
	"fmt"
	"net/netip"

	"google.golang.org/protobuf/types/known/timestamppb"

	v1 "github.com/wicket-vpn/wicket/proto/gen/wicket/v1"
	"github.com/wicket-vpn/wicket/server/internal/gateway"
	"github.com/wicket-vpn/wicket/server/internal/peers"
	"github.com/wicket-vpn/wicket/shared/wgkey"
)

// What a standalone gateway reads from and writes to GatewayService, in
// one place: SyncPeers messages become peer changes, and the driver's
// statistics become ReportStats entries.

// changeFromProto reads one SyncPeers message.
func changeFromProto(m *v1.SyncPeersResponse) (peers.Change, error) {
	switch {
	case m.GetSnapshot() != nil:
		s := m.GetSnapshot()
		iface, err := interfaceFromProto(s.GetInterface())
		if err != nil {
			return peers.Change{}, err
		}
		ch := peers.Change{Snapshot: true, Interface: iface}
		for _, p := range s.GetPeers() {
			q, err := peerFromProto(p)
			if err != nil {
				return peers.Change{}, err
			}
			ch.Peers = append(ch.Peers, q)
		}
		return ch, nil
	case m.GetUpsert() != nil:
		q, err := peerFromProto(m.GetUpsert())
		if err != nil {
			return peers.Change{}, err
		}
		return peers.Change{Upserts: []peers.Peer{q}}, nil
	case m.GetRemove() != nil:
		k, err := wgkey.Parse(m.GetRemove().GetPublicKey())
		if err != nil {
			return peers.Change{}, fmt.Errorf("removed peer's public key: %w", err)
		}
		return peers.Change{Removes: []wgkey.Key{k}}, nil
	}
	return peers.Change{}, nil
}

func interfaceFromProto(i *v1.GatewayInterface) (peers.Interface, error) {
	k, err := wgkey.Parse(i.GetPrivateKey())
	if err != nil {
		return peers.Interface{}, fmt.Errorf("interface private key: %w", err)
	}
	addr, err := netip.ParsePrefix(i.GetAddress())
	if err != nil {
		return peers.Interface{}, fmt.Errorf("interface address %q: %w", i.GetAddress(), err)
	}
	ips, err := prefixesFromProto(i.GetAllowedIps())
	if err != nil {
		return peers.Interface{}, err
	}
	return peers.Interface{LocationID: i.GetLocationId(), PrivateKey: k, Address: addr, ListenPort: int(i.GetListenPort()), MTU: int(i.GetMtu()), AllowedIPs: ips}, nil
}

func peerFromProto(p *v1.Peer) (peers.Peer, error) {
	k, err := wgkey.Parse(p.GetPublicKey())
	if err != nil {
		return peers.Peer{}, fmt.Errorf("peer public key: %w", err)
	}
	var psk wgkey.Key
	if p.GetPresharedKey() != "" {
		if psk, err = wgkey.Parse(p.GetPresharedKey()); err != nil {
			return peers.Peer{}, fmt.Errorf("peer pre-shared key: %w", err)
		}
	}
	ips, err := prefixesFromProto(p.GetAllowedIps())
	if err != nil {
		return peers.Peer{}, err
	}
	out := peers.Peer{PublicKey: k, AllowedIPs: ips, PresharedKey: psk}
	if e := p.GetEndpoint(); e != "" {
		// Only a hint: a damaged one costs the head start, not the peer.
		out.Endpoint, _ = netip.ParseAddrPort(e)
	}
	return out, nil
}

func prefixesFromProto(list []string) ([]netip.Prefix, error) {
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

// statsToProto is one ReportStats request's worth of statistics.
func statsToProto(stats []gateway.PeerStats) []*v1.PeerStats {
	out := make([]*v1.PeerStats, 0, len(stats))
	for _, s := range stats {
		ps := &v1.PeerStats{PublicKey: s.PublicKey.String(), Endpoint: s.Endpoint, RxBytes: s.RxBytes, TxBytes: s.TxBytes}
		if !s.LatestHandshake.IsZero() {
			ps.LatestHandshake = timestamppb.New(s.LatestHandshake)
		}
		out = append(out, ps)
	}
	return out
}
