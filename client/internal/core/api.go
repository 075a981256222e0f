// Package core is the Wicket desktop client without its window: the
// instances a user has enrolled, keeping their configuration up to date, and
// a connection state machine per location (Disconnected → AwaitingMethod →
// AwaitingCode → Connecting → Connected, and Failed). The Fyne UI and the
// command line are both views over it; it imports no UI toolkit.
//
// A Core is safe for concurrent use. Views read snapshots (Instances,
// Location) and learn about changes from Subscribe; every action method
// returns once the state has moved on, and the new state is also published
// as an event.
package core

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/wicket-vpn/wicket/client/internal/secrets"
	"github.com/wicket-vpn/wicket/client/internal/tunnel"
)

// State is where a location's connection stands.
type State int

// Connection states. The zero value is Disconnected.
const (
	// Disconnected: no session and no tunnel.
	Disconnected State = iota
	// AwaitingMethod: the location needs MFA and the user has to pick a
	// method (or picked one the server refused; see LocationView.Error).
	AwaitingMethod
	// AwaitingCode: a challenge was started; the user has to type the code.
	AwaitingCode
	// Connecting: the server authorised a session; the tunnel is coming up.
	Connecting
	// Connected: the tunnel is up.
	Connected
	// Failed: connecting failed; LocationView.Error says why. Connect may be
	// called again.
	Failed
)

// String returns the state as a person would read it.
func (s State) String() string {
	switch s {
	case Disconnected:
		return "Disconnected"
	case AwaitingMethod:
		return "Choose a sign-in method"
	case AwaitingCode:
		return "Enter the code"
	case Connecting:
		return "Connecting"
	case Connected:
		return "Connected"
	case Failed:
		return "Failed"
	}
	return "Unknown"
}

// Method is a second factor.
type Method string

// Second factors the server offers.
const (
	// MethodTOTP is a code from an authenticator app.
	MethodTOTP Method = "totp"
	// MethodEmail is a code the server sends by email.
	MethodEmail Method = "email"
	// MethodPasskey is a passkey or security key, confirmed on a page of
	// the server in the system browser.
	MethodPasskey Method = "passkey"
)

// Methods lists every method in the order a picker shows them.
var Methods = []Method{MethodTOTP, MethodEmail, MethodPasskey}

// Label returns the method's name for a person: "Authenticator app" or
// "Email code".
func (m Method) Label() string {
	switch m {
	case MethodTOTP:
		return "Authenticator app"
	case MethodEmail:
		return "Email code"
	case MethodPasskey:
		return "Passkey or security key"
	}
	return string(m)
}

// proof names what the method proves in a sentence: "an authenticator app code".
func (m Method) proof() string {
	switch m {
	case MethodTOTP:
		return "an authenticator app code"
	case MethodEmail:
		return "an emailed code"
	case MethodPasskey:
		return "a passkey"
	}
	return string(m)
}

// setup names what a person sets up for the method: "an authenticator app".
func (m Method) setup() string {
	switch m {
	case MethodTOTP:
		return "an authenticator app"
	case MethodEmail:
		return "email codes"
	case MethodPasskey:
		return "a passkey"
	}
	return string(m)
}

// OfferedMethods are the methods to offer for a location: those it accepts
// that the account has set up, in picker order. When there are none,
// problem says so and what to set up in the profile (at the instance's
// URL).
func OfferedMethods(inst InstanceView, l LocationView) (offer []Method, problem string) {
	accepted := Methods
	if l.LimitsMethods {
		accepted = l.AllowedMethods
	}
	for _, m := range Methods {
		if slices.Contains(accepted, m) && slices.Contains(inst.EnabledMethods, m) {
			offer = append(offer, m)
		}
	}
	if len(offer) > 0 {
		return offer, ""
	}
	where := "in your profile"
	if inst.URL != "" {
		where += " (" + strings.TrimRight(inst.URL, "/") + "/profile)"
	}
	var proofs, setups []string
	for _, m := range Methods {
		if slices.Contains(accepted, m) {
			proofs, setups = append(proofs, m.proof()), append(setups, m.setup())
		}
	}
	switch {
	case len(proofs) == 0:
		return nil, l.Name + " accepts only second factors this version of Wicket does not offer; update Wicket."
	case l.LimitsMethods:
		return nil, fmt.Sprintf("%s accepts only %s, which your account does not have. Set up %s %s first.", l.Name, orList(proofs), orList(setups), where)
	}
	return nil, fmt.Sprintf("Your account has no second factor yet. Set up %s %s first.", orList(setups), where)
}

// orList joins words as people do: "a", "a or b", "a, b or c".
func orList(words []string) string {
	if n := len(words); n > 1 {
		return strings.Join(words[:n-1], ", ") + " or " + words[n-1]
	}
	return strings.Join(words, "")
}

// ParseMethod accepts "totp", "email" or "passkey" (any case) and the labels.
func ParseMethod(s string) (Method, error) { return parseMethod(s) }

// Tunnel modes for Settings.TunnelMode.
const (
	TunnelModeSystem    = string(tunnel.ModeSystem)
	TunnelModeUserspace = string(tunnel.ModeUserspace)
)

// Settings are the user's client-wide choices, saved in the config
// directory.
type Settings struct {
	// TunnelMode is TunnelModeSystem (a network interface; needs
	// privileges) or TunnelModeUserspace (a SOCKS5 proxy; needs none).
	// Empty means system.
	TunnelMode string `json:"tunnel_mode"`
	// SOCKSAddr is where the userspace mode's SOCKS5 proxy listens;
	// empty means tunnel.DefaultSOCKSAddr ("127.0.0.1:1080").
	SOCKSAddr string `json:"socks_addr"`
}

// EventKind says what an Event is about.
type EventKind int

// Kinds of events.
const (
	// EventInstancesChanged: an instance was added or removed.
	EventInstancesChanged EventKind = iota + 1
	// EventInstanceUpdated: an instance's configuration (or its update
	// status) changed. Event.Changes lists what changed for people.
	EventInstanceUpdated
	// EventLocationChanged: a location's connection view changed (state,
	// error, statistics). Event.Location is the new view.
	EventLocationChanged
	// EventSessionEnded: the server ended a session (idle, admin, MFA
	// turned off…). Event.Message is the server's words, for a desktop
	// notification. An EventLocationChanged with state Disconnected
	// accompanies it.
	EventSessionEnded
	// EventSettingsChanged: Settings changed.
	EventSettingsChanged
)

// Event tells a view that something changed. Events are delivered in order
// and never dropped; a view may still always re-read the state.
type Event struct {
	Kind       EventKind
	InstanceID string
	LocationID string
	// Location is the location's view after the change (for
	// EventLocationChanged and EventSessionEnded).
	Location LocationView
	// Changes lists what changed in the instance's configuration, one
	// sentence each, e.g. "Office now asks for MFA on every connection"
	// (EventInstanceUpdated).
	Changes []string
	// Reason is the session end reason ("idle", "admin", …) and Message the
	// server's explanation (EventSessionEnded).
	Reason  string
	Message string
}

// InstanceView is a snapshot of one enrolled Wicket server.
type InstanceView struct {
	// ID is the local identifier of the instance (stable across updates).
	ID string
	// Name is the server's instance name, URL its address, Username the
	// user the device belongs to, DeviceName what this device is called.
	Name, URL, Username, DeviceName, DeviceID string
	// Servers are the addresses of the instance's replicas the client
	// fails over between, and Server the one in use now.
	Servers []string
	Server  string
	// PublicKey is this device's WireGuard public key (base64), as the
	// server's device list shows it.
	PublicKey string
	// ConfigVersion is the server's configuration version last seen.
	ConfigVersion uint64
	// EnabledMethods are the MFA methods the user has set up.
	EnabledMethods []Method
	// SMTPConfigured says whether the server can send email codes.
	SMTPConfigured bool
	// Locations in the server's order.
	Locations []LocationView
	// LastUpdate is when the configuration was last fetched successfully.
	LastUpdate time.Time
	// Live says whether the watch stream is open (changes arrive at once).
	Live bool
	// UpdateError is why the last update failed ("" when it worked).
	UpdateError string
	// Changes lists what changed at the last configuration change, for a
	// banner; ChangedAt is when. AcknowledgeChanges clears them.
	Changes   []string
	ChangedAt time.Time
}

// LocationView is a snapshot of one location and its connection.
type LocationView struct {
	InstanceID string
	ID         string
	Name       string
	// MFA says whether every connection needs a second factor.
	MFA bool
	// IdleThreshold is how long the tunnel may stay without a handshake
	// before the server ends an MFA session.
	IdleThreshold time.Duration

	State State
	// Error is the reason for the last failure or refusal, in the server's
	// words where it gave some (e.g. "TOTP is not enabled for your
	// account. Set it up in your profile first."). It is shown in the MFA
	// modal while State is AwaitingMethod or AwaitingCode.
	Error string
	// Message is information that is not an error, e.g. why the server
	// ended the session ("disconnected after 5 min without traffic;
	// connecting again needs MFA").
	Message string
	// EndReason is set when the server ended the session: "idle",
	// "admin", "mfa_disabled", "replaced", "location_changed",
	// "max_duration", "client".
	EndReason string

	// AllowedMethods are the second factors the location accepts that this
	// client knows; LimitsMethods says the location names a list at all
	// (without one it accepts every method). See OfferedMethods.
	AllowedMethods []Method
	LimitsMethods  bool

	// Method is the method of the current challenge (or, while
	// AwaitingMethod, the last one used at this location, to preselect).
	Method Method
	// SentTo is the masked address an email code went to.
	SentTo string
	// BrowserURL is the page where the person confirms a passkey
	// challenge (Method MethodPasskey, State AwaitingCode); the core
	// waits for that confirmation by itself.
	BrowserURL string
	// CodeExpires is when the current challenge expires.
	CodeExpires time.Time

	// SessionID identifies the server's session while Connecting or
	// Connected (not a secret: using it needs the device token).
	SessionID string

	// TunnelAddress is the device's address in the tunnel ("10.10.0.7/32").
	TunnelAddress string
	// AllowedIPs are the networks the location routes.
	AllowedIPs []string
	// Offers says how to use the tunnel ("SOCKS5 proxy on 127.0.0.1:1080").
	Offers string
	// ConnectedSince is when the tunnel came up; SessionExpires is when
	// the server will end the session regardless (zero: no limit).
	ConnectedSince, SessionExpires time.Time
	// LatestHandshake is the last completed WireGuard handshake (zero
	// before the first); HandshakeAge is its age when the view was made.
	LatestHandshake time.Time
	HandshakeAge    time.Duration
	// RxBytes and TxBytes count the tunnel's traffic.
	RxBytes, TxBytes uint64
	// IdleDisconnectAt is when the server would end the session if no
	// handshake happens before (latest handshake, or the connection time
	// before the first, plus IdleThreshold). Zero when there is no idle
	// limit (locations without MFA).
	IdleDisconnectAt time.Time
}

// Active reports whether the location has a session or is getting one.
func (l LocationView) Active() bool {
	return l.State == AwaitingMethod || l.State == AwaitingCode || l.State == Connecting || l.State == Connected
}

// Options configure a Core.
type Options struct {
	// ConfigDir holds the non-secret settings (instances.json,
	// settings.json). Required.
	ConfigDir string
	// Secrets keeps private keys and device tokens. Required; normally
	// secrets.Keyring{}.
	Secrets secrets.Store
	// Log receives diagnostics; nil discards them. Secrets are never
	// logged.
	Log *slog.Logger
	// Tunnels brings tunnels up; nil means the real backends
	// (tunnel.Default).
	Tunnels tunnel.Factory
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// PollInterval is how often Run fetches each instance's configuration
	// when the watch stream is not enough; 0 means 30 s.
	PollInterval time.Duration
	// StatsInterval is how often Run refreshes a connected tunnel's
	// statistics; 0 means 1 s. Views can also call RefreshStats.
	StatsInterval time.Duration
	// After makes timers (for poll, stats and reconnect backoff); nil
	// means time.After. Tests inject it to avoid sleeping.
	After func(time.Duration) <-chan time.Time
	// StreamSilence is how long a watch stream may stay silent before the
	// client drops it and reconnects (DefaultStreamSilence when zero).
	StreamSilence time.Duration
	// OpenURL opens a page in the system browser: the passkey page of a
	// challenge. Nil, or an error, leaves the address in
	// LocationView.BrowserURL for the person to open.
	OpenURL func(url string) error
}

// Core is the client's state.
type Core struct{ c *core }

// New loads the saved instances and settings. It does not touch the
// network; call Run for that.
func New(opts Options) (*Core, error) {
	c, err := newCore(opts)
	if err != nil {
		return nil, err
	}
	return &Core{c: c}, nil
}

// SetOpenURL sets how passkey pages are opened (Options.OpenURL), for a
// view made after the core.
func (c *Core) SetOpenURL(open func(url string) error) {
	c.c.mu.Lock()
	defer c.c.mu.Unlock()
	c.c.opts.OpenURL = open
}

// Run keeps every instance up to date — a WatchInstance stream per instance
// with reconnect and backoff, and a GetInstance poll as fallback — and
// refreshes tunnel statistics, until ctx ends. Then it takes every tunnel
// down and tells the servers. It returns ctx.Err().
func (c *Core) Run(ctx context.Context) error { return c.c.run(ctx) }

// Subscribe returns a channel of events and a function that stops them.
func (c *Core) Subscribe() (<-chan Event, func()) { return c.c.subscribe() }

// Instances returns a snapshot of every instance, in the order they were
// added.
func (c *Core) Instances() []InstanceView { return c.c.instances() }

// Instance returns one instance.
func (c *Core) Instance(instanceID string) (InstanceView, bool) { return c.c.instance(instanceID) }

// Location returns one location's view.
func (c *Core) Location(instanceID, locationID string) (LocationView, bool) {
	return c.c.location(instanceID, locationID)
}

// FindLocation finds a location by ID or name (case-insensitive) across
// every instance, for the command line. It fails when none or several
// match.
func (c *Core) FindLocation(nameOrID string) (LocationView, error) { return c.c.findLocation(nameOrID) }

// Enroll adds an instance from an enrollment code: it pins the server's
// certificate fingerprint, makes a WireGuard key pair, enrolls the device
// and stores the private key and device token in the keyring. deviceName
// may be empty (the host name is used).
func (c *Core) Enroll(ctx context.Context, code, deviceName string) (InstanceView, error) {
	return c.c.enroll(ctx, code, deviceName)
}

// RemoveInstance disconnects the instance's locations, forgets the instance
// and deletes its secrets from the keyring.
func (c *Core) RemoveInstance(ctx context.Context, instanceID string) error {
	return c.c.removeInstance(ctx, instanceID)
}

// Update fetches the instance's configuration now.
func (c *Core) Update(ctx context.Context, instanceID string) error {
	return c.c.update(ctx, instanceID)
}

// AcknowledgeChanges clears the instance's changes banner.
func (c *Core) AcknowledgeChanges(instanceID string) { c.c.acknowledgeChanges(instanceID) }

// Connect starts connecting a location. For an MFA location the state
// becomes AwaitingMethod (with the last method used preselected) and the
// view continues with ChooseMethod; otherwise it asks the server for a
// session and brings the tunnel up (Connecting, then Connected).
func (c *Core) Connect(ctx context.Context, instanceID, locationID string) error {
	return c.c.connect(ctx, instanceID, locationID)
}

// ChooseMethod starts an MFA challenge with method. A refusal (method not
// enabled, no SMTP, throttled) keeps AwaitingMethod with the server's
// message in Error and is also returned; success moves to AwaitingCode
// (with SentTo for email).
func (c *Core) ChooseMethod(ctx context.Context, instanceID, locationID string, method Method) error {
	return c.c.chooseMethod(ctx, instanceID, locationID, method)
}

// For MethodPasskey, success moves to AwaitingCode with BrowserURL (opened
// with Options.OpenURL) and the core waits for the browser's confirmation
// by itself: then Connecting and Connected as for a code, or back to
// AwaitingMethod with the server's reason when the challenge is refused or
// expires. Cancel stops the wait.
//
// SubmitCode finishes the MFA challenge. A wrong code keeps AwaitingCode
// with "Invalid code (N tries left)" in Error; a lockout or an expired
// challenge is also carried in Error (an expired one goes back to
// AwaitingMethod). Success moves through Connecting to Connected.
func (c *Core) SubmitCode(ctx context.Context, instanceID, locationID, code string) error {
	return c.c.submitCode(ctx, instanceID, locationID, code)
}

// Resend starts a new email challenge for the location (the server
// throttles mail; its message lands in Error).
func (c *Core) Resend(ctx context.Context, instanceID, locationID string) error {
	return c.c.resend(ctx, instanceID, locationID)
}

// Cancel abandons an MFA prompt (AwaitingMethod or AwaitingCode) and
// returns to Disconnected.
func (c *Core) Cancel(instanceID, locationID string) { c.c.cancel(instanceID, locationID) }

// Disconnect takes the tunnel down and tells the server to end the
// session.
func (c *Core) Disconnect(ctx context.Context, instanceID, locationID string) error {
	return c.c.disconnect(ctx, instanceID, locationID)
}

// DisconnectSession ends a session of this device by its ID, for a
// session held by another process (the command line's `wicket disconnect`
// ends what a `wicket connect` elsewhere holds; that process learns it
// through its watch stream).
func (c *Core) DisconnectSession(ctx context.Context, instanceID, sessionID string) error {
	return c.c.disconnectSession(ctx, instanceID, sessionID)
}

// DisconnectAll disconnects every connected location (on quit).
func (c *Core) DisconnectAll(ctx context.Context) error { return c.c.disconnectAll(ctx) }

// RefreshStats reads the statistics of every connected tunnel now.
func (c *Core) RefreshStats() { c.c.refreshStats() }

// Settings returns the current settings.
func (c *Core) Settings() Settings { return c.c.settings() }

// SetSettings validates, saves and applies settings to new connections.
func (c *Core) SetSettings(s Settings) error { return c.c.setSettings(s, true) }

// UseSettings applies settings to new connections of this process without
// saving them (the command line's --userspace and --socks).
func (c *Core) UseSettings(s Settings) error { return c.c.setSettings(s, false) }
