package core

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

	"github.com/wicket-vpn/wicket/client/internal/tunnel"
	v1 "github.com/wicket-vpn/wicket/proto/gen/wicket/v1"
	"github.com/wicket-vpn/wicket/shared/wgkey"
)

// locState is the connection state of one location. Guarded by core.mu.
type locState struct {
	state     State
	err       string
	msg       string
	endReason string

	method      Method
	sentTo      string
	codeExpires time.Time
	challenge   string // the challenge token, in memory only
	browserURL  string // the passkey page of the challenge
	// stopAwait ends the wait for a passkey confirmation (AwaitMfa).
	stopAwait context.CancelFunc

	sessionID      string
	tun            tunnel.Tunnel
	tunnelCfg      *v1.TunnelConfig // without the pre-shared key
	offers         string
	authorizedAt   time.Time
	connectedSince time.Time
	sessionExpires time.Time
	stats          tunnel.Stats

	// gen goes up whenever the user or the server moves the location on,
	// so the result of an RPC that was in flight meanwhile is dropped.
	gen uint64
}

// reset returns the location to Disconnected, keeping nothing of the last
// attempt.
func (l *locState) reset() {
	if l.stopAwait != nil {
		l.stopAwait()
	}
	gen := l.gen + 1
	*l = locState{gen: gen}
}

// ErrBusy is returned when an action does not fit the location's state.
var ErrBusy = errors.New("the location is busy")

// lookup returns the instance, its location info and state, with c.mu held.
func (c *core) lookupLocked(instID, locID string) (*instance, *v1.LocationInfo, *locState, error) {
	in, err := c.findInstance(instID)
	if err != nil {
		return nil, nil, nil, err
	}
	li := in.locationInfo(locID)
	if li == nil {
		return nil, nil, nil, fmt.Errorf("no location %q in %s (try updating the instance)", locID, in.saved.URL)
	}
	return in, li, in.loc(locID), nil
}

// otherTunnelLocked names another location whose tunnel is up or coming up,
// "" when there is none.
func (c *core) otherTunnelLocked(in *instance, locID string) string {
	for _, other := range c.insts {
		for id, ol := range other.locs {
			if (other == in && id == locID) || (ol.state != Connecting && ol.state != Connected) {
				continue
			}
			if li := other.locationInfo(id); li != nil {
				return li.Name
			}
			return "the other location"
		}
	}
	return ""
}

func isMFA(li *v1.LocationInfo) bool {
	return li.MfaMode == v1.LocationMfaMode_LOCATION_MFA_MODE_INTERNAL
}

func (c *core) connect(ctx context.Context, instID, locID string) error {
	c.mu.Lock()
	in, li, l, err := c.lookupLocked(instID, locID)
	if err != nil {
		c.mu.Unlock()
		return err
	}
	switch l.state {
	case Connecting, Connected:
		c.mu.Unlock()
		return fmt.Errorf("%w: %s is already %s", ErrBusy, li.Name, strings.ToLower(l.state.String()))
	case AwaitingMethod, AwaitingCode:
		// Connect again while the prompt is open just shows it again.
		c.locationChangedLocked(in, locID)
		c.mu.Unlock()
		return nil
	}
	if busy := c.otherTunnelLocked(in, locID); busy != "" {
		c.mu.Unlock()
		// One tunnel at a time: two would fight over the interface name,
		// the routes or the SOCKS port.
		return fmt.Errorf("%w: disconnect %s first; Wicket keeps one tunnel up at a time", ErrBusy, busy)
	}
	l.reset()
	if isMFA(li) {
		l.state = AwaitingMethod
		l.method = c.defaultMethodLocked(in, locID)
		c.locationChangedLocked(in, locID)
		c.mu.Unlock()
		return nil
	}
	l.state = Connecting
	gen := l.gen
	c.locationChangedLocked(in, locID)
	c.mu.Unlock()

	tok, err := c.deviceToken(in)
	if err != nil {
		return c.fail(in, locID, gen, err)
	}
	resp, err := in.client.Connect(ctx, connect.NewRequest(&v1.ConnectRequest{DeviceToken: tok, LocationId: locID}))
	if err != nil {
		return c.fail(in, locID, gen, c.rpcError("connect", in.servers.describe(), err))
	}
	return c.bringUp(ctx, in, locID, gen, resp.Msg.SessionId, resp.Msg.Tunnel, time.Time{})
}

// defaultMethodLocked is the method to preselect: the last one used at the
// location while it is still offered, else the first offered (one the
// location accepts and the account has), else the first the account has.
func (c *core) defaultMethodLocked(in *instance, locID string) Method {
	var offer []Method
	if in.info != nil {
		iv := c.viewInstance(in)
		for _, lv := range iv.Locations {
			if lv.ID == locID {
				offer, _ = OfferedMethods(iv, lv)
			}
		}
	}
	if m := in.saved.LastMethods[locID]; m != "" && (len(offer) == 0 || slices.Contains(offer, m)) {
		return m
	}
	if len(offer) > 0 {
		return offer[0]
	}
	if in.info != nil {
		for _, m := range in.info.EnabledMfaMethods {
			if mm := methodFromPB(m); mm != "" {
				return mm
			}
		}
	}
	return MethodTOTP
}

// fail moves a location to Failed with err, unless it moved on meanwhile.
func (c *core) fail(in *instance, locID string, gen uint64, err error) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	l := in.locs[locID]
	if l == nil || l.gen != gen {
		return err
	}
	l.reset()
	l.state = Failed
	l.err = err.Error()
	c.locationChangedLocked(in, locID)
	return err
}

func (c *core) chooseMethod(ctx context.Context, instID, locID string, m Method) error {
	if methodToPB(m) == v1.MfaMethod_MFA_METHOD_UNSPECIFIED {
		return fmt.Errorf("unknown method %q", m)
	}
	c.mu.Lock()
	in, li, l, err := c.lookupLocked(instID, locID)
	if err != nil {
		c.mu.Unlock()
		return err
	}
	if l.state != AwaitingMethod && l.state != AwaitingCode {
		c.mu.Unlock()
		return fmt.Errorf("%w: %s is not waiting for a sign-in method (press Connect first)", ErrBusy, li.Name)
	}
	l.method = m
	gen := l.gen
	c.mu.Unlock()
	return c.startMFA(ctx, in, locID, gen, m, false)
}

func (c *core) resend(ctx context.Context, instID, locID string) error {
	c.mu.Lock()
	in, li, l, err := c.lookupLocked(instID, locID)
	if err != nil {
		c.mu.Unlock()
		return err
	}
	if l.state != AwaitingCode || l.method != MethodEmail {
		c.mu.Unlock()
		return fmt.Errorf("%w: %s is not waiting for an email code", ErrBusy, li.Name)
	}
	gen := l.gen
	c.mu.Unlock()
	return c.startMFA(ctx, in, locID, gen, MethodEmail, true)
}

// startMFA asks the server for a challenge. A refusal keeps the prompt
// where it is, with the server's message.
func (c *core) startMFA(ctx context.Context, in *instance, locID string, gen uint64, m Method, resend bool) error {
	tok, err := c.deviceToken(in)
	if err != nil {
		return c.promptError(in, locID, gen, err)
	}
	resp, err := in.client.StartMfa(ctx, connect.NewRequest(&v1.StartMfaRequest{DeviceToken: tok, LocationId: locID, Method: methodToPB(m)}))
	if err != nil {
		return c.promptError(in, locID, gen, c.rpcError("start", in.servers.describe(), err))
	}
	c.mu.Lock()
	l := in.locs[locID]
	if l == nil || l.gen != gen {
		c.mu.Unlock()
		return context.Canceled
	}
	if l.stopAwait != nil {
		l.stopAwait() // a passkey challenge chosen before
		l.stopAwait = nil
	}
	l.state = AwaitingCode
	l.method = m
	l.challenge = resp.Msg.ChallengeToken
	l.sentTo = resp.Msg.SentTo
	l.codeExpires = resp.Msg.GetExpiresAt().AsTime()
	l.browserURL = resp.Msg.BrowserUrl
	l.err = ""
	l.msg = ""
	if resend && l.sentTo != "" {
		l.msg = "A new code was sent to " + l.sentTo
	}
	in.saved.LastMethods[locID] = m
	passkey := m == MethodPasskey
	if passkey {
		if l.browserURL == "" {
			l.state, l.challenge = AwaitingMethod, ""
			l.err = "The server sent no page to confirm the passkey on; update the server, or choose another method."
			c.locationChangedLocked(in, locID)
			c.mu.Unlock()
			return errors.New(l.err)
		}
		// The wait outlives this call (the browser takes the person's
		// time); Cancel, or any reset, ends it.
		actx, stop := context.WithCancel(context.Background())
		l.stopAwait = stop
		go c.awaitPasskey(actx, in, locID, gen, l.challenge)
	}
	browserURL := l.browserURL
	c.locationChangedLocked(in, locID)
	c.mu.Unlock()
	if err := c.save(); err != nil {
		c.log.Warn("cannot save the last method", "err", err)
	}
	if passkey {
		c.openBrowser(in, locID, gen, browserURL)
	}
	return nil
}

// openBrowser opens the passkey page; when it cannot, the prompt says to
// open the address by hand.
func (c *core) openBrowser(in *instance, locID string, gen uint64, url string) {
	err := errors.New("no browser to open")
	c.mu.Lock()
	open := c.opts.OpenURL
	c.mu.Unlock()
	if open != nil {
		err = open(url)
	}
	if err == nil {
		return
	}
	c.log.Info("cannot open the passkey page in a browser", "err", err)
	c.mu.Lock()
	defer c.mu.Unlock()
	if l := in.locs[locID]; l != nil && l.gen == gen {
		l.msg = "Open this address in your browser: " + url
		c.locationChangedLocked(in, locID)
	}
}

// awaitPasskey waits for the browser's confirmation of a passkey
// challenge and brings the tunnel up, as a right code does.
func (c *core) awaitPasskey(ctx context.Context, in *instance, locID string, gen uint64, challenge string) {
	resp, err := in.client.AwaitMfa(ctx, connect.NewRequest(&v1.AwaitMfaRequest{ChallengeToken: challenge}))
	if ctx.Err() != nil {
		// Cancelled: the location moved on. A session granted just then
		// is ended again.
		if err == nil {
			c.endSession(in, resp.Msg.SessionId)
		}
		return
	}
	if err != nil {
		rerr := c.rpcError("await", in.saved.URL, err)
		c.mu.Lock()
		if l := in.locs[locID]; l != nil && l.gen == gen {
			// Refused, expired or ended: choose a method again.
			l.state, l.challenge, l.browserURL, l.codeExpires, l.err, l.msg = AwaitingMethod, "", "", time.Time{}, rerr.Error(), ""
			l.stopAwait = nil
			c.locationChangedLocked(in, locID)
		}
		c.mu.Unlock()
		return
	}
	var expires time.Time
	if e := resp.Msg.GetExpiresAt(); e != nil && e.AsTime().Unix() > 0 {
		expires = e.AsTime()
	}
	c.mu.Lock()
	l := in.locs[locID]
	if l == nil || l.gen != gen {
		c.mu.Unlock()
		c.endSession(in, resp.Msg.SessionId)
		return
	}
	l.state, l.challenge, l.browserURL, l.err, l.msg, l.stopAwait = Connecting, "", "", "", "", nil
	c.locationChangedLocked(in, locID)
	c.mu.Unlock()
	c.bringUp(context.Background(), in, locID, gen, resp.Msg.SessionId, resp.Msg.Tunnel, expires)
}

// promptError shows err in the MFA prompt without leaving it.
func (c *core) promptError(in *instance, locID string, gen uint64, err error) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	l := in.locs[locID]
	if l == nil || l.gen != gen {
		return err
	}
	l.err = err.Error()
	l.msg = ""
	c.locationChangedLocked(in, locID)
	return err
}

func (c *core) submitCode(ctx context.Context, instID, locID, code string) error {
	code = strings.Map(func(r rune) rune {
		if r == ' ' || r == '-' {
			return -1
		}
		return r
	}, code)
	c.mu.Lock()
	in, li, l, err := c.lookupLocked(instID, locID)
	if err != nil {
		c.mu.Unlock()
		return err
	}
	if l.state != AwaitingCode || l.challenge == "" {
		c.mu.Unlock()
		return fmt.Errorf("%w: %s is not waiting for a code", ErrBusy, li.Name)
	}
	if l.method == MethodPasskey {
		c.mu.Unlock()
		return fmt.Errorf("%w: %s waits for your passkey in the browser, not a code", ErrBusy, li.Name)
	}
	if code == "" || strings.Trim(code, "0123456789") != "" {
		const msg = "The code is the 6 digits from your authenticator app or email"
		l.err = msg
		c.locationChangedLocked(in, locID)
		c.mu.Unlock()
		return errors.New(msg)
	}
	gen, challenge := l.gen, l.challenge
	c.mu.Unlock()

	resp, err := in.client.FinishMfa(ctx, connect.NewRequest(&v1.FinishMfaRequest{ChallengeToken: challenge, Code: code}))
	if err != nil {
		rerr := c.rpcError("finish", in.servers.describe(), err)
		var ce *connect.Error
		if errors.As(err, &ce) && ce.Code() == connect.CodeUnauthenticated && strings.Contains(strings.ToLower(ce.Message()), "expired") {
			// The challenge is spent: choose a method again.
			c.mu.Lock()
			if l := in.locs[locID]; l != nil && l.gen == gen {
				l.state, l.challenge, l.sentTo, l.codeExpires, l.err, l.msg = AwaitingMethod, "", "", time.Time{}, rerr.Error(), ""
				c.locationChangedLocked(in, locID)
			}
			c.mu.Unlock()
			return rerr
		}
		return c.promptError(in, locID, gen, rerr)
	}
	var expires time.Time
	if e := resp.Msg.GetExpiresAt(); e != nil && e.AsTime().Unix() > 0 {
		expires = e.AsTime()
	}
	c.mu.Lock()
	if l := in.locs[locID]; l != nil && l.gen == gen {
		l.state, l.challenge, l.err, l.msg = Connecting, "", "", ""
		c.locationChangedLocked(in, locID)
	}
	c.mu.Unlock()
	return c.bringUp(ctx, in, locID, gen, resp.Msg.SessionId, resp.Msg.Tunnel, expires)
}

// bringUp brings the tunnel of an authorised session up and moves the
// location to Connected. If the user cancelled meanwhile, it takes the
// tunnel down again and ends the session.
func (c *core) bringUp(ctx context.Context, in *instance, locID string, gen uint64, sessionID string, tc *v1.TunnelConfig, expires time.Time) error {
	c.mu.Lock()
	if l := in.locs[locID]; l != nil && l.gen == gen {
		l.state = Connecting
		l.sessionID = sessionID
		l.authorizedAt = c.opts.Now()
		c.locationChangedLocked(in, locID)
	}
	c.mu.Unlock()

	cfg, err := c.tunnelConfig(in, locID, tc)
	var tun tunnel.Tunnel
	if err == nil {
		tun, err = c.opts.Tunnels.Up(ctx, cfg, c.tunnelOptions())
	}
	if err != nil {
		// The server already put the peer on the gateway: take it off.
		c.endSession(in, sessionID)
		return c.fail(in, locID, gen, err)
	}
	safe := proto.Clone(tc).(*v1.TunnelConfig)
	safe.PresharedKey = ""
	c.mu.Lock()
	l := in.locs[locID]
	if l == nil || l.gen != gen || c.closing {
		c.mu.Unlock()
		tun.Close()
		c.endSession(in, sessionID)
		return context.Canceled
	}
	l.state = Connected
	l.tun = tun
	l.tunnelCfg = safe
	l.offers = tun.Offers()
	l.connectedSince = c.opts.Now()
	l.sessionExpires = expires
	l.err, l.msg, l.endReason = "", "", ""
	if st, err := tun.Stats(); err == nil {
		l.stats = st
	}
	c.locationChangedLocked(in, locID)
	c.mu.Unlock()
	c.log.Info("connected", "instance", in.saved.ID, "location", locID, "session", sessionID, "address", tc.GetAddress())
	return nil
}

// tunnelConfig builds the backend's configuration. The pre-shared key goes
// from the server's answer into the tunnel and nowhere else.
func (c *core) tunnelConfig(in *instance, locID string, tc *v1.TunnelConfig) (tunnel.Config, error) {
	if tc == nil {
		return tunnel.Config{}, errors.New("the server authorised the session but sent no tunnel configuration")
	}
	priv, err := c.privateKey(in)
	if err != nil {
		return tunnel.Config{}, err
	}
	cfg := tunnel.Config{
		PrivateKey: priv, Endpoint: tc.Endpoint, MTU: int(tc.Mtu),
		Keepalive: time.Duration(tc.KeepaliveIntervalSeconds) * time.Second,
	}
	if cfg.Address, err = netip.ParsePrefix(tc.Address); err != nil {
		return cfg, fmt.Errorf("the server sent a bad tunnel address %q", tc.Address)
	}
	if cfg.PeerPublicKey, err = wgkey.Parse(tc.ServerPublicKey); err != nil {
		return cfg, fmt.Errorf("the server sent a bad gateway key: %v", err)
	}
	if tc.PresharedKey != "" {
		if cfg.PresharedKey, err = wgkey.Parse(tc.PresharedKey); err != nil {
			return cfg, errors.New("the server sent a bad pre-shared key")
		}
	}
	for _, a := range tc.AllowedIps {
		p, err := netip.ParsePrefix(a)
		if err != nil {
			return cfg, fmt.Errorf("the server sent a bad allowed IP %q", a)
		}
		cfg.AllowedIPs = append(cfg.AllowedIPs, p)
	}
	for _, d := range tc.Dns {
		a, err := netip.ParseAddr(d)
		if err != nil {
			c.log.Warn("ignoring a DNS server that is not an address", "dns", d)
			continue
		}
		cfg.DNS = append(cfg.DNS, a)
	}
	return cfg, nil
}

// endSession tells the server a session is over, in the background so a
// slow server never holds the user up; the server also ends it by itself
// once the tunnel is idle.
func (c *core) endSession(in *instance, sessionID string) {
	if sessionID == "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	tok, err := c.deviceToken(in)
	if err != nil {
		return
	}
	if _, err := in.client.Disconnect(ctx, connect.NewRequest(&v1.DisconnectRequest{DeviceToken: tok, SessionId: sessionID})); err != nil {
		c.log.Warn("cannot tell the server the session ended", "session", sessionID, "err", err)
	}
}

func (c *core) cancel(instID, locID string) {
	c.mu.Lock()
	in, _, l, err := c.lookupLocked(instID, locID)
	if err != nil {
		c.mu.Unlock()
		return
	}
	switch l.state {
	case AwaitingMethod, AwaitingCode, Failed, Connecting:
	default:
		c.mu.Unlock()
		return
	}
	// A Connecting location's bringUp sees the new generation and undoes
	// what it did.
	l.reset()
	c.locationChangedLocked(in, locID)
	c.mu.Unlock()
}

func (c *core) disconnect(ctx context.Context, instID, locID string) error {
	c.mu.Lock()
	in, _, l, err := c.lookupLocked(instID, locID)
	if err != nil {
		c.mu.Unlock()
		return err
	}
	tun, sessionID := l.tun, l.sessionID
	l.reset()
	c.locationChangedLocked(in, locID)
	c.mu.Unlock()
	var errs []error
	if tun != nil {
		errs = append(errs, tun.Close())
	}
	if sessionID != "" {
		tok, err := c.deviceToken(in)
		if err == nil {
			_, err = in.client.Disconnect(ctx, connect.NewRequest(&v1.DisconnectRequest{DeviceToken: tok, SessionId: sessionID}))
			if err != nil {
				err = c.rpcError("disconnect", in.servers.describe(), err)
			}
		}
		if err != nil {
			// The tunnel is down either way; the server ends the session
			// itself once it sees no traffic.
			errs = append(errs, fmt.Errorf("the tunnel is down, but the server was not told: %w", err))
		}
	}
	if tun != nil || sessionID != "" {
		c.log.Info("disconnected", "instance", instID, "location", locID, "session", sessionID)
	}
	return errors.Join(errs...)
}

func (c *core) disconnectSession(ctx context.Context, instID, sessionID string) error {
	c.mu.Lock()
	in, err := c.findInstance(instID)
	c.mu.Unlock()
	if err != nil {
		return err
	}
	tok, err := c.deviceToken(in)
	if err != nil {
		return err
	}
	if _, err := in.client.Disconnect(ctx, connect.NewRequest(&v1.DisconnectRequest{DeviceToken: tok, SessionId: sessionID})); err != nil {
		return c.rpcError("disconnect", in.servers.describe(), err)
	}
	return nil
}

func (c *core) disconnectAll(ctx context.Context) error {
	type key struct{ inst, loc string }
	var active []key
	c.mu.Lock()
	for _, in := range c.insts {
		for id, l := range in.locs {
			if l.state != Disconnected {
				active = append(active, key{in.saved.ID, id})
			}
		}
	}
	c.mu.Unlock()
	var errs []error
	for _, k := range active {
		errs = append(errs, c.disconnect(ctx, k.inst, k.loc))
	}
	return errors.Join(errs...)
}

// sessionIDsLocked lists the sessions the instance holds; c.mu is held.
func (in *instance) sessionIDsLocked() []string {
	var ids []string
	for _, l := range in.locs {
		if l.sessionID != "" {
			ids = append(ids, l.sessionID)
		}
	}
	slices.Sort(ids)
	return ids
}

// reconcile applies the server's report about the sessions the client
// named in its request: each of them the server no longer holds as active
// ends here too, with the server's reason. Sessions opened after the
// request was made are not judged by it.
func (c *core) reconcile(in *instance, asked []string, rep *v1.SessionReport) {
	for _, id := range asked {
		if slices.Contains(rep.ActiveSessionIds, id) {
			continue
		}
		se := &v1.SessionEnded{SessionId: id, Message: "The server has no such connection any more; connect again."}
		for _, e := range rep.Ended {
			if e.SessionId == id {
				se = e
			}
		}
		c.mu.Lock()
		for locID, l := range in.locs {
			if l.sessionID == id && se.LocationId == "" {
				se.LocationId = locID
			}
		}
		c.mu.Unlock()
		c.sessionEnded(in, se)
	}
}

// sessionEnded handles the server's word that it ended a session.
func (c *core) sessionEnded(in *instance, se *v1.SessionEnded) {
	c.mu.Lock()
	l := in.locs[se.LocationId]
	if l == nil || l.sessionID == "" || l.sessionID != se.SessionId {
		// Not our current session (one we ended, or an older one).
		c.mu.Unlock()
		return
	}
	tun := l.tun
	l.reset()
	l.endReason = endReason(se.Reason)
	l.msg = se.Message
	if l.msg == "" {
		l.msg = "The server ended the session"
	}
	// MFA locations never reconnect by themselves: the state simply stays
	// Disconnected until the user connects again.
	li := in.locationInfo(se.LocationId)
	var view LocationView
	if li != nil {
		view = c.viewLocation(in, li)
		c.locationChangedLocked(in, se.LocationId)
	}
	reason := l.endReason
	c.publishLocked(Event{Kind: EventSessionEnded, InstanceID: in.saved.ID, LocationID: se.LocationId, Location: view, Reason: reason, Message: l.msg})
	c.mu.Unlock()
	if tun != nil {
		tun.Close()
	}
	c.log.Info("server ended the session", "instance", in.saved.ID, "location", se.LocationId, "reason", reason)
}

func endReason(r v1.SessionEndReason) string {
	switch r {
	case v1.SessionEndReason_SESSION_END_REASON_IDLE:
		return "idle"
	case v1.SessionEndReason_SESSION_END_REASON_CLIENT:
		return "client"
	case v1.SessionEndReason_SESSION_END_REASON_ADMIN:
		return "admin"
	case v1.SessionEndReason_SESSION_END_REASON_REPLACED:
		return "replaced"
	case v1.SessionEndReason_SESSION_END_REASON_MFA_DISABLED:
		return "mfa_disabled"
	case v1.SessionEndReason_SESSION_END_REASON_LOCATION_CHANGED:
		return "location_changed"
	case v1.SessionEndReason_SESSION_END_REASON_MAX_DURATION:
		return "max_duration"
	}
	return "unknown"
}

func (c *core) refreshStats() {
	type item struct {
		in  *instance
		loc string
		tun tunnel.Tunnel
	}
	var items []item
	c.mu.Lock()
	for _, in := range c.insts {
		for id, l := range in.locs {
			if l.state == Connected && l.tun != nil {
				items = append(items, item{in, id, l.tun})
			}
		}
	}
	c.mu.Unlock()
	for _, it := range items {
		st, err := it.tun.Stats()
		if err != nil {
			continue
		}
		c.mu.Lock()
		if l := it.in.locs[it.loc]; l != nil && l.tun == it.tun && l.stats != st {
			l.stats = st
			c.locationChangedLocked(it.in, it.loc)
		}
		c.mu.Unlock()
	}
}
