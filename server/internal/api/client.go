package api

import (
	"context"
	"errors"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/timestamppb"

	v1 "github.com/wicket-vpn/wicket/proto/gen/wicket/v1"
	"github.com/wicket-vpn/wicket/server/internal/fault"
	"github.com/wicket-vpn/wicket/server/internal/mfa"
	"github.com/wicket-vpn/wicket/server/internal/notify"
	"github.com/wicket-vpn/wicket/server/internal/service"
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
	rep, err := a.svc.SessionReport(ctx, dev, req.Msg.GetKnownSessionIds())
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&v1.GetInstanceResponse{Instance: instancePB(inst), Sessions: reportPB(rep)}), nil
}

func reportPB(r service.SessionReport) *v1.SessionReport {
	out := &v1.SessionReport{ActiveSessionIds: r.Active}
	for _, e := range r.Ended {
		out.Ended = append(out.Ended, &v1.SessionEnded{SessionId: e.SessionID, LocationId: e.LocationID, Reason: v1.SessionEndReason(e.Reason), Message: e.Message})
	}
	return out
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
	// Every (re)connection reconciles the device's sessions: one that
	// ended while the stream was down is told here.
	// A device that holds none gets the response headers alone: an
	// up-to-date client's call must return with the stream open rather
	// than block until the next change.
	if known := req.Msg.GetKnownSessionIds(); len(known) > 0 {
		rep, err := a.svc.SessionReport(ctx, dev, known)
		if err != nil {
			return err
		}
		if err := stream.Send(&v1.WatchInstanceResponse{Sessions: reportPB(rep)}); err != nil {
			return err
		}
	} else if err := stream.Send(nil); err != nil {
		return err
	}
	for {
		// A quiet stream carries a heartbeat, so both ends notice a dead
		// connection; the subscription keeps what arrives meanwhile.
		wait, cancel := context.WithTimeout(ctx, a.heartbeat)
		changed, ended, err := sub.Next(wait)
		cancel()
		if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
			if err := stream.Send(&v1.WatchInstanceResponse{Heartbeat: timestamppb.New(a.svc.Now())}); err != nil {
				return err
			}
			continue
		}
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
	return connect.NewResponse(&v1.StartMfaResponse{ChallengeToken: c.Token, ExpiresAt: ts(c.ExpiresAt), SentTo: c.SentTo, BrowserUrl: c.BrowserURL}), nil
}

func (a *clientService) FinishMfa(ctx context.Context, req *connect.Request[v1.FinishMfaRequest]) (*connect.Response[v1.FinishMfaResponse], error) {
	o, err := a.svc.FinishMFA(ctx, req.Msg.GetChallengeToken(), req.Msg.GetCode(), remote(req.Peer()))
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&v1.FinishMfaResponse{SessionId: o.Session.ID, Tunnel: tunnelPB(o.Tunnel), ExpiresAt: ts(o.ExpiresAt)}), nil
}

func (a *clientService) AwaitMfa(ctx context.Context, req *connect.Request[v1.AwaitMfaRequest]) (*connect.Response[v1.FinishMfaResponse], error) {
	o, err := a.svc.AwaitMFA(ctx, req.Msg.GetChallengeToken(), remote(req.Peer()))
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
