package api

import (
	"context"
	"errors"
	"net/netip"

	"connectrpc.com/connect"

	v1 "github.com/wicket-vpn/wicket/proto/gen/wicket/v1"
	"github.com/wicket-vpn/wicket/server/internal/fault"
	"github.com/wicket-vpn/wicket/server/internal/peers"
	"github.com/wicket-vpn/wicket/server/internal/service"
	"github.com/wicket-vpn/wicket/server/internal/session"
	"github.com/wicket-vpn/wicket/shared/wgkey"
)

type gatewayService struct{ *API }

func peerPB(p peers.Peer) *v1.Peer {
	out := &v1.Peer{PublicKey: p.PublicKey.String(), AllowedIps: prefixesPB(p.AllowedIPs), PresharedKey: optionalKeyPB(p.PresharedKey)}
	if p.Endpoint.IsValid() {
		out.Endpoint = p.Endpoint.String()
	}
	return out
}

func interfacePB(i peers.Interface) *v1.GatewayInterface {
	return &v1.GatewayInterface{LocationId: i.LocationID, PrivateKey: i.PrivateKey.String(), Address: i.Address.String(),
		ListenPort: uint32(i.ListenPort), Mtu: uint32(i.MTU), AllowedIps: prefixesPB(i.AllowedIPs)}
}

func prefixesPB(list []netip.Prefix) []string {
	out := make([]string, 0, len(list))
	for _, p := range list {
		out = append(out, p.String())
	}
	return out
}

// optionalKeyPB is "" for the zero key: a peer without a pre-shared key.
func optionalKeyPB(k wgkey.Key) string {
	if k.IsZero() {
		return ""
	}
	return k.String()
}

func (a *gatewayService) SyncPeers(ctx context.Context, req *connect.Request[v1.SyncPeersRequest], stream *connect.ServerStream[v1.SyncPeersResponse]) error {
	g, err := a.svc.FollowGateway(ctx, req.Msg.GetGatewayToken())
	if err != nil {
		return err
	}
	defer g.Close()
	for {
		ch, err := g.Next()
		if errors.Is(err, session.ErrLocationDeleted) {
			return connect.NewError(connect.CodeNotFound, errors.New("the gateway's location was deleted"))
		}
		if err != nil {
			if fault.KindOf(err) == fault.Internal && ctx.Err() != nil {
				return nil // the gateway went away or the server is stopping
			}
			return err
		}
		if ch.Snapshot {
			snap := &v1.PeerSnapshot{Interface: interfacePB(ch.Interface)}
			for _, p := range ch.Peers {
				snap.Peers = append(snap.Peers, peerPB(p))
			}
			if err := stream.Send(&v1.SyncPeersResponse{Snapshot: snap}); err != nil {
				return err
			}
			continue
		}
		for _, k := range ch.Removes {
			if err := stream.Send(&v1.SyncPeersResponse{Remove: &v1.PeerRemove{PublicKey: k.String()}}); err != nil {
				return err
			}
		}
		for _, p := range ch.Upserts {
			if err := stream.Send(&v1.SyncPeersResponse{Upsert: peerPB(p)}); err != nil {
				return err
			}
		}
	}
}

func (a *gatewayService) ReportStats(ctx context.Context, req *connect.Request[v1.ReportStatsRequest]) (*connect.Response[v1.ReportStatsResponse], error) {
	loc, err := a.svc.GatewayLocation(ctx, req.Msg.GetGatewayToken())
	if err != nil {
		return nil, err
	}
	stats := make([]service.PeerStat, 0, len(req.Msg.GetStats()))
	for _, s := range req.Msg.GetStats() {
		st := service.PeerStat{PublicKey: s.GetPublicKey(), Endpoint: s.GetEndpoint(), RxBytes: s.GetRxBytes(), TxBytes: s.GetTxBytes()}
		if s.GetLatestHandshake() != nil {
			st.LatestHandshake = s.GetLatestHandshake().AsTime()
		}
		stats = append(stats, st)
	}
	if err := a.svc.ReportStats(ctx, loc, stats); err != nil {
		return nil, err
	}
	return connect.NewResponse(&v1.ReportStatsResponse{}), nil
}
