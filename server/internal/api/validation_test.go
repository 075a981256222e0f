package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"testing"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	v1 "github.com/wicket-vpn/wicket/proto/gen/wicket/v1"
	"github.com/wicket-vpn/wicket/proto/gen/wicket/v1/wicketv1connect"
	"github.com/wicket-vpn/wicket/server/internal/servertest"
)

// postJSON calls a unary procedure with a raw Connect JSON body, as any
// HTTP client can, and returns its error as a Connect error (nil on 200).
func postJSON(ctx context.Context, s *servertest.Server, procedure, bearer, body string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.URL+procedure, bytes.NewBufferString(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := s.HTTP.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode == http.StatusOK {
		return nil
	}
	var e struct{ Code, Message string }
	if err := json.Unmarshal(b, &e); err != nil {
		return fmt.Errorf("HTTP %d: %s", resp.StatusCode, b)
	}
	var code connect.Code
	if err := code.UnmarshalText([]byte(e.Code)); err != nil {
		return fmt.Errorf("HTTP %d: %s", resp.StatusCode, b)
	}
	return connect.NewError(code, errors.New(e.Message))
}

// jsonOf is the Connect JSON body of a message; unknown enum numbers stay numbers.
func jsonOf(t *testing.T, m proto.Message) string {
	t.Helper()
	b, err := protojson.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestInputThatWouldSubvertTheServerIsRefused sends, for each check, the
// request an attacker or a careless script would, and checks that it is
// refused with InvalidArgument naming the field, changing nothing.
func TestInputThatWouldSubvertTheServerIsRefused(t *testing.T) {
	s := servertest.New(t)
	ctx := servertest.Ctx(t)
	admin := s.AdminToken()
	office := s.MFALocation("Office") // listen port 51820
	lab := s.CreateLocation(&v1.Location{Name: "Lab", Address: "10.20.0.1/24"})
	alice := s.CreateUser("alice")
	s.EnableTOTP(alice)
	dev := s.Enroll(alice, "laptop")
	enrollment := func() string {
		et, err := s.Account.CreateEnrollmentToken(ctx, servertest.Req(alice.Token, &v1.CreateEnrollmentTokenRequest{}))
		if err != nil {
			t.Fatal(err)
		}
		return et.Msg.EnrollmentToken
	}
	location := func(id string) *v1.Location {
		r, err := s.Admin.GetLocation(ctx, servertest.Req(admin, &v1.GetLocationRequest{Id: id}))
		if err != nil {
			t.Fatal(err)
		}
		return r.Msg.Location
	}
	noLocationNamed := func(name string) error {
		r, err := s.Admin.ListLocations(ctx, servertest.Req(admin, &v1.ListLocationsRequest{}))
		if err != nil {
			return err
		}
		for _, l := range r.Msg.Locations {
			if l.Name == name {
				return fmt.Errorf("a location %q was created (MFA %v)", name, l.MfaMode)
			}
		}
		return nil
	}
	officeStillMFA := func() error {
		if m := location(office.Id).MfaMode; m != v1.LocationMfaMode_LOCATION_MFA_MODE_INTERNAL {
			return fmt.Errorf("Office's MFA is now %v", m)
		}
		return nil
	}
	officeWith := func(change func(*v1.Location)) *v1.Location {
		l := proto.Clone(location(office.Id)).(*v1.Location)
		change(l)
		return l
	}

	tests := []struct {
		name string
		call func() error
		want string // the start of the message
		// after checks that the refused call changed nothing.
		after func() error
	}{
		{
			name: "mfaMode 99 on create, stored as no MFA",
			call: func() error {
				return postJSON(ctx, s, wicketv1connect.AdminServiceCreateLocationProcedure, admin,
					`{"location":{"name":"Branch","address":"10.30.0.1/24","listenPort":51830,"endpoint":"127.0.0.1:51830","mfaMode":99}}`)
			},
			want:  "mfa_mode: 99 is not a LocationMfaMode",
			after: func() error { return noLocationNamed("Branch") },
		},
		{
			name: "mfaMode 99 on update",
			call: func() error {
				body := jsonOf(t, &v1.UpdateLocationRequest{Location: officeWith(func(l *v1.Location) { l.MfaMode = v1.LocationMfaMode(99) })})
				return postJSON(ctx, s, wicketv1connect.AdminServiceUpdateLocationProcedure, admin, body)
			},
			want:  "mfa_mode: 99 is not a LocationMfaMode",
			after: officeStillMFA,
		},
		{
			name: "SMTP tls 99",
			call: func() error {
				return postJSON(ctx, s, wicketv1connect.AdminServiceUpdateSmtpSettingsProcedure, admin,
					fmt.Sprintf(`{"host":%q,"port":%d,"from":"wicket@example.com","tls":99}`, s.Mail.Host(), s.Mail.Port()))
			},
			want: "tls: 99 is not a SmtpTls",
		},
		{
			name: "StartMfa method 99",
			call: func() error {
				return postJSON(ctx, s, wicketv1connect.ClientServiceStartMfaProcedure, "",
					fmt.Sprintf(`{"deviceToken":%q,"locationId":%q,"method":99}`, dev.Token, office.Id))
			},
			want: "method: 99 is not a MfaMethod",
		},
		{
			name: "listen port of another location on create",
			call: func() error {
				_, err := s.Admin.CreateLocation(ctx, servertest.Req(admin, &v1.CreateLocationRequest{Location: &v1.Location{
					Name: "Branch", Address: "10.30.0.1/24", ListenPort: 51820, Endpoint: "branch.example.com:51820"}}))
				return err
			},
			want:  "listen_port: 51820 is already used by Office",
			after: func() error { return noLocationNamed("Branch") },
		},
		{
			name: "listen port of another location on update",
			call: func() error {
				l := location(lab.Id)
				l.ListenPort = 51820
				_, err := s.Admin.UpdateLocation(ctx, servertest.Req(admin, &v1.UpdateLocationRequest{Location: l}))
				return err
			},
			want: "listen_port: 51820 is already used by Office",
			after: func() error {
				if p := location(lab.Id).ListenPort; p != lab.ListenPort {
					return fmt.Errorf("Lab's port is now %d", p)
				}
				return nil
			},
		},
		{
			name: "NUL in a location name",
			call: func() error {
				_, err := s.Admin.CreateLocation(ctx, servertest.Req(admin, &v1.CreateLocationRequest{Location: &v1.Location{
					Name: "Branch\x00", Address: "10.30.0.1/24", ListenPort: 51830, Endpoint: "127.0.0.1:51830"}}))
				return err
			},
			want:  "name: contains the control character U+0000",
			after: func() error { return noLocationNamed("Branch\x00") },
		},
		{
			name: "right-to-left override renaming a location",
			call: func() error {
				// Shown as "Office" followed by a reversed "exe.ppa", it reads as something else entirely.
				_, err := s.Admin.UpdateLocation(ctx, servertest.Req(admin, &v1.UpdateLocationRequest{Location: officeWith(func(l *v1.Location) { l.Name = "Office\u202Eppa.exe" })}))
				return err
			},
			want: "name: contains the invisible direction control U+202E",
			after: func() error {
				if n := location(office.Id).Name; n != "Office" {
					return fmt.Errorf("Office is now named %q", n)
				}
				return nil
			},
		},
		{
			name: "NUL in a device name at Enroll",
			call: func() error {
				pub, err := freshPublicKey()
				if err != nil {
					return err
				}
				_, err = s.Client.Enroll(ctx, servertest.Req("", &v1.EnrollRequest{EnrollmentToken: enrollment(), DeviceName: "laptop\x00admin", PublicKey: pub}))
				return err
			},
			want: "device_name: contains the control character U+0000",
		},
		{
			name: "isolate in a device name of an enrollment token",
			call: func() error {
				_, err := s.Account.CreateEnrollmentToken(ctx, servertest.Req(alice.Token, &v1.CreateEnrollmentTokenRequest{DeviceName: "\u2067laptop"}))
				return err
			},
			want: "device_name: contains the invisible direction control U+2067",
		},
		{
			name: "override in a gateway token name",
			call: func() error {
				_, err := s.Admin.CreateGatewayToken(ctx, servertest.Req(admin, &v1.CreateGatewayTokenRequest{LocationId: office.Id, Name: "gw\u202E1"}))
				return err
			},
			want: "name: contains the invisible direction control U+202E",
			after: func() error {
				r, err := s.Admin.ListGatewayTokens(ctx, servertest.Req(admin, &v1.ListGatewayTokensRequest{LocationId: office.Id}))
				if err == nil && len(r.Msg.Tokens) != 0 {
					err = fmt.Errorf("tokens %v", r.Msg.Tokens)
				}
				return err
			},
		},
		{
			name: "override in the mail sender's encoded display name",
			call: func() error {
				_, err := s.Admin.UpdateSmtpSettings(ctx, servertest.Req(admin, &v1.UpdateSmtpSettingsRequest{
					Host: s.Mail.Host(), Port: uint32(s.Mail.Port()), From: "=?utf-8?q?IT_=E2=80=AEdesk?= <wicket@example.com>", Tls: v1.SmtpTls_SMTP_TLS_NONE}))
				return err
			},
			want: "From address contains the invisible direction control U+202E",
			after: func() error {
				r, err := s.Admin.GetSmtpSettings(ctx, servertest.Req(admin, &v1.GetSmtpSettingsRequest{}))
				if err == nil && r.Msg.From != "wicket@example.com" {
					err = fmt.Errorf("the sender is now %q", r.Msg.From)
				}
				return err
			},
		},
		{
			name: "a location's public key as a device's",
			call: func() error {
				_, err := s.Client.Enroll(ctx, servertest.Req("", &v1.EnrollRequest{EnrollmentToken: enrollment(), DeviceName: "gateway twin", PublicKey: office.PublicKey}))
				return err
			},
			want: "public_key: this is a location's public key",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msg := wantCodeContains(t, tt.call(), connect.CodeInvalidArgument, tt.want)
			if len(msg) < len(tt.want) || msg[:len(tt.want)] != tt.want {
				t.Fatalf("message %q does not start with %q", msg, tt.want)
			}
			t.Log(msg)
			if tt.after != nil {
				if err := tt.after(); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}
