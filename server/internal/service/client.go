package service

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/wicket-vpn/wicket/server/internal/fault"
	"github.com/wicket-vpn/wicket/server/internal/ipam"
	"github.com/wicket-vpn/wicket/server/internal/mfa"
	"github.com/wicket-vpn/wicket/server/internal/session"
	"github.com/wicket-vpn/wicket/server/internal/store"
	"github.com/wicket-vpn/wicket/server/internal/token"
	"github.com/wicket-vpn/wicket/shared/wgkey"
)

// Client is a device that proved its device token, with its user: the
// caller of the calls a desktop client makes.
type Client struct {
	Device
	User User
}

func clientOf(d store.Device, u store.User) Client {
	return Client{Device: deviceOf(d), User: userOf(u)}
}

// Actor returns the device's user as an actor.
func (d Client) Actor(remote string) Actor {
	return Actor{UserID: d.User.ID, Username: d.User.Username, Remote: remote}
}

// Tunnel is everything a client needs to bring a tunnel up.
type Tunnel struct {
	Address          string
	ServerPublicKey  string
	Endpoint         string
	AllowedIPs       []string
	DNS              []string
	KeepaliveSeconds int
	MTU              int
	PresharedKey     string
}

// LocationInfo is a device's view of a location.
type LocationInfo struct {
	Location Location
	Tunnel   Tunnel
}

// Instance is what a device knows about the server.
type Instance struct {
	ID             string
	Name           string
	URL            string
	Username       string
	Locations      []LocationInfo
	ConfigVersion  uint64
	Methods        []mfa.Method
	SMTPConfigured bool
	DeviceID       string
	DeviceName     string
	// ReplicaURLs are the addresses to fail over to, this server's first.
	ReplicaURLs []string
}

var errDeviceToken = fault.New(fault.Unauthenticated, "This device is not enrolled any more (its token is unknown); enroll it again with a new code from your profile.")

// DeviceByToken authenticates a device.
func (s *Service) DeviceByToken(ctx context.Context, deviceToken string) (Client, error) {
	if deviceToken == "" {
		return Client{}, errDeviceToken
	}
	d, err := s.store.DeviceByTokenHash(ctx, hexHash(token.Hash(deviceToken)))
	if errors.Is(err, store.ErrNotFound) {
		return Client{}, errDeviceToken
	}
	if err != nil {
		return Client{}, err
	}
	u, err := s.store.UserByID(ctx, d.UserID)
	if errors.Is(err, store.ErrNotFound) {
		return Client{}, errDeviceToken
	}
	if err != nil {
		return Client{}, err
	}
	s.deviceSeen(ctx, &d)
	return clientOf(d, u), nil
}

// deviceSeenInterval bounds how often a device's last use is written.
const deviceSeenInterval = time.Minute

// deviceSeen records that the device used its token now, at most once per
// deviceSeenInterval. A failed write is logged, not the device's problem.
func (s *Service) deviceSeen(ctx context.Context, d *store.Device) {
	now := s.clock.Now()
	since := now.Add(-deviceSeenInterval)
	if !d.LastSeen.Before(since) {
		return
	}
	wrote, err := s.store.TouchDevice(ctx, d.ID, now, since)
	if err != nil {
		s.log.Warn("record a device's use", "device", d.ID, "err", err)
		return
	}
	if wrote {
		d.LastSeen = now
	}
}

// Enroll registers a device with a single-use enrollment token.
func (s *Service) Enroll(ctx context.Context, enrollmentToken, name, publicKey, remote string) (Client, string, error) {
	if enrollmentToken == "" {
		return Client{}, "", fault.New(fault.Invalid, "enrollment_token: required")
	}
	key, err := wgkey.Parse(publicKey)
	if err != nil {
		return Client{}, "", fault.New(fault.Invalid, "public_key: %v", err)
	}
	if key.IsZero() {
		return Client{}, "", fault.New(fault.Invalid, "public_key: the all-zero key is not a usable key")
	}
	name = strings.TrimSpace(name)
	if len(name) > 64 {
		return Client{}, "", fault.New(fault.Invalid, "device_name: at most 64 characters")
	}
	if err := checkName("device_name", name); err != nil {
		return Client{}, "", err
	}
	plain, hash, err := token.New("wdt_")
	if err != nil {
		return Client{}, "", err
	}
	now := s.clock.Now()
	var dev Client
	err = s.store.InTx(ctx, func(q *store.Q) error {
		t, err := q.UseEnrollmentToken(ctx, hexHash(token.Hash(enrollmentToken)), now)
		if errors.Is(err, store.ErrNotFound) {
			return fault.New(fault.Unauthenticated, "This enrollment code is invalid, already used or expired; create a new one in your profile.")
		}
		if err != nil {
			return err
		}
		if name == "" {
			name = t.DeviceName
		}
		if name == "" {
			name = "Device"
		}
		u, err := q.UserByID(ctx, t.UserID)
		if err != nil {
			return notFound("user", err)
		}
		// wireguard-go silently skips a peer with the interface's own key: the
		// device could never connect while the server counted it a peer.
		if _, err := q.LocationByPublicKey(ctx, key.String()); !errors.Is(err, store.ErrNotFound) {
			return cmp.Or(err, fault.New(fault.Invalid, "public_key: this is a location's public key, not the device's own; the client must make a new key pair"))
		}
		d := store.Device{ID: newID(), UserID: u.ID, Name: name, PublicKey: key.String(), TokenHash: hexHash(hash), CreatedAt: now, LastSeen: now}
		if err := q.CreateDevice(ctx, d); err != nil {
			if errors.Is(err, store.ErrConflict) {
				return fault.New(fault.Conflict, "public_key: this key is already enrolled; the client must make a new key")
			}
			return err
		}
		dev = clientOf(d, u)
		return s.audit(ctx, q, Actor{UserID: u.ID, Username: u.Username, Remote: remote}, "device.enrolled", d.Name, "device="+d.ID+" public_key="+d.PublicKey)
	})
	if err != nil {
		return Client{}, "", err
	}
	s.Sessions.PublishAll()
	return dev, plain, nil
}

// Instance returns the instance as a device sees it, giving the device its
// tunnel address in each location the first time.
func (s *Service) Instance(ctx context.Context, d Client) (Instance, error) {
	version, err := s.store.ConfigVersion(ctx)
	if err != nil {
		return Instance{}, err
	}
	locs, err := s.store.ListLocations(ctx)
	if err != nil {
		return Instance{}, err
	}
	inst := Instance{ID: s.instanceID, Name: s.cfg.InstanceName, URL: s.cfg.URL, Username: d.User.Username, ConfigVersion: version,
		Methods: Methods(d.User), SMTPConfigured: s.SMTPConfigured(ctx), DeviceID: d.ID, DeviceName: d.Name}
	if inst.ReplicaURLs, err = s.ReplicaURLs(ctx); err != nil {
		return Instance{}, err
	}
	for _, l := range locs {
		if !session.Allowed(l, d.User.Groups) {
			continue
		}
		addr, err := ipam.AddressFor(ctx, s.store.Q, l, d.ID, s.clock.Now())
		if errors.Is(err, ipam.ErrPoolFull) {
			s.log.Warn("location has no free tunnel address", "location", l.Name, "device", d.ID)
			addr = ""
		} else if err != nil {
			return Instance{}, err
		}
		inst.Locations = append(inst.Locations, LocationInfo{Location: locationOf(l), Tunnel: tunnelOf(l, addr)})
	}
	return inst, nil
}

func tunnelOf(l store.Location, addr string) Tunnel {
	return Tunnel{Address: addr, ServerPublicKey: l.PublicKey, Endpoint: l.Endpoint, AllowedIPs: l.AllowedIPs, DNS: l.DNS,
		KeepaliveSeconds: l.KeepaliveSeconds, MTU: l.MTU}
}

// usableLocation loads a location the device's user may use and gives the
// device its address there.
func (s *Service) usableLocation(ctx context.Context, d Client, locationID string) (store.Location, string, error) {
	if locationID == "" {
		return store.Location{}, "", fault.New(fault.Invalid, "location_id: required")
	}
	l, addr, err := s.store.LocationAndAddress(ctx, locationID, d.ID)
	if err != nil {
		return l, "", notFound("location", err)
	}
	if !session.Allowed(l, d.User.Groups) {
		return l, "", fault.New(fault.PermissionDenied, "You may not use %s; ask your admin to add you to one of its groups (%s).", l.Name, strings.Join(l.AllowedGroups, ", "))
	}
	if addr != "" {
		return l, addr, nil
	}
	addr, err = ipam.AddressFor(ctx, s.store.Q, l, d.ID, s.clock.Now())
	if errors.Is(err, ipam.ErrPoolFull) {
		return l, "", fault.New(fault.Exhausted, "%s has no free tunnel address left; ask your admin to widen its address range or remove unused devices.", l.Name)
	}
	return l, addr, err
}

// Opened is a new session with the tunnel settings for it.
type Opened struct {
	Session   Session
	Tunnel    Tunnel
	ExpiresAt time.Time
}

// openSession ends the device's earlier session on the location (REPLACED)
// and creates a new one, inside q's transaction.
func (s *Service) openSession(ctx context.Context, q *store.Q, d Client, l store.Location, method int, psk []byte, a Actor) (store.Session, *session.Ended, error) {
	now := s.clock.Now()
	var replaced *session.Ended
	if old, err := q.ActiveSession(ctx, l.ID, d.ID); err == nil {
		if replaced, err = s.Sessions.EndIn(ctx, q, old, session.ReasonReplaced, a.name()); err != nil {
			return store.Session{}, nil, err
		}
	} else if !errors.Is(err, store.ErrNotFound) {
		return store.Session{}, nil, err
	}
	sess := store.Session{ID: newID(), LocationID: l.ID, DeviceID: d.ID, UserID: d.User.ID, Method: method, State: store.StateAuthorized, AuthorizedAt: now}
	if psk != nil {
		sess.PresharedKey = s.sealString(psk, session.PSKAAD(sess.ID))
	}
	if err := q.CreateSession(ctx, sess); err != nil {
		return store.Session{}, nil, err
	}
	err := s.audit(ctx, q, a, "session.started", sess.ID, fmt.Sprintf("location=%s device=%s method=%s", l.Name, d.Name, methodName(mfa.Method(method))))
	return sess, replaced, err
}

func expiry(l store.Location, s store.Session) time.Time {
	if l.MaxSessionSeconds == 0 {
		return time.Time{}
	}
	return s.AuthorizedAt.Add(time.Duration(l.MaxSessionSeconds) * time.Second)
}

// Connect opens a session on a location without MFA.
func (s *Service) Connect(ctx context.Context, d Client, locationID, remote string) (Opened, error) {
	l, addr, err := s.usableLocation(ctx, d, locationID)
	if err != nil {
		return Opened{}, err
	}
	if l.MFA {
		return Opened{}, fault.New(fault.FailedPrecondition, "%s requires MFA on every connection; start with StartMfa.", l.Name)
	}
	if err := s.gatewayOnline(l); err != nil {
		return Opened{}, err
	}
	var sess store.Session
	var replaced *session.Ended
	err = s.store.InTx(ctx, func(q *store.Q) error {
		var err error
		sess, replaced, err = s.openSession(ctx, q, d, l, 0, nil, d.Actor(remote))
		return err
	})
	if err != nil {
		return Opened{}, err
	}
	s.Sessions.Announce(replaced)
	s.waitGateways(ctx, l.ID, s.Sessions.Publish(l.ID))
	return Opened{Session: sessionOf(sess), Tunnel: tunnelOf(l, addr), ExpiresAt: expiry(l, sess)}, nil
}

// Challenge is a started second factor.
type Challenge struct {
	Token     string
	ExpiresAt time.Time
	SentTo    string
	// BrowserURL is the page that approves a passkey challenge.
	BrowserURL string
}

// StartMFA begins the second factor for a location that requires it.
func (s *Service) StartMFA(ctx context.Context, d Client, locationID string, method mfa.Method, remote string) (Challenge, error) {
	a := d.Actor(remote)
	if method != mfa.TOTP && method != mfa.Email && method != mfa.WebAuthn {
		return Challenge{}, fault.New(fault.Invalid, "method: choose MFA_METHOD_TOTP, MFA_METHOD_EMAIL or MFA_METHOD_WEBAUTHN")
	}
	l, _, err := s.usableLocation(ctx, d, locationID)
	if err != nil {
		return Challenge{}, err
	}
	if !l.MFA {
		return Challenge{}, fault.New(fault.FailedPrecondition, "%s does not ask for MFA; connect with Connect.", l.Name)
	}
	if !allows(l, method) {
		s.auditNow(ctx, a, "mfa.refused", d.User.Username, "method="+methodName(method)+" reason=method_not_allowed location="+l.Name)
		return Challenge{}, fault.New(fault.FailedPrecondition, "%s", onlyAccepts(l, d.User))
	}
	if err := s.checkLockout(ctx, d.User.ID); err != nil {
		s.auditNow(ctx, a, "mfa.refused", d.User.Username, "method="+methodName(method)+" reason=locked_out location="+l.Name)
		return Challenge{}, err
	}
	plain, hash, err := token.New("wmc_")
	if err != nil {
		return Challenge{}, err
	}
	now := s.clock.Now()
	c := store.Challenge{Hash: hexHash(hash), Purpose: store.PurposeConnect, UserID: d.User.ID, DeviceID: d.ID, LocationID: l.ID, Method: int(method), CreatedAt: now, ExpiresAt: now.Add(mfa.ChallengeTTL), RemoteAddr: remote}
	var sentTo, browser string
	switch method {
	case mfa.WebAuthn:
		if _, err := s.relyingParty(); err != nil {
			return Challenge{}, err
		}
		if d.User.Passkeys == 0 {
			return Challenge{}, errNoPasskeys
		}
		browser = s.browserURL(plain)
	case mfa.TOTP:
		if !d.User.TOTPEnabled {
			return Challenge{}, fault.New(fault.FailedPrecondition, "TOTP is not enabled for your account. Set it up in your profile first.")
		}
	case mfa.Email:
		settings, err := s.smtpSettings(ctx)
		if err != nil {
			return Challenge{}, err
		}
		if !settings.Configured() {
			return Challenge{}, errNoSMTP
		}
		if !d.User.EmailMFA {
			return Challenge{}, fault.New(fault.FailedPrecondition, "Email codes are not enabled for your account. Set them up in your profile first.")
		}
		if err := s.mailCode(ctx, d.User, settings, &c, "Your "+s.cfg.InstanceName+" code for "+l.Name); err != nil {
			return Challenge{}, err
		}
		sentTo = maskAddress(d.User.Email)
	}
	err = s.store.InTx(ctx, func(q *store.Q) error {
		if err := q.CreateChallenge(ctx, c); err != nil {
			return err
		}
		return s.audit(ctx, q, a, "mfa.started", d.User.Username, fmt.Sprintf("method=%s location=%s device=%s", methodName(method), l.Name, d.Name))
	})
	if err != nil {
		return Challenge{}, err
	}
	return Challenge{Token: plain, ExpiresAt: c.ExpiresAt, SentTo: sentTo, BrowserURL: browser}, nil
}

var errChallengeGone = fault.New(fault.Unauthenticated, "This sign-in expired; start again.")

// ErrChallengeGone answers a code for a challenge that expired, was used
// up by wrong codes, or never existed.
var ErrChallengeGone = errChallengeGone

// FinishMFA proves the second factor and opens a session with a fresh
// pre-shared key, replacing the device's earlier session on the location.
func (s *Service) FinishMFA(ctx context.Context, challengeToken, code, remote string) (Opened, error) {
	if challengeToken == "" {
		return Opened{}, fault.New(fault.Invalid, "challenge_token: required")
	}
	if err := checkCodeFormat(code); err != nil {
		return Opened{}, err
	}
	c, err := s.store.ChallengeByHash(ctx, hexHash(token.Hash(challengeToken)))
	if errors.Is(err, store.ErrNotFound) {
		return Opened{}, errChallengeGone
	}
	if err != nil {
		return Opened{}, err
	}
	// A used challenge goes on to prove: a right code sent twice is told
	// it was used, not that the sign-in expired.
	if c.Purpose != store.PurposeConnect || !s.clock.Now().Before(c.ExpiresAt) {
		return Opened{}, errChallengeGone
	}
	dev, err := s.store.DeviceByID(ctx, c.DeviceID)
	if err != nil {
		return Opened{}, errChallengeGone
	}
	u, err := s.store.UserByID(ctx, c.UserID)
	if err != nil {
		return Opened{}, errChallengeGone
	}
	d := clientOf(dev, u)
	a := d.Actor(remote)
	p := proof{userID: u.ID, challenge: c.Hash, what: store.PurposeConnect}
	switch mfa.Method(c.Method) {
	case mfa.TOTP:
		if !u.TOTPEnabled {
			return Opened{}, fault.New(fault.FailedPrecondition, "TOTP is not enabled for your account. Set it up in your profile first.")
		}
		p.totp = true
	case mfa.Email:
		p.email = true
	case mfa.WebAuthn:
		return Opened{}, fault.New(fault.FailedPrecondition, "This connection is confirmed with a passkey in the browser, not a code: wait for it with AwaitMfa.")
	default:
		return Opened{}, errChallengeGone
	}
	// Who may use the location is settled before the code is looked at; the
	// code is spent only with the session it opens.
	l, addr, err := s.usableLocation(ctx, d, c.LocationID)
	if err != nil {
		return Opened{}, err
	}
	if !l.MFA {
		return Opened{}, fault.New(fault.FailedPrecondition, "%s no longer asks for MFA; connect with Connect.", l.Name)
	}
	// The location may have stopped accepting the method since the
	// challenge was started.
	if !allows(l, mfa.Method(c.Method)) {
		s.auditNow(ctx, a, "mfa.refused", u.Username, "method="+methodName(mfa.Method(c.Method))+" reason=method_not_allowed location="+l.Name)
		return Opened{}, fault.New(fault.FailedPrecondition, "%s", onlyAccepts(l, d.User))
	}
	// Before the code is looked at: with no gateway to take the peer, a
	// session would be a Connected that carries nothing, and the code
	// (its TOTP step) stays unspent for the next try.
	if err := s.gatewayOnline(l); err != nil {
		return Opened{}, err
	}
	psk, err := wgkey.NewPreshared()
	if err != nil {
		return Opened{}, err
	}
	var sess store.Session
	var replaced *session.Ended
	_, err = s.prove(ctx, a, p, code, func(q *store.Q, u store.User, m mfa.Method) error {
		if err := s.audit(ctx, q, a, "mfa.succeeded", u.Username, fmt.Sprintf("method=%s location=%s device=%s", methodName(m), l.Name, d.Name)); err != nil {
			return err
		}
		var err error
		sess, replaced, err = s.openSession(ctx, q, d, l, c.Method, psk[:], a)
		return err
	})
	if err != nil {
		return Opened{}, err
	}
	return s.opened(ctx, l, d, addr, sess, replaced, psk), nil
}

// opened announces a session a second factor opened, lets the gateways
// take its peer, and answers it with its tunnel.
func (s *Service) opened(ctx context.Context, l store.Location, d Client, addr string, sess store.Session, replaced *session.Ended, psk wgkey.Key) Opened {
	s.Sessions.Announce(replaced)
	// The new session's peer, read again by the gateways as that one
	// device's (the replaced session was the same device's).
	s.waitGateways(ctx, l.ID, s.Sessions.PublishDevices(l.ID, d.ID))
	t := tunnelOf(l, addr)
	t.PresharedKey = psk.String()
	return Opened{Session: sessionOf(sess), Tunnel: t, ExpiresAt: expiry(l, sess)}
}

// Disconnect ends a session of the device.
func (s *Service) Disconnect(ctx context.Context, d Client, sessionID string) error {
	if sessionID == "" {
		return fault.New(fault.Invalid, "session_id: required")
	}
	sess, err := s.store.SessionByID(ctx, sessionID)
	if err != nil || sess.DeviceID != d.ID {
		return fault.New(fault.NotFound, "session not found")
	}
	_, err = s.Sessions.End(ctx, sessionID, session.ReasonClient, d.User.Username)
	return err
}

// SessionView is a session with the names an admin needs.
type SessionView struct {
	Session
	Username     string
	DeviceName   string
	LocationName string
	Address      string
}

// ListSessions lists sessions for admins.
func (s *Service) ListSessions(ctx context.Context, a Actor, locationID string, activeOnly bool) ([]SessionView, error) {
	if !a.Admin {
		return nil, a.notAdmin()
	}
	list, err := s.store.ListSessions(ctx, store.SessionFilter{LocationID: locationID, ActiveOnly: activeOnly, Limit: 1000})
	if err != nil {
		return nil, err
	}
	users, devs, locs := map[string]string{}, map[string]string{}, map[string]string{}
	if all, err := s.store.ListUsers(ctx); err == nil {
		for _, u := range all {
			users[u.ID] = u.Username
		}
	}
	if all, err := s.store.ListDevices(ctx); err == nil {
		for _, d := range all {
			devs[d.ID] = d.Name
		}
	}
	if all, err := s.store.ListLocations(ctx); err == nil {
		for _, l := range all {
			locs[l.ID] = l.Name
		}
	}
	out := make([]SessionView, 0, len(list))
	for _, sess := range list {
		addr, _ := s.store.AddressOf(ctx, sess.LocationID, sess.DeviceID)
		out = append(out, SessionView{Session: sessionOf(sess), Username: users[sess.UserID], DeviceName: devs[sess.DeviceID], LocationName: locs[sess.LocationID], Address: addr})
	}
	return out, nil
}

// DisconnectSession ends any session, for admins.
func (s *Service) DisconnectSession(ctx context.Context, a Actor, sessionID string) error {
	if !a.Admin {
		return a.notAdmin()
	}
	ok, err := s.Sessions.End(ctx, sessionID, session.ReasonAdmin, a.name())
	if errors.Is(err, store.ErrNotFound) {
		return fault.New(fault.NotFound, "session not found")
	}
	if err == nil && !ok {
		return fault.New(fault.FailedPrecondition, "The session has already ended.")
	}
	return err
}

// PeerStat is what a gateway reports about one peer.
type PeerStat struct {
	PublicKey       string
	Endpoint        string
	RxBytes         uint64
	TxBytes         uint64
	LatestHandshake time.Time
}

// gatewayOnline refuses a new session on a location no gateway follows,
// when the server is set to require one (wicketd serve: the embedded
// gateway or standalone ones).
func (s *Service) gatewayOnline(l store.Location) error {
	if !s.cfg.RequireGateway || s.Sessions.Followers(l.ID) > 0 {
		return nil
	}
	s.log.Warn("no gateway follows the location; refusing a new session", "location", l.Name)
	return fault.New(fault.Unavailable, "The gateway of %s is offline; try again in a minute.", l.Name)
}

// gatewayWait bounds how long a new session waits for the location's
// gateways to take its peer.
const gatewayWait = 2 * time.Second

// waitGateways lets the gateways take a new session's peer before the
// client is told to connect, so its first handshake is not dropped.
func (s *Service) waitGateways(ctx context.Context, locationID string, gen uint64) {
	wctx, cancel := context.WithTimeout(ctx, gatewayWait)
	defer cancel()
	if !s.Sessions.WaitApplied(wctx, locationID, gen) {
		s.log.Warn("a gateway of the location did not take the new peer in time", "location", locationID)
	}
}
