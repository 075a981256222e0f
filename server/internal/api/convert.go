package api

import (
	"fmt"
	"strings"
	"time"

	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/timestamppb"

	v1 "github.com/wicket-vpn/wicket/proto/gen/wicket/v1"
	"github.com/wicket-vpn/wicket/server/internal/fault"
	"github.com/wicket-vpn/wicket/server/internal/mail"
	"github.com/wicket-vpn/wicket/server/internal/mfa"
	"github.com/wicket-vpn/wicket/server/internal/service"
)

func ts(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}

func mfaMode(on bool) v1.LocationMfaMode {
	if on {
		return v1.LocationMfaMode_LOCATION_MFA_MODE_INTERNAL
	}
	return v1.LocationMfaMode_LOCATION_MFA_MODE_DISABLED
}

func methods(ms []mfa.Method) []v1.MfaMethod {
	out := make([]v1.MfaMethod, 0, len(ms))
	for _, m := range ms {
		out = append(out, v1.MfaMethod(m))
	}
	return out
}

func locationPB(l service.Location) *v1.Location {
	return &v1.Location{
		Id: l.ID, Name: l.Name, Address: l.Address, ListenPort: uint32(l.ListenPort), Endpoint: l.Endpoint,
		AllowedIps: l.AllowedIPs, Dns: l.DNS, KeepaliveIntervalSeconds: uint32(l.KeepaliveSeconds), MfaMode: mfaMode(l.MFA),
		PeerDisconnectThresholdSeconds: uint32(l.PeerDisconnectThresholdSeconds), PublicKey: l.PublicKey, AllowedGroups: l.AllowedGroups,
		ConfigVersion: l.ConfigVersion, Mtu: uint32(l.MTU), MaxSessionSeconds: uint32(l.MaxSessionSeconds),
		AllowedMfaMethods: methods(l.AllowedMFAMethods),
	}
}

func locationSpec(l *v1.Location) (service.LocationSpec, error) {
	if l == nil {
		l = &v1.Location{}
	}
	spec := service.LocationSpec{
		ID: l.GetId(), Name: l.GetName(), Address: l.GetAddress(), ListenPort: int(l.GetListenPort()), Endpoint: l.GetEndpoint(),
		AllowedIPs: l.GetAllowedIps(), DNS: l.GetDns(), KeepaliveSeconds: int(l.GetKeepaliveIntervalSeconds()),
		PeerDisconnectThresholdSeconds: int(l.GetPeerDisconnectThresholdSeconds()), AllowedGroups: l.GetAllowedGroups(), MTU: int(l.GetMtu()),
		MaxSessionSeconds: int(l.GetMaxSessionSeconds()),
	}
	if err := checkEnum("mfa_mode", l.GetMfaMode()); err != nil {
		return spec, err
	}
	for _, m := range l.GetAllowedMfaMethods() {
		// Any method the API defines is taken; the domain knows which.
		if err := checkEnum("allowed_mfa_methods", m); err != nil {
			return spec, err
		}
		if m == v1.MfaMethod_MFA_METHOD_UNSPECIFIED {
			return spec, &fault.Error{Kind: fault.Invalid, Field: "allowed_mfa_methods",
				Msg: "allowed_mfa_methods: MFA_METHOD_UNSPECIFIED is not a second factor; name methods, or leave the list empty to accept every method"}
		}
		spec.AllowedMFAMethods = append(spec.AllowedMFAMethods, mfa.Method(m))
	}
	switch l.GetMfaMode() {
	case v1.LocationMfaMode_LOCATION_MFA_MODE_INTERNAL:
		on := true
		spec.MFA = &on
	case v1.LocationMfaMode_LOCATION_MFA_MODE_DISABLED:
		off := false
		spec.MFA = &off
	}
	return spec, nil
}

// checkEnum refuses a number the enum does not define. Proto3 keeps
// unknown numbers as they came (the JSON {"mfaMode": 99} included), and
// reading one as some known value acts on what the caller never asked for:
// an unknown mfa_mode used to be stored as "no MFA".
func checkEnum(field string, e protoreflect.Enum) error {
	d := e.Descriptor()
	if d.Values().ByNumber(e.Number()) != nil {
		return nil
	}
	var names []string
	for i := range d.Values().Len() {
		if v := d.Values().Get(i); v.Number() != 0 {
			names = append(names, string(v.Name()))
		}
	}
	use := strings.Join(names, ", ")
	if n := len(names); n > 1 {
		use = strings.Join(names[:n-1], ", ") + " or " + names[n-1]
	}
	return &fault.Error{Kind: fault.Invalid, Field: field, Msg: fmt.Sprintf("%s: %d is not a %s; use %s", field, e.Number(), d.Name(), use)}
}

func gatewayTokenPB(t service.GatewayToken) *v1.GatewayToken {
	return &v1.GatewayToken{Id: t.ID, LocationId: t.LocationID, Name: t.Name, CreatedAt: ts(t.CreatedAt), LastUsedAt: ts(t.LastUsedAt), ExpiresAt: ts(t.ExpiresAt)}
}

func tunnelPB(t service.Tunnel) *v1.TunnelConfig {
	return &v1.TunnelConfig{
		Address: t.Address, ServerPublicKey: t.ServerPublicKey, Endpoint: t.Endpoint, AllowedIps: t.AllowedIPs, Dns: t.DNS,
		KeepaliveIntervalSeconds: uint32(t.KeepaliveSeconds), Mtu: uint32(t.MTU), PresharedKey: t.PresharedKey,
	}
}

func instancePB(i service.Instance) *v1.InstanceInfo {
	out := &v1.InstanceInfo{
		Id: i.ID, Name: i.Name, Url: i.URL, Username: i.Username, ConfigVersion: i.ConfigVersion,
		EnabledMfaMethods: methods(i.Methods), SmtpConfigured: i.SMTPConfigured, DeviceId: i.DeviceID, DeviceName: i.DeviceName,
		ReplicaUrls: i.ReplicaURLs,
	}
	for _, l := range i.Locations {
		out.Locations = append(out.Locations, &v1.LocationInfo{
			Id: l.Location.ID, Name: l.Location.Name, MfaMode: mfaMode(l.Location.MFA),
			PeerDisconnectThresholdSeconds: uint32(l.Location.PeerDisconnectThresholdSeconds), Tunnel: tunnelPB(l.Tunnel),
			ConfigVersion: l.Location.ConfigVersion, MaxSessionSeconds: uint32(l.Location.MaxSessionSeconds),
			AllowedMfaMethods: methods(l.Location.AllowedMFAMethods),
		})
	}
	return out
}

func userPB(u service.User) *v1.User {
	return &v1.User{Id: u.ID, Username: u.Username, Email: u.Email, Admin: u.Admin, Groups: u.Groups, EnabledMfaMethods: methods(service.Methods(u))}
}

func devicePB(d service.Device, username string) *v1.Device {
	return &v1.Device{Id: d.ID, Name: d.Name, PublicKey: d.PublicKey, CreatedAt: ts(d.CreatedAt), LastSeen: ts(d.LastSeen), Username: username,
		ConfigLocationId: d.ConfigLocationID, ConfigLocationName: d.ConfigLocationName, SuspendedReason: d.Suspended}
}

func sessionPB(s service.SessionView) *v1.Session {
	return &v1.Session{
		Id: s.ID, LocationId: s.LocationID, DeviceId: s.DeviceID, Username: s.Username, Method: v1.MfaMethod(s.Method),
		State: v1.SessionState(s.State), AuthorizedAt: ts(s.AuthorizedAt), LatestHandshake: ts(s.LatestHandshake),
		RxBytes: s.RxBytes, TxBytes: s.TxBytes, Endpoint: s.Endpoint, EndedAt: ts(s.EndedAt), EndReason: v1.SessionEndReason(s.EndReason),
		DeviceName: s.DeviceName, TunnelAddress: s.Address, LocationName: s.LocationName,
	}
}

var tlsToPB = map[mail.TLSMode]v1.SmtpTls{
	mail.TLSNone:     v1.SmtpTls_SMTP_TLS_NONE,
	mail.TLSStartTLS: v1.SmtpTls_SMTP_TLS_STARTTLS,
	mail.TLSImplicit: v1.SmtpTls_SMTP_TLS_IMPLICIT,
}

func tlsFromPB(t v1.SmtpTls) mail.TLSMode {
	for k, v := range tlsToPB {
		if v == t {
			return k
		}
	}
	return mail.TLSStartTLS
}
