package service

import (
	"time"

	"github.com/wicket-vpn/wicket/server/internal/mfa"
	"github.com/wicket-vpn/wicket/server/internal/store"
)

// The records below are what callers see of the store's rows. They are
// copied at this boundary so that the API, the web pages and the tools
// depend on the domain, not on how it is stored, and so that secrets kept
// beside a row (password hashes, sealed keys, token hashes) never leave it.

// ErrNotFound is returned (wrapped) when something a call names does not
// exist and the call has no more specific error for it.
var ErrNotFound = store.ErrNotFound

// UnavailableMsg is what a person is told when the database cannot save.
const UnavailableMsg = store.UnavailableMsg

// IsUnavailable reports whether err is a storage failure of the database
// (a full disk, a read-only file), after which the request may succeed
// once an admin frees space.
func IsUnavailable(err error) bool { return store.IsUnavailable(err) }

// Location is one VPN location. Its private key stays sealed in the store;
// gateways receive it through their peer stream.
type Location struct {
	ID                             string
	Name                           string
	Address                        string
	ListenPort                     int
	Endpoint                       string
	AllowedIPs                     []string
	DNS                            []string
	KeepaliveSeconds               int
	MFA                            bool
	PeerDisconnectThresholdSeconds int
	PublicKey                      string
	AllowedGroups                  []string
	ConfigVersion                  uint64
	MTU                            int
	MaxSessionSeconds              int
	CreatedAt                      time.Time
	// AllowedMFAMethods are the second factors the location accepts;
	// empty accepts every method the server offers.
	AllowedMFAMethods []mfa.Method
}

func locationOf(l store.Location) Location {
	return Location{AllowedMFAMethods: locationMethods(l),
		ID: l.ID, Name: l.Name, Address: l.Address, ListenPort: l.ListenPort, Endpoint: l.Endpoint,
		AllowedIPs: l.AllowedIPs, DNS: l.DNS, KeepaliveSeconds: l.KeepaliveSeconds, MFA: l.MFA,
		PeerDisconnectThresholdSeconds: l.PeerDisconnectThresholdSeconds, PublicKey: l.PublicKey, AllowedGroups: l.AllowedGroups,
		ConfigVersion: l.ConfigVersion, MTU: l.MTU, MaxSessionSeconds: l.MaxSessionSeconds, CreatedAt: l.CreatedAt,
	}
}

func locationsOf(list []store.Location) []Location {
	out := make([]Location, 0, len(list))
	for _, l := range list {
		out = append(out, locationOf(l))
	}
	return out
}

// User is an account. Its password hash and sealed TOTP secrets stay in
// the store.
type User struct {
	ID          string
	Username    string
	Email       string
	Admin       bool
	Groups      []string
	TOTPEnabled bool
	EmailMFA    bool
	// Passkeys counts the user's passkeys and security keys.
	Passkeys  int
	CreatedAt time.Time
}

func userOf(u store.User) User {
	return User{ID: u.ID, Username: u.Username, Email: u.Email, Admin: u.Admin, Groups: u.Groups,
		TOTPEnabled: u.TOTPEnabled, EmailMFA: u.EmailMFA, Passkeys: u.Passkeys, CreatedAt: u.CreatedAt}
}

func usersOf(list []store.User) []User {
	out := make([]User, 0, len(list))
	for _, u := range list {
		out = append(out, userOf(u))
	}
	return out
}

// Device is an enrolled client device. The hash of its token stays in the
// store.
type Device struct {
	ID        string
	UserID    string
	Name      string
	PublicKey string
	CreatedAt time.Time
	LastSeen  time.Time
	// ConfigLocationID is set for a device made as a standard WireGuard
	// config: the one location it is a static peer of, named by
	// ConfigLocationName. Suspended says why its peer is not on the
	// gateway now ("" while it is).
	ConfigLocationID   string
	ConfigLocationName string
	Suspended          string
}

func deviceOf(d store.Device) Device {
	return Device{ID: d.ID, UserID: d.UserID, Name: d.Name, PublicKey: d.PublicKey, CreatedAt: d.CreatedAt, LastSeen: d.LastSeen,
		ConfigLocationID: d.ConfigLocationID}
}

func devicesOf(list []store.Device) []Device {
	out := make([]Device, 0, len(list))
	for _, d := range list {
		out = append(out, deviceOf(d))
	}
	return out
}

// Session is one authorized connection of a device to a location. Its
// pre-shared key stays sealed in the store; the client received it once.
type Session struct {
	ID              string
	LocationID      string
	DeviceID        string
	UserID          string
	Method          int
	State           int
	AuthorizedAt    time.Time
	LatestHandshake time.Time
	RxBytes         uint64
	TxBytes         uint64
	Endpoint        string
	EndedAt         time.Time
	EndReason       int
}

// Active reports whether the session has not ended.
func (s Session) Active() bool { return s.EndedAt.IsZero() }

func sessionOf(s store.Session) Session {
	return Session{
		ID: s.ID, LocationID: s.LocationID, DeviceID: s.DeviceID, UserID: s.UserID, Method: s.Method, State: s.State,
		AuthorizedAt: s.AuthorizedAt, LatestHandshake: s.LatestHandshake, RxBytes: s.RxBytes, TxBytes: s.TxBytes,
		Endpoint: s.Endpoint, EndedAt: s.EndedAt, EndReason: s.EndReason,
	}
}

// GatewayToken lets a gateway serve one location. Revoked tokens are kept
// (with RevokedAt set) so that a gateway still using one is told why it is
// refused. Only the token's hash is stored; its plain form is shown once.
type GatewayToken struct {
	ID         string
	LocationID string
	Name       string
	CreatedAt  time.Time
	LastUsedAt time.Time // zero until a gateway used it
	ExpiresAt  time.Time // zero: never
	RevokedAt  time.Time // zero: not revoked
}

// Revoked reports whether the token was revoked.
func (t GatewayToken) Revoked() bool { return !t.RevokedAt.IsZero() }

// Expired reports whether the token has expired at now.
func (t GatewayToken) Expired(now time.Time) bool {
	return !t.ExpiresAt.IsZero() && !now.Before(t.ExpiresAt)
}

func gatewayTokenOf(t store.GatewayToken) GatewayToken {
	return GatewayToken{ID: t.ID, LocationID: t.LocationID, Name: t.Name, CreatedAt: t.CreatedAt,
		LastUsedAt: t.LastUsedAt, ExpiresAt: t.ExpiresAt, RevokedAt: t.RevokedAt}
}

// AuditEvent records something that happened.
type AuditEvent struct {
	ID         uint64
	Time       time.Time
	Actor      string
	Action     string
	Subject    string
	Detail     string
	RemoteAddr string
}

// AuditFilter selects events: those with an id below Before (0: from the
// newest), newest first.
type AuditFilter struct {
	Before uint64
	Limit  int
	Action string // exact, or a prefix ending in "." such as "mfa."
	Actor  string
}
