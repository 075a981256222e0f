package api

import (
	"context"
	"errors"

	"connectrpc.com/connect"

	v1 "github.com/wicket-vpn/wicket/proto/gen/wicket/v1"
	"github.com/wicket-vpn/wicket/server/internal/fault"
	"github.com/wicket-vpn/wicket/server/internal/mfa"
	"github.com/wicket-vpn/wicket/server/internal/notify"
)

type clientService struct{ *API }

func (a *clientService) Enroll(ctx context.Context, req *connect.Request[v1.EnrollRequest]) (*connect.Response[v1.EnrollResponse], error) {
	m := req.Msg
	dev, tok, err := a.svc.Enroll(ctx, m.GetEnrollmentToken(), m.GetDeviceName(), m.GetPublicKey(), remote(req.Peer()))
	if err != nil {
		return nil, err
	}
	inst, err := a.svc.Instance(ctx, dev)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&v1.EnrollResponse{Instance: instancePB(inst), DeviceId: dev.ID, DeviceToken: tok}), nil
}

func (a *clientService) GetInstance(ctx context.Context, req *connect.Request[v1.GetInstanceRequest]) (*connect.Response[v1.GetInstanceResponse], error) {
	dev, err := a.svc.DeviceByToken(ctx, req.Msg.GetDeviceToken())
	if err != nil {
		return nil, err
	}
	inst, err := a.svc.Instance(ctx, dev)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&v1.GetInstanceResponse{Instance: instancePB(inst)}), nil
}

func (a *clientService) WatchInstance(ctx context.Context, req *connect.Request[v1.WatchInstanceRequest], stream *connect.ServerStream[v1.WatchInstanceResponse]) error {
	dev, err := a.svc.DeviceByToken(ctx, req.Msg.GetDeviceToken())
	if err != nil {
		return err
	}
	// Subscribe before reading the instance so no change falls in between.
	sub := a.svc.Watch(dev.ID, dev.User.ID)
	defer sub.Close()
	known := req.Msg.GetKnownConfigVersion()
	send := func() error {
		d, err := a.svc.DeviceByToken(ctx, req.Msg.GetDeviceToken())
		if err != nil {
			return err
		}
		inst, err := a.svc.Instance(ctx, d)
		if err != nil {
			return err
		}
		if inst.ConfigVersion == known {
			return nil
		}
		known = inst.ConfigVersion
		return stream.Send(&v1.WatchInstanceResponse{Instance: instancePB(inst)})
	}
	if err := send(); err != nil {
		return err
	}
	// Send the response headers now: a client that is already up to date
	// gets no message yet, and its call must return with the stream open
	// rather than block until the next change.
	if err := stream.Send(nil); err != nil {
		return err
	}
	for {
		changed, ended, err := sub.Next(ctx)
		if errors.Is(err, notify.ErrReplaced) {
			return fault.New(fault.Exhausted, "This watch was closed because the device opened a newer one (at most %d at once); the newer ones stay up to date.", notify.MaxPerDevice)
		}
		if err != nil {
			return nil // the client went away or the server is stopping
		}
		for _, e := range ended {
			if err := stream.Send(&v1.WatchInstanceResponse{SessionEnded: &v1.SessionEnded{
				SessionId: e.SessionID, LocationId: e.LocationID, Reason: v1.SessionEndReason(e.Reason), Message: e.Message,
			}}); err != nil {
				return err
			}
		}
		if changed {
			if err := send(); err != nil {
				return err
			}
		}
	}
}

func (a *clientService) Connect(ctx context.Context, req *connect.Request[v1.ConnectRequest]) (*connect.Response[v1.ConnectResponse], error) {
	dev, err := a.svc.DeviceByToken(ctx, req.Msg.GetDeviceToken())
	if err != nil {
		return nil, err
	}
	o, err := a.svc.Connect(ctx, dev, req.Msg.GetLocationId(), remote(req.Peer()))
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&v1.ConnectResponse{SessionId: o.Session.ID, Tunnel: tunnelPB(o.Tunnel)}), nil
}

func (a *clientService) StartMfa(ctx context.Context, req *connect.Request[v1.StartMfaRequest]) (*connect.Response[v1.StartMfaResponse], error) {
	dev, err := a.svc.DeviceByToken(ctx, req.Msg.GetDeviceToken())
	if err != nil {
		return nil, err
	}
	if err := checkEnum("method", req.Msg.GetMethod()); err != nil {
		return nil, err
	}
	c, err := a.svc.StartMFA(ctx, dev, req.Msg.GetLocationId(), mfa.Method(req.Msg.GetMethod()), remote(req.Peer()))
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&v1.StartMfaResponse{ChallengeToken: c.Token, ExpiresAt: ts(c.ExpiresAt), SentTo: c.SentTo}), nil
}

func (a *clientService) FinishMfa(ctx context.Context, req *connect.Request[v1.FinishMfaRequest]) (*connect.Response[v1.FinishMfaResponse], error) {
	o, err := a.svc.FinishMFA(ctx, req.Msg.GetChallengeToken(), req.Msg.GetCode(), remote(req.Peer()))
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&v1.FinishMfaResponse{SessionId: o.Session.ID, Tunnel: tunnelPB(o.Tunnel), ExpiresAt: ts(o.ExpiresAt)}), nil
}

func (a *clientService) Disconnect(ctx context.Context, req *connect.Request[v1.DisconnectRequest]) (*connect.Response[v1.DisconnectResponse], error) {
	dev, err := a.svc.DeviceByToken(ctx, req.Msg.GetDeviceToken())
	if err != nil {
		return nil, err
	}
	if err := a.svc.Disconnect(ctx, dev, req.Msg.GetSessionId()); err != nil {
		return nil, err
	}
	return connect.NewResponse(&v1.DisconnectResponse{}), nil
}
