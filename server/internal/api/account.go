package api

import (
	"context"

	"connectrpc.com/connect"

	v1 "github.com/wicket-vpn/wicket/proto/gen/wicket/v1"
	"github.com/wicket-vpn/wicket/server/internal/service"
)

type accountService struct{ *API }

func (a *accountService) Login(ctx context.Context, req *connect.Request[v1.LoginRequest]) (*connect.Response[v1.LoginResponse], error) {
	m := req.Msg
	in, err := a.svc.Login(ctx, m.GetUsername(), m.GetPassword(), m.GetTotpCode(), remote(req.Peer()))
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(signInPB(in)), nil
}

func signInPB(in service.SignIn) *v1.LoginResponse {
	return &v1.LoginResponse{Token: in.Token, ExpiresAt: ts(in.ExpiresAt), MfaChallenge: in.Challenge, MfaMethods: methods(in.Methods)}
}

func (a *accountService) GetProfile(ctx context.Context, req *connect.Request[v1.GetProfileRequest]) (*connect.Response[v1.GetProfileResponse], error) {
	actor, _, err := a.user(ctx, req.Header(), req.Peer())
	if err != nil {
		return nil, err
	}
	p, err := a.svc.Profile(ctx, actor)
	if err != nil {
		return nil, err
	}
	out := &v1.GetProfileResponse{Username: p.User.Username, Email: p.User.Email, EnabledMfaMethods: methods(p.Methods), Admin: p.User.Admin, Groups: p.User.Groups}
	for _, d := range p.Devices {
		out.Devices = append(out.Devices, devicePB(d, p.User.Username))
	}
	return connect.NewResponse(out), nil
}

func (a *accountService) BeginTotpSetup(ctx context.Context, req *connect.Request[v1.BeginTotpSetupRequest]) (*connect.Response[v1.BeginTotpSetupResponse], error) {
	actor, _, err := a.user(ctx, req.Header(), req.Peer())
	if err != nil {
		return nil, err
	}
	t, err := a.svc.BeginTOTPSetup(ctx, actor)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&v1.BeginTotpSetupResponse{Secret: t.Secret, OtpauthUrl: t.OtpauthURL, QrPng: t.QRPNG}), nil
}

func (a *accountService) ConfirmTotpSetup(ctx context.Context, req *connect.Request[v1.ConfirmTotpSetupRequest]) (*connect.Response[v1.ConfirmTotpSetupResponse], error) {
	actor, _, err := a.user(ctx, req.Header(), req.Peer())
	if err != nil {
		return nil, err
	}
	if err := a.svc.ConfirmTOTPSetup(ctx, actor, req.Msg.GetCode()); err != nil {
		return nil, err
	}
	return connect.NewResponse(&v1.ConfirmTotpSetupResponse{}), nil
}

func (a *accountService) DisableTotp(ctx context.Context, req *connect.Request[v1.DisableTotpRequest]) (*connect.Response[v1.DisableTotpResponse], error) {
	actor, _, err := a.user(ctx, req.Header(), req.Peer())
	if err != nil {
		return nil, err
	}
	if err := a.svc.DisableTOTP(ctx, actor, req.Msg.GetCode()); err != nil {
		return nil, err
	}
	return connect.NewResponse(&v1.DisableTotpResponse{}), nil
}

func (a *accountService) BeginEmailMfaSetup(ctx context.Context, req *connect.Request[v1.BeginEmailMfaSetupRequest]) (*connect.Response[v1.BeginEmailMfaSetupResponse], error) {
	actor, _, err := a.user(ctx, req.Header(), req.Peer())
	if err != nil {
		return nil, err
	}
	e, err := a.svc.BeginEmailSetup(ctx, actor)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&v1.BeginEmailMfaSetupResponse{SentTo: e.SentTo, ExpiresAt: ts(e.ExpiresAt)}), nil
}

func (a *accountService) ConfirmEmailMfaSetup(ctx context.Context, req *connect.Request[v1.ConfirmEmailMfaSetupRequest]) (*connect.Response[v1.ConfirmEmailMfaSetupResponse], error) {
	actor, _, err := a.user(ctx, req.Header(), req.Peer())
	if err != nil {
		return nil, err
	}
	if err := a.svc.ConfirmEmailSetup(ctx, actor, req.Msg.GetCode()); err != nil {
		return nil, err
	}
	return connect.NewResponse(&v1.ConfirmEmailMfaSetupResponse{}), nil
}

func (a *accountService) DisableEmailMfa(ctx context.Context, req *connect.Request[v1.DisableEmailMfaRequest]) (*connect.Response[v1.DisableEmailMfaResponse], error) {
	actor, _, err := a.user(ctx, req.Header(), req.Peer())
	if err != nil {
		return nil, err
	}
	if err := a.svc.DisableEmailMFA(ctx, actor); err != nil {
		return nil, err
	}
	return connect.NewResponse(&v1.DisableEmailMfaResponse{}), nil
}

func (a *accountService) CreateEnrollmentToken(ctx context.Context, req *connect.Request[v1.CreateEnrollmentTokenRequest]) (*connect.Response[v1.CreateEnrollmentTokenResponse], error) {
	actor, _, err := a.user(ctx, req.Header(), req.Peer())
	if err != nil {
		return nil, err
	}
	e, err := a.svc.CreateEnrollmentToken(ctx, actor, req.Msg.GetDeviceName())
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&v1.CreateEnrollmentTokenResponse{EnrollmentToken: e.Token, EnrollmentCode: e.Code, ExpiresAt: ts(e.ExpiresAt)}), nil
}

func (a *accountService) ListDevices(ctx context.Context, req *connect.Request[v1.ListDevicesRequest]) (*connect.Response[v1.ListDevicesResponse], error) {
	actor, _, err := a.user(ctx, req.Header(), req.Peer())
	if err != nil {
		return nil, err
	}
	devs, err := a.svc.ListDevices(ctx, actor)
	if err != nil {
		return nil, err
	}
	out := &v1.ListDevicesResponse{}
	for _, d := range devs {
		out.Devices = append(out.Devices, devicePB(d, actor.Username))
	}
	return connect.NewResponse(out), nil
}

func (a *accountService) DeleteDevice(ctx context.Context, req *connect.Request[v1.DeleteDeviceRequest]) (*connect.Response[v1.DeleteDeviceResponse], error) {
	actor, _, err := a.user(ctx, req.Header(), req.Peer())
	if err != nil {
		return nil, err
	}
	if err := a.svc.DeleteDevice(ctx, actor, req.Msg.GetDeviceId()); err != nil {
		return nil, err
	}
	return connect.NewResponse(&v1.DeleteDeviceResponse{}), nil
}

func (a *accountService) CreateConfigDevice(ctx context.Context, req *connect.Request[v1.CreateConfigDeviceRequest]) (*connect.Response[v1.CreateConfigDeviceResponse], error) {
	actor, _, err := a.user(ctx, req.Header(), req.Peer())
	if err != nil {
		return nil, err
	}
	c, err := a.svc.CreateConfigDevice(ctx, actor, req.Msg.GetName(), req.Msg.GetLocationId())
	if err != nil {
		return nil, err
	}
	resp := connect.NewResponse(&v1.CreateConfigDeviceResponse{Device: devicePB(c.Device, actor.Username), Config: c.Config, QrPng: c.QRPNG, FileName: c.FileName})
	// The answer holds a private key that is not kept anywhere.
	resp.Header().Set("Cache-Control", "no-store")
	return resp, nil
}

func (a *accountService) SendLoginCode(ctx context.Context, req *connect.Request[v1.SendLoginCodeRequest]) (*connect.Response[v1.SendLoginCodeResponse], error) {
	e, err := a.svc.SendLoginCode(ctx, req.Msg.GetMfaChallenge(), remote(req.Peer()))
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&v1.SendLoginCodeResponse{SentTo: e.SentTo, ExpiresAt: ts(e.ExpiresAt)}), nil
}

func (a *accountService) FinishLogin(ctx context.Context, req *connect.Request[v1.FinishLoginRequest]) (*connect.Response[v1.LoginResponse], error) {
	in, err := a.svc.FinishLogin(ctx, req.Msg.GetMfaChallenge(), req.Msg.GetCode(), remote(req.Peer()))
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(signInPB(in)), nil
}

func (a *accountService) BeginPasskeySetup(ctx context.Context, req *connect.Request[v1.BeginPasskeySetupRequest]) (*connect.Response[v1.BeginPasskeySetupResponse], error) {
	actor, _, err := a.user(ctx, req.Header(), req.Peer())
	if err != nil {
		return nil, err
	}
	opts, err := a.svc.BeginPasskeySetup(ctx, actor)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&v1.BeginPasskeySetupResponse{OptionsJson: opts}), nil
}

func (a *accountService) FinishPasskeySetup(ctx context.Context, req *connect.Request[v1.FinishPasskeySetupRequest]) (*connect.Response[v1.FinishPasskeySetupResponse], error) {
	actor, _, err := a.user(ctx, req.Header(), req.Peer())
	if err != nil {
		return nil, err
	}
	p, err := a.svc.FinishPasskeySetup(ctx, actor, req.Msg.GetName(), req.Msg.GetCredentialJson())
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&v1.FinishPasskeySetupResponse{Passkey: passkeyPB(p)}), nil
}

func (a *accountService) ListPasskeys(ctx context.Context, req *connect.Request[v1.ListPasskeysRequest]) (*connect.Response[v1.ListPasskeysResponse], error) {
	actor, _, err := a.user(ctx, req.Header(), req.Peer())
	if err != nil {
		return nil, err
	}
	list, err := a.svc.ListPasskeys(ctx, actor)
	if err != nil {
		return nil, err
	}
	out := &v1.ListPasskeysResponse{}
	for _, p := range list {
		out.Passkeys = append(out.Passkeys, passkeyPB(p))
	}
	return connect.NewResponse(out), nil
}

func (a *accountService) DeletePasskey(ctx context.Context, req *connect.Request[v1.DeletePasskeyRequest]) (*connect.Response[v1.DeletePasskeyResponse], error) {
	actor, _, err := a.user(ctx, req.Header(), req.Peer())
	if err != nil {
		return nil, err
	}
	if err := a.svc.DeletePasskey(ctx, actor, req.Msg.GetId()); err != nil {
		return nil, err
	}
	return connect.NewResponse(&v1.DeletePasskeyResponse{}), nil
}

func passkeyPB(p service.Passkey) *v1.Passkey {
	return &v1.Passkey{Id: p.ID, Name: p.Name, CreatedAt: ts(p.CreatedAt), LastUsedAt: ts(p.LastUsedAt)}
}
