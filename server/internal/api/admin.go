package api

import (
	"context"

	"connectrpc.com/connect"

	v1 "github.com/wicket-vpn/wicket/proto/gen/wicket/v1"
	"github.com/wicket-vpn/wicket/server/internal/fault"
	"github.com/wicket-vpn/wicket/server/internal/mail"
	"github.com/wicket-vpn/wicket/server/internal/service"
)

type adminService struct{ *API }

// admin authenticates the caller; the domain checks that it is an admin.
func (a *adminService) admin(ctx context.Context, req connect.AnyRequest) (service.Actor, error) {
	actor, _, err := a.user(ctx, req.Header(), req.Peer())
	return actor, err
}

func (a *adminService) ListLocations(ctx context.Context, req *connect.Request[v1.ListLocationsRequest]) (*connect.Response[v1.ListLocationsResponse], error) {
	actor, err := a.admin(ctx, req)
	if err != nil {
		return nil, err
	}
	locs, err := a.svc.ListLocations(ctx, actor)
	if err != nil {
		return nil, err
	}
	out := &v1.ListLocationsResponse{}
	for _, l := range locs {
		out.Locations = append(out.Locations, locationPB(l))
	}
	return connect.NewResponse(out), nil
}

func (a *adminService) GetLocation(ctx context.Context, req *connect.Request[v1.GetLocationRequest]) (*connect.Response[v1.GetLocationResponse], error) {
	actor, err := a.admin(ctx, req)
	if err != nil {
		return nil, err
	}
	l, err := a.svc.GetLocation(ctx, actor, req.Msg.GetId())
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&v1.GetLocationResponse{Location: locationPB(l)}), nil
}

func (a *adminService) CreateLocation(ctx context.Context, req *connect.Request[v1.CreateLocationRequest]) (*connect.Response[v1.CreateLocationResponse], error) {
	actor, err := a.admin(ctx, req)
	if err != nil {
		return nil, err
	}
	spec, err := locationSpec(req.Msg.GetLocation())
	if err != nil {
		return nil, err
	}
	l, err := a.svc.CreateLocation(ctx, actor, spec)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&v1.CreateLocationResponse{Location: locationPB(l)}), nil
}

func (a *adminService) UpdateLocation(ctx context.Context, req *connect.Request[v1.UpdateLocationRequest]) (*connect.Response[v1.UpdateLocationResponse], error) {
	actor, err := a.admin(ctx, req)
	if err != nil {
		return nil, err
	}
	spec, err := locationSpec(req.Msg.GetLocation())
	if err != nil {
		return nil, err
	}
	l, err := a.svc.UpdateLocation(ctx, actor, spec)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&v1.UpdateLocationResponse{Location: locationPB(l)}), nil
}

func (a *adminService) DeleteLocation(ctx context.Context, req *connect.Request[v1.DeleteLocationRequest]) (*connect.Response[v1.DeleteLocationResponse], error) {
	actor, err := a.admin(ctx, req)
	if err != nil {
		return nil, err
	}
	if err := a.svc.DeleteLocation(ctx, actor, req.Msg.GetId()); err != nil {
		return nil, err
	}
	return connect.NewResponse(&v1.DeleteLocationResponse{}), nil
}

func (a *adminService) CreateUser(ctx context.Context, req *connect.Request[v1.CreateUserRequest]) (*connect.Response[v1.CreateUserResponse], error) {
	actor, err := a.admin(ctx, req)
	if err != nil {
		return nil, err
	}
	m := req.Msg
	u, err := a.svc.CreateUser(ctx, actor, service.NewUser{Username: m.GetUsername(), Email: m.GetEmail(), Password: m.GetPassword(), Admin: m.GetAdmin(), Groups: m.GetGroups()})
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&v1.CreateUserResponse{User: userPB(u)}), nil
}

func (a *adminService) ListUsers(ctx context.Context, req *connect.Request[v1.ListUsersRequest]) (*connect.Response[v1.ListUsersResponse], error) {
	actor, err := a.admin(ctx, req)
	if err != nil {
		return nil, err
	}
	users, err := a.svc.ListUsers(ctx, actor)
	if err != nil {
		return nil, err
	}
	out := &v1.ListUsersResponse{}
	for _, u := range users {
		out.Users = append(out.Users, userPB(u))
	}
	return connect.NewResponse(out), nil
}

func (a *adminService) UpdateUser(ctx context.Context, req *connect.Request[v1.UpdateUserRequest]) (*connect.Response[v1.UpdateUserResponse], error) {
	actor, err := a.admin(ctx, req)
	if err != nil {
		return nil, err
	}
	m := req.Msg
	u, err := a.svc.UpdateUser(ctx, actor, service.UserUpdate{ID: m.GetId(), Email: m.GetEmail(), Admin: m.GetAdmin(), Groups: m.GetGroups(), Password: m.GetPassword()})
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&v1.UpdateUserResponse{User: userPB(u)}), nil
}

func (a *adminService) DeleteUser(ctx context.Context, req *connect.Request[v1.DeleteUserRequest]) (*connect.Response[v1.DeleteUserResponse], error) {
	actor, err := a.admin(ctx, req)
	if err != nil {
		return nil, err
	}
	if err := a.svc.DeleteUser(ctx, actor, req.Msg.GetId()); err != nil {
		return nil, err
	}
	return connect.NewResponse(&v1.DeleteUserResponse{}), nil
}

func (a *adminService) ResetUserMfa(ctx context.Context, req *connect.Request[v1.ResetUserMfaRequest]) (*connect.Response[v1.ResetUserMfaResponse], error) {
	actor, err := a.admin(ctx, req)
	if err != nil {
		return nil, err
	}
	if err := a.svc.ResetUserMFA(ctx, actor, req.Msg.GetId()); err != nil {
		return nil, err
	}
	return connect.NewResponse(&v1.ResetUserMfaResponse{}), nil
}

func (a *adminService) GetSmtpSettings(ctx context.Context, req *connect.Request[v1.GetSmtpSettingsRequest]) (*connect.Response[v1.GetSmtpSettingsResponse], error) {
	actor, err := a.admin(ctx, req)
	if err != nil {
		return nil, err
	}
	v, err := a.svc.GetSMTP(ctx, actor)
	if err != nil {
		return nil, err
	}
	s := v.Settings
	out := &v1.GetSmtpSettingsResponse{Host: s.Host, Port: uint32(s.Port), Username: s.Username, From: s.From, PasswordSet: v.PasswordSet}
	if s.Host != "" {
		out.Tls = tlsToPB[s.TLS]
	}
	return connect.NewResponse(out), nil
}

func (a *adminService) UpdateSmtpSettings(ctx context.Context, req *connect.Request[v1.UpdateSmtpSettingsRequest]) (*connect.Response[v1.UpdateSmtpSettingsResponse], error) {
	actor, err := a.admin(ctx, req)
	if err != nil {
		return nil, err
	}
	m := req.Msg
	if err := checkEnum("tls", m.GetTls()); err != nil {
		return nil, err
	}
	err = a.svc.UpdateSMTP(ctx, actor, mail.Settings{Host: m.GetHost(), Port: int(m.GetPort()), Username: m.GetUsername(), Password: m.GetPassword(), From: m.GetFrom(), TLS: tlsFromPB(m.GetTls())})
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&v1.UpdateSmtpSettingsResponse{}), nil
}

func (a *adminService) SendTestEmail(ctx context.Context, req *connect.Request[v1.SendTestEmailRequest]) (*connect.Response[v1.SendTestEmailResponse], error) {
	actor, err := a.admin(ctx, req)
	if err != nil {
		return nil, err
	}
	if err := a.svc.SendTestEmail(ctx, actor, req.Msg.GetTo()); err != nil {
		return nil, err
	}
	return connect.NewResponse(&v1.SendTestEmailResponse{}), nil
}

func (a *adminService) ListSessions(ctx context.Context, req *connect.Request[v1.ListSessionsRequest]) (*connect.Response[v1.ListSessionsResponse], error) {
	actor, err := a.admin(ctx, req)
	if err != nil {
		return nil, err
	}
	list, err := a.svc.ListSessions(ctx, actor, req.Msg.GetLocationId(), req.Msg.GetActiveOnly())
	if err != nil {
		return nil, err
	}
	out := &v1.ListSessionsResponse{}
	for _, s := range list {
		out.Sessions = append(out.Sessions, sessionPB(s))
	}
	return connect.NewResponse(out), nil
}

func (a *adminService) DisconnectSession(ctx context.Context, req *connect.Request[v1.DisconnectSessionRequest]) (*connect.Response[v1.DisconnectSessionResponse], error) {
	actor, err := a.admin(ctx, req)
	if err != nil {
		return nil, err
	}
	if err := a.svc.DisconnectSession(ctx, actor, req.Msg.GetSessionId()); err != nil {
		return nil, err
	}
	return connect.NewResponse(&v1.DisconnectSessionResponse{}), nil
}

func (a *adminService) ListAuditEvents(ctx context.Context, req *connect.Request[v1.ListAuditEventsRequest]) (*connect.Response[v1.ListAuditEventsResponse], error) {
	actor, err := a.admin(ctx, req)
	if err != nil {
		return nil, err
	}
	m := req.Msg
	events, err := a.svc.ListAudit(ctx, actor, service.AuditFilter{Before: m.GetAfterId(), Limit: int(m.GetLimit()), Action: m.GetAction(), Actor: m.GetActor()})
	if err != nil {
		return nil, err
	}
	out := &v1.ListAuditEventsResponse{}
	for _, e := range events {
		out.Events = append(out.Events, &v1.AuditEvent{Id: e.ID, Time: ts(e.Time), Actor: e.Actor, Action: e.Action, Subject: e.Subject, Detail: e.Detail, RemoteAddr: e.RemoteAddr})
	}
	return connect.NewResponse(out), nil
}

func (a *adminService) CreateGatewayToken(ctx context.Context, req *connect.Request[v1.CreateGatewayTokenRequest]) (*connect.Response[v1.CreateGatewayTokenResponse], error) {
	actor, err := a.admin(ctx, req)
	if err != nil {
		return nil, err
	}
	m := req.Msg
	n := service.NewGatewayToken{LocationID: m.GetLocationId(), Name: m.GetName()}
	if m.ExpiresAt != nil {
		if err := m.GetExpiresAt().CheckValid(); err != nil {
			return nil, &fault.Error{Kind: fault.Invalid, Field: "expires_at", Msg: "expires_at: not a valid time (" + err.Error() + ")"}
		}
		n.ExpiresAt = m.GetExpiresAt().AsTime()
	}
	t, plain, err := a.svc.CreateGatewayToken(ctx, actor, n)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&v1.CreateGatewayTokenResponse{GatewayToken: plain, Token: gatewayTokenPB(t)}), nil
}

func (a *adminService) ListGatewayTokens(ctx context.Context, req *connect.Request[v1.ListGatewayTokensRequest]) (*connect.Response[v1.ListGatewayTokensResponse], error) {
	actor, err := a.admin(ctx, req)
	if err != nil {
		return nil, err
	}
	list, err := a.svc.ListGatewayTokens(ctx, actor, req.Msg.GetLocationId())
	if err != nil {
		return nil, err
	}
	out := &v1.ListGatewayTokensResponse{}
	for _, t := range list {
		out.Tokens = append(out.Tokens, gatewayTokenPB(t))
	}
	return connect.NewResponse(out), nil
}

func (a *adminService) RevokeGatewayToken(ctx context.Context, req *connect.Request[v1.RevokeGatewayTokenRequest]) (*connect.Response[v1.RevokeGatewayTokenResponse], error) {
	actor, err := a.admin(ctx, req)
	if err != nil {
		return nil, err
	}
	if err := a.svc.RevokeGatewayToken(ctx, actor, req.Msg.GetId()); err != nil {
		return nil, err
	}
	return connect.NewResponse(&v1.RevokeGatewayTokenResponse{}), nil
}
