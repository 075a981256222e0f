package core

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"connectrpc.com/connect"

	v1 "github.com/wicket-vpn/wicket/proto/gen/wicket/v1"
	"github.com/wicket-vpn/wicket/shared/enrollment"
	"github.com/wicket-vpn/wicket/shared/humantime"
	"github.com/wicket-vpn/wicket/shared/wgkey"
)

func (c *core) enroll(ctx context.Context, text, deviceName string) (InstanceView, error) {
	code, err := enrollment.Parse(text)
	if err != nil {
		return InstanceView{}, err
	}
	deviceName = strings.TrimSpace(deviceName)
	if deviceName == "" {
		if h, err := c.hostname(); err == nil && h != "" {
			deviceName = h
		} else {
			deviceName = "Wicket device"
		}
	}
	// The enrollment token works once: make sure the secrets can be kept
	// before spending it.
	if err := c.checkSecrets(); err != nil {
		return InstanceView{}, err
	}
	priv, err := wgkey.NewPrivate()
	if err != nil {
		return InstanceView{}, fmt.Errorf("cannot make a WireGuard key: %v", err)
	}
	in := c.newInstance(savedInstance{URL: code.URL, Fingerprint: code.Fingerprint, DeviceName: deviceName, PublicKey: priv.Public().String()})
	resp, err := in.client.Enroll(ctx, connect.NewRequest(&v1.EnrollRequest{
		EnrollmentToken: code.Token, DeviceName: deviceName, PublicKey: priv.Public().String(),
	}))
	if err != nil {
		return InstanceView{}, c.rpcError("enroll", code.URL, err)
	}
	m := resp.Msg
	if m.DeviceId == "" || m.DeviceToken == "" || m.Instance == nil {
		return InstanceView{}, errors.New("the server's enrollment answer is incomplete; is it a Wicket server?")
	}
	id := m.DeviceId
	if err := c.opts.Secrets.Set(privateKeyName(id), priv.String()); err != nil {
		return InstanceView{}, fmt.Errorf("the device was enrolled but its WireGuard key could not be stored: %w; delete the device %q in your profile and enroll again", err, deviceName)
	}
	if err := c.opts.Secrets.Set(deviceTokenName(id), m.DeviceToken); err != nil {
		c.opts.Secrets.Delete(privateKeyName(id))
		return InstanceView{}, fmt.Errorf("the device was enrolled but its token could not be stored: %w; delete the device %q in your profile and enroll again", err, deviceName)
	}
	in.saved.ID, in.saved.DeviceID, in.saved.EnrolledAt = id, id, c.opts.Now()
	in.token, in.info, in.lastUpdate = m.DeviceToken, m.Instance, c.opts.Now()
	in.servers.set(serverURLs(m.Instance, code.URL))
	c.mu.Lock()
	c.insts = append(c.insts, in)
	c.startInstanceLocked(in)
	c.publishLocked(Event{Kind: EventInstancesChanged, InstanceID: id})
	v := c.viewInstance(in)
	c.mu.Unlock()
	if err := c.save(); err != nil {
		return v, err
	}
	c.log.Info("enrolled", "instance", id, "url", code.URL, "device", deviceName)
	return v, nil
}

// checkSecrets writes, reads and deletes a probe entry.
func (c *core) checkSecrets() error {
	const probe = "wicket-enroll-check"
	if err := c.opts.Secrets.Set(probe, "ok"); err != nil {
		return err
	}
	if _, err := c.opts.Secrets.Get(probe); err != nil {
		return err
	}
	return c.opts.Secrets.Delete(probe)
}

func (c *core) removeInstance(ctx context.Context, id string) error {
	c.mu.Lock()
	in, err := c.findInstance(id)
	if err != nil {
		c.mu.Unlock()
		return err
	}
	var active []string
	for locID, l := range in.locs {
		if l.state != Disconnected && l.state != Failed {
			active = append(active, locID)
		}
	}
	c.mu.Unlock()
	for _, locID := range active {
		if err := c.disconnect(ctx, id, locID); err != nil {
			c.log.Warn("disconnect while removing instance", "instance", id, "err", err)
		}
	}
	c.mu.Lock()
	if in.stopWatch != nil {
		in.stopWatch()
	}
	c.insts = slices.DeleteFunc(c.insts, func(x *instance) bool { return x == in })
	c.publishLocked(Event{Kind: EventInstancesChanged, InstanceID: id})
	c.mu.Unlock()
	var errs []error
	errs = append(errs, c.save())
	errs = append(errs, c.opts.Secrets.Delete(privateKeyName(id)), c.opts.Secrets.Delete(deviceTokenName(id)))
	return errors.Join(errs...)
}

func (c *core) acknowledgeChanges(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	in, err := c.findInstance(id)
	if err != nil || len(in.changes) == 0 {
		return
	}
	in.changes, in.changedAt = nil, time.Time{}
	c.publishLocked(Event{Kind: EventInstanceUpdated, InstanceID: id})
}

// update fetches the configuration with GetInstance.
func (c *core) update(ctx context.Context, id string) error {
	c.mu.Lock()
	in, err := c.findInstance(id)
	c.mu.Unlock()
	if err != nil {
		return err
	}
	return c.fetch(ctx, in)
}

func (c *core) fetch(ctx context.Context, in *instance) error {
	tok, err := c.deviceToken(in)
	if err != nil {
		c.setUpdateError(in, err)
		return err
	}
	c.mu.Lock()
	sessions := in.sessionIDsLocked()
	c.mu.Unlock()
	resp, err := in.client.GetInstance(ctx, connect.NewRequest(&v1.GetInstanceRequest{DeviceToken: tok, KnownSessionIds: sessions}))
	if err != nil {
		err = c.rpcError("update", in.servers.describe(), err)
		if ctx.Err() == nil {
			c.setUpdateError(in, err)
		}
		return err
	}
	c.apply(in, resp.Msg.Instance)
	if resp.Msg.Sessions != nil {
		c.reconcile(in, sessions, resp.Msg.Sessions)
	}
	return nil
}

func (c *core) setUpdateError(in *instance, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	msg := err.Error()
	if in.updateErr == msg {
		return
	}
	in.updateErr = msg
	c.publishLocked(Event{Kind: EventInstanceUpdated, InstanceID: in.saved.ID})
}

func (c *core) setLive(in *instance, live bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if in.live == live {
		return
	}
	in.live = live
	if live {
		in.updateErr = ""
	}
	c.publishLocked(Event{Kind: EventInstanceUpdated, InstanceID: in.saved.ID})
}

// apply takes a configuration from the server: it records what changed for
// people, ends local state of locations that went away and saves.
func (c *core) apply(in *instance, info *v1.InstanceInfo) {
	if info == nil {
		return
	}
	c.mu.Lock()
	if c.closing {
		c.mu.Unlock()
		return
	}
	old := in.info
	in.lastUpdate = c.opts.Now()
	in.updateErr = ""
	moved := in.servers.set(serverURLs(info, in.saved.URL))
	var changes []string
	if old != nil && old.ConfigVersion == info.ConfigVersion && sameInfo(old, info) {
		if moved {
			in.info = info // the addresses are saved with it
		}
		c.publishLocked(Event{Kind: EventInstanceUpdated, InstanceID: in.saved.ID})
		c.mu.Unlock()
		if moved {
			if err := c.save(); err != nil {
				c.log.Warn("cannot save instances", "err", err)
			}
		}
		return
	}
	if old != nil {
		changes = describeChanges(old, info, func(locID string) bool {
			l := in.locs[locID]
			return l != nil && (l.state == Connected || l.state == Connecting)
		})
	}
	in.info = info
	// Locations that went away take their tunnels with them; the server
	// has ended their sessions already.
	var gone []tunnelCloser
	for id, l := range in.locs {
		if in.locationInfo(id) == nil {
			l.gen++ // an attempt in flight sees the change and undoes itself
			if l.tun != nil {
				gone = append(gone, l.tun)
			}
			if l.sessionID != "" {
				// Say so, as for any ended session: a command-line connect
				// waits for this event, and the server's own word may have
				// been missed while the stream was down.
				name := id
				for _, oli := range old.GetLocations() {
					if oli.Id == id {
						name = oli.Name
					}
				}
				c.publishLocked(Event{Kind: EventSessionEnded, InstanceID: in.saved.ID, LocationID: id,
					Location: LocationView{InstanceID: in.saved.ID, ID: id, Name: name, State: Disconnected, EndReason: "location_changed"},
					Reason:   "location_changed", Message: name + " was removed or is no longer open to you; the connection ended."})
			}
			delete(in.locs, id)
		}
	}
	if len(changes) > 0 {
		in.changes, in.changedAt = changes, c.opts.Now()
	}
	c.publishLocked(Event{Kind: EventInstanceUpdated, InstanceID: in.saved.ID, Changes: changes})
	// Views of every location may have changed (name, MFA, threshold).
	for _, li := range info.Locations {
		c.locationChangedLocked(in, li.Id)
	}
	c.mu.Unlock()
	for _, t := range gone {
		t.Close()
	}
	if len(changes) > 0 {
		c.log.Info("instance configuration changed", "instance", in.saved.ID, "version", info.ConfigVersion, "changes", changes)
	}
	if err := c.save(); err != nil {
		c.log.Warn("cannot save instances", "err", err)
	}
}

type tunnelCloser interface{ Close() error }

func sameInfo(a, b *v1.InstanceInfo) bool {
	return len(describeChanges(a, b, func(string) bool { return false })) == 0 && len(a.Locations) == len(b.Locations)
}

// describeChanges says in sentences what changed between two
// configurations, for the banner and the connected location.
func describeChanges(old, cur *v1.InstanceInfo, connected func(locID string) bool) []string {
	var out []string
	if old.Name != cur.Name && cur.Name != "" {
		out = append(out, fmt.Sprintf("The instance is now called %s", cur.Name))
	}
	oldM, curM := methodSet(old.EnabledMfaMethods), methodSet(cur.EnabledMfaMethods)
	for _, m := range Methods {
		switch {
		case curM[m] && !oldM[m]:
			out = append(out, fmt.Sprintf("%s is now set up for your account", methodNoun(m)))
		case !curM[m] && oldM[m]:
			out = append(out, fmt.Sprintf("%s is no longer set up for your account", methodNoun(m)))
		}
	}
	if cur.SmtpConfigured != old.SmtpConfigured {
		if cur.SmtpConfigured {
			out = append(out, "The server can now send email codes")
		} else {
			out = append(out, "The server can no longer send email codes")
		}
	}
	oldLocs := map[string]*v1.LocationInfo{}
	for _, l := range old.Locations {
		oldLocs[l.Id] = l
	}
	for _, l := range cur.Locations {
		o := oldLocs[l.Id]
		delete(oldLocs, l.Id)
		if o == nil {
			out = append(out, fmt.Sprintf("New location: %s", l.Name))
			continue
		}
		// What a connected person needs to know of each change: the server
		// applies limits to the running session at once and ends it when
		// routes, gateway or address change; tunnel settings wait for the
		// next connection.
		var now, ends, next string
		if connected(l.Id) {
			now = " (this applies to your current connection too)"
			ends = " (your current connection ends: connect again)"
			next = " (you are connected: it applies from the next connection)"
		}
		var lc []string
		if o.Name != l.Name {
			lc = append(lc, fmt.Sprintf("%s is now called %s", o.Name, l.Name))
		}
		oMFA := o.MfaMode == v1.LocationMfaMode_LOCATION_MFA_MODE_INTERNAL
		lMFA := l.MfaMode == v1.LocationMfaMode_LOCATION_MFA_MODE_INTERNAL
		switch {
		case lMFA && !oMFA:
			lc = append(lc, fmt.Sprintf("%s now asks for MFA on every connection", l.Name))
		case !lMFA && oMFA:
			lc = append(lc, fmt.Sprintf("%s no longer asks for MFA", l.Name))
		}
		if lMFA && o.PeerDisconnectThresholdSeconds != l.PeerDisconnectThresholdSeconds {
			lc = append(lc, fmt.Sprintf("%s now disconnects after %s without traffic", l.Name, humantime.Duration(time.Duration(l.PeerDisconnectThresholdSeconds)*time.Second))+now)
		}
		if o.MaxSessionSeconds != l.MaxSessionSeconds {
			if l.MaxSessionSeconds == 0 {
				lc = append(lc, fmt.Sprintf("%s no longer limits how long a session lasts", l.Name)+now)
			} else {
				lc = append(lc, fmt.Sprintf("%s now ends sessions after %s", l.Name, humantime.Duration(time.Duration(l.MaxSessionSeconds)*time.Second))+now)
			}
		}
		ot, lt := o.GetTunnel(), l.GetTunnel()
		if !slices.Equal(ot.GetAllowedIps(), lt.GetAllowedIps()) {
			lc = append(lc, fmt.Sprintf("%s now routes %s", l.Name, strings.Join(lt.GetAllowedIps(), ", "))+ends)
		}
		if !slices.Equal(ot.GetDns(), lt.GetDns()) {
			if len(lt.GetDns()) == 0 {
				lc = append(lc, fmt.Sprintf("%s no longer sets DNS servers", l.Name)+next)
			} else {
				lc = append(lc, fmt.Sprintf("%s now uses the DNS servers %s", l.Name, strings.Join(lt.GetDns(), ", "))+next)
			}
		}
		if ot.GetEndpoint() != lt.GetEndpoint() || ot.GetServerPublicKey() != lt.GetServerPublicKey() {
			lc = append(lc, fmt.Sprintf("%s's gateway changed", l.Name)+ends)
		}
		if ot.GetAddress() != lt.GetAddress() {
			lc = append(lc, fmt.Sprintf("Your address in %s is now %s", l.Name, lt.GetAddress())+ends)
		}
		if ot.GetMtu() != lt.GetMtu() || ot.GetKeepaliveIntervalSeconds() != lt.GetKeepaliveIntervalSeconds() {
			lc = append(lc, fmt.Sprintf("%s's tunnel settings changed", l.Name)+next)
		}
		out = append(out, lc...)
	}
	for _, o := range old.Locations {
		if oldLocs[o.Id] != nil {
			out = append(out, fmt.Sprintf("Location %s was removed", o.Name))
		}
	}
	return out
}

func methodSet(ms []v1.MfaMethod) map[Method]bool {
	s := map[Method]bool{}
	for _, m := range ms {
		if mm := methodFromPB(m); mm != "" {
			s[mm] = true
		}
	}
	return s
}

func methodNoun(m Method) string {
	switch m {
	case MethodTOTP:
		return "An authenticator app"
	case MethodEmail:
		return "Email codes"
	}
	return string(m)
}

// rpcError turns a Connect error into one for people. The server's
// messages are written for them and are kept as they are.
func (c *core) rpcError(op, url string, err error) error {
	var ce *connect.Error
	if !errors.As(err, &ce) {
		return err
	}
	switch ce.Code() {
	case connect.CodeUnavailable, connect.CodeDeadlineExceeded:
		return &Error{Code: ce.Code(), Msg: fmt.Sprintf("cannot reach the server at %s: %s", url, ce.Message()), err: err}
	case connect.CodeUnauthenticated:
		if op == "update" || op == "watch" {
			return &Error{Code: ce.Code(), Msg: "the server no longer knows this device (it was removed or its token expired); remove the instance and enroll again", err: err}
		}
	case connect.CodeUnimplemented, connect.CodeUnknown:
		if ce.Message() == "" || strings.Contains(ce.Message(), "404") {
			return &Error{Code: ce.Code(), Msg: fmt.Sprintf("%s does not answer like a Wicket server (%v)", url, err), err: err}
		}
	}
	msg := ce.Message()
	if msg == "" {
		msg = err.Error()
	}
	return &Error{Code: ce.Code(), Msg: msg, err: err}
}

// Error is an error from the server, with the server's message for people.
type Error struct {
	// Code is the Connect code (connect.CodeFailedPrecondition, …).
	Code connect.Code
	// Msg is the message to show.
	Msg string
	err error
}

func (e *Error) Error() string { return e.Msg }

// Unwrap returns the underlying Connect error.
func (e *Error) Unwrap() error { return e.err }
