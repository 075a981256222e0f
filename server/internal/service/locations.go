package service

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/wicket-vpn/wicket/server/internal/fault"
	"github.com/wicket-vpn/wicket/server/internal/ipam"
	"github.com/wicket-vpn/wicket/server/internal/mfa"
	"github.com/wicket-vpn/wicket/server/internal/session"
	"github.com/wicket-vpn/wicket/server/internal/store"
	"github.com/wicket-vpn/wicket/shared/hostname"
	"github.com/wicket-vpn/wicket/shared/wgkey"
)

// Location defaults.
const (
	DefaultListenPort = 51820
	DefaultKeepalive  = 25
	DefaultMTU        = 1420
	// DefaultPeerDisconnectThresholdSeconds is the idle policy's default,
	// for forms that offer it.
	DefaultPeerDisconnectThresholdSeconds = session.DefaultPeerDisconnectThresholdSeconds
)

// LocationSpec is what an admin sets on a location. A nil MFA keeps the
// current setting on update (off on create); zero numbers take defaults.
type LocationSpec struct {
	ID                             string
	Name                           string
	Address                        string
	ListenPort                     int
	Endpoint                       string
	AllowedIPs                     []string
	DNS                            []string
	KeepaliveSeconds               int
	MFA                            *bool
	PeerDisconnectThresholdSeconds int
	AllowedGroups                  []string
	MTU                            int
	MaxSessionSeconds              int
	// AllowedMFAMethods are the second factors the location accepts;
	// empty accepts every method the server offers.
	AllowedMFAMethods []mfa.Method
}

func fieldErr(field, format string, args ...any) error {
	return &fault.Error{Kind: fault.Invalid, Field: field, Msg: field + ": " + fmt.Sprintf(format, args...)}
}

// ParsePrefixes reads a list of CIDRs, in their canonical masked form.
func ParsePrefixes(field string, list []string) ([]string, error) {
	var out []string
	for _, v := range list {
		v = strings.TrimSpace(v)
		if v == "" {
			continue
		}
		p, err := netip.ParsePrefix(v)
		if err != nil {
			if a, aerr := netip.ParseAddr(v); aerr == nil {
				p = netip.PrefixFrom(a, a.BitLen())
			} else {
				return nil, fieldErr(field, "%q is not a network such as 10.0.0.0/8 or fd00::/64", v)
			}
		}
		s := p.Masked().String()
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out, nil
}

// ParseEndpoint checks a host:port clients dial.
func ParseEndpoint(v string) (string, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return "", fieldErr("endpoint", "required: the host and port clients dial, such as vpn.example.com:51820")
	}
	host, port, err := net.SplitHostPort(v)
	if err != nil {
		return "", fieldErr("endpoint", "%q needs a host and a port, such as vpn.example.com:51820 or [2001:db8::1]:51820", v)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return "", fieldErr("endpoint", "port %q is not a number from 1 to 65535", port)
	}
	if _, err := netip.ParseAddr(host); err != nil && !hostname.Valid(host) {
		return "", fieldErr("endpoint", "%q is not a host name or IP address", host)
	}
	return v, nil
}

// validate fills defaults into spec, checks every field, and applies it to loc.
func (s *Service) validate(spec LocationSpec, loc *store.Location) error {
	name := strings.TrimSpace(spec.Name)
	if name == "" || len(name) > 64 {
		return fieldErr("name", "give the location a name of 1 to 64 characters")
	}
	if err := checkName("name", name); err != nil {
		return err
	}
	pool, err := ipam.ParsePool(strings.TrimSpace(spec.Address))
	if err != nil {
		return fieldErr("address", "%q is not a gateway address with prefix, such as 10.10.0.1/24", spec.Address)
	}
	if pool.Gateway == pool.Prefix.Addr() {
		return fieldErr("address", "%s is the network address; give the gateway's own address, such as %s", pool.Gateway, pool.Gateway.Next())
	}
	if bits := pool.Prefix.Addr().BitLen() - pool.Prefix.Bits(); bits < 2 {
		return fieldErr("address", "the prefix /%d leaves no room for clients; use /30 or wider", pool.Prefix.Bits())
	}
	port := spec.ListenPort
	if port == 0 {
		port = DefaultListenPort
	}
	if port < 1 || port > 65535 {
		return fieldErr("listen_port", "%d is not a port from 1 to 65535", port)
	}
	endpoint, err := ParseEndpoint(spec.Endpoint)
	if err != nil {
		return err
	}
	allowed, err := ParsePrefixes("allowed_ips", spec.AllowedIPs)
	if err != nil {
		return err
	}
	if len(allowed) == 0 {
		allowed = []string{pool.Prefix.String()}
	}
	var dns []string
	for _, d := range spec.DNS {
		d = strings.TrimSpace(d)
		if d == "" {
			continue
		}
		a, err := netip.ParseAddr(d)
		if err != nil {
			return fieldErr("dns", "%q is not an IP address", d)
		}
		dns = append(dns, a.String())
	}
	keepalive := spec.KeepaliveSeconds
	if keepalive == 0 {
		keepalive = DefaultKeepalive
	}
	if keepalive < 0 || keepalive > 3600 {
		return fieldErr("keepalive_interval_seconds", "use 1 to 3600 seconds (25 is usual)")
	}
	mfaOn := loc.MFA
	if spec.MFA != nil {
		mfaOn = *spec.MFA
	}
	threshold := spec.PeerDisconnectThresholdSeconds
	if threshold == 0 {
		threshold = DefaultPeerDisconnectThresholdSeconds
	}
	floor := int(s.cfg.MinThreshold / time.Second)
	if mfaOn && threshold < floor {
		return fieldErr("peer_disconnect_threshold_seconds", "must be at least %d s while Internal MFA is on; %d s is the recommended minimum, with the gateway sending statistics every 30 s",
			floor, DefaultPeerDisconnectThresholdSeconds)
	}
	if threshold > 7*24*3600 {
		return fieldErr("peer_disconnect_threshold_seconds", "at most one week (604800 s)")
	}
	mtu := spec.MTU
	if mtu == 0 {
		mtu = DefaultMTU
	}
	if mtu < 1280 || mtu > 9000 {
		return fieldErr("mtu", "use 1280 to 9000 (1420 suits most networks)")
	}
	if spec.MaxSessionSeconds != 0 && (spec.MaxSessionSeconds < 60 || spec.MaxSessionSeconds > 30*24*3600) {
		return fieldErr("max_session_seconds", "use 0 for no limit, or 60 s to 30 days")
	}
	methods, err := checkMethods(spec.AllowedMFAMethods)
	if err != nil {
		return err
	}
	groups, err := checkGroups(spec.AllowedGroups)
	if err != nil {
		var fe *fault.Error
		if errors.As(err, &fe) {
			fe.Field = "allowed_groups"
		}
		return err
	}
	loc.Name, loc.Address, loc.ListenPort, loc.Endpoint = name, strings.TrimSpace(spec.Address), port, endpoint
	loc.AllowedIPs, loc.DNS, loc.KeepaliveSeconds, loc.MFA = allowed, dns, keepalive, mfaOn
	loc.PeerDisconnectThresholdSeconds, loc.AllowedGroups, loc.MTU, loc.MaxSessionSeconds = threshold, groups, mtu, spec.MaxSessionSeconds
	loc.AllowedMFAMethods = nil
	for _, m := range methods {
		loc.AllowedMFAMethods = append(loc.AllowedMFAMethods, int(m))
	}
	return nil
}

// ListLocations returns every location.
func (s *Service) ListLocations(ctx context.Context, a Actor) ([]Location, error) {
	if !a.Admin {
		return nil, a.notAdmin()
	}
	return s.Locations(ctx)
}

// GetLocation returns one location.
func (s *Service) GetLocation(ctx context.Context, a Actor, id string) (Location, error) {
	if !a.Admin {
		return Location{}, a.notAdmin()
	}
	l, err := s.store.LocationByID(ctx, id)
	return locationOf(l), notFound("location", err)
}

// CreateLocation adds a location with a new WireGuard key pair.
func (s *Service) CreateLocation(ctx context.Context, a Actor, spec LocationSpec) (Location, error) {
	if !a.Admin {
		return Location{}, a.notAdmin()
	}
	l, err := s.createLocation(ctx, a, spec)
	if err != nil {
		return Location{}, err
	}
	return locationOf(l), nil
}

func (s *Service) createLocation(ctx context.Context, a Actor, spec LocationSpec) (store.Location, error) {
	loc := store.Location{ID: newID(), CreatedAt: s.clock.Now()}
	if err := s.validate(spec, &loc); err != nil {
		return store.Location{}, err
	}
	priv, err := wgkey.NewPrivate()
	if err != nil {
		return store.Location{}, err
	}
	loc.PrivateKey = s.sealString(priv[:], session.LocationKeyAAD(loc.ID))
	loc.PublicKey = priv.Public().String()
	err = s.store.InTx(ctx, func(q *store.Q) error {
		if err := portFree(ctx, q, loc); err != nil {
			return err
		}
		v, err := q.BumpConfigVersion(ctx)
		if err != nil {
			return err
		}
		loc.ConfigVersion = v
		if err := q.CreateLocation(ctx, loc); err != nil {
			return err
		}
		return s.audit(ctx, q, a, "location.created", loc.Name, describe(loc))
	})
	if errors.Is(err, store.ErrConflict) {
		return store.Location{}, fieldErr("name", "a location named %q exists", loc.Name)
	}
	if err != nil {
		return store.Location{}, err
	}
	s.hub.InstanceChanged("")
	return loc, nil
}

// portFree refuses a listen port that another location uses. Any two
// locations count as one host: the embedded gateway serves every location
// from this machine, where two interfaces cannot share a UDP port, and for
// standalone gateways the server cannot know which host each runs on
// (endpoints may be names of one address, or sit behind NAT). A false
// refusal costs choosing another port; a missed one leaves a location whose
// gateway never comes up, or clients that reach the wrong location.
func portFree(ctx context.Context, q *store.Q, loc store.Location) error {
	locs, err := q.ListLocations(ctx)
	if err != nil {
		return err
	}
	used := map[int]bool{}
	var owner string
	for _, o := range locs {
		if o.ID == loc.ID {
			continue
		}
		used[o.ListenPort] = true
		if o.ListenPort == loc.ListenPort {
			owner = o.Name
		}
	}
	if owner == "" {
		return nil
	}
	free := DefaultListenPort
	for used[free] || free == loc.ListenPort {
		free++
	}
	return fieldErr("listen_port", "%d is already used by %s; pick a free port, such as %d, and use it in the endpoint too", loc.ListenPort, owner, free)
}

func describe(l store.Location) string {
	return fmt.Sprintf("address=%s port=%d endpoint=%s allowed_ips=%s mfa=%t methods=%s threshold=%ds groups=%s max_session=%ds",
		l.Address, l.ListenPort, l.Endpoint, strings.Join(l.AllowedIPs, ","), l.MFA, methodList(l), l.PeerDisconnectThresholdSeconds, strings.Join(l.AllowedGroups, ","), l.MaxSessionSeconds)
}

// UpdateLocation changes a location. Turning MFA on ends the location's
// sessions without pre-shared keys (its static peers leave the gateway);
// turning it off ends its MFA sessions (MFA_DISABLED) and every allowed
// device becomes a static peer. Changing the tunnel's shape (address, port,
// endpoint, allowed IPs) ends sessions too (LOCATION_CHANGED), since their
// clients hold the old settings. Narrowing the allowed groups ends the
// sessions of the users left out (ADMIN).
func (s *Service) UpdateLocation(ctx context.Context, a Actor, spec LocationSpec) (Location, error) {
	if !a.Admin {
		return Location{}, a.notAdmin()
	}
	l, err := s.updateLocation(ctx, a, spec)
	if err != nil {
		return Location{}, err
	}
	return locationOf(l), nil
}

func (s *Service) updateLocation(ctx context.Context, a Actor, spec LocationSpec) (store.Location, error) {
	var loc, old store.Location
	var ended []*session.Ended
	err := s.store.InTx(ctx, func(q *store.Q) error {
		ended = nil
		var err error
		old, err = q.LocationByID(ctx, spec.ID)
		if err != nil {
			return notFound("location", err)
		}
		loc = old
		if err := s.validate(spec, &loc); err != nil {
			return err
		}
		if err := portFree(ctx, q, loc); err != nil {
			return err
		}
		v, err := q.BumpConfigVersion(ctx)
		if err != nil {
			return err
		}
		loc.ConfigVersion = v
		if err := q.UpdateLocation(ctx, loc); err != nil {
			return err
		}
		reason := 0
		switch {
		case old.MFA && !loc.MFA:
			reason = session.ReasonMFADisabled
		case !old.MFA && loc.MFA:
			reason = session.ReasonLocationChanged
		case old.Address != loc.Address || old.ListenPort != loc.ListenPort || old.Endpoint != loc.Endpoint || !slices.Equal(old.AllowedIPs, loc.AllowedIPs):
			reason = session.ReasonLocationChanged
		}
		if reason != 0 {
			active, err := q.ListSessions(ctx, store.SessionFilter{LocationID: loc.ID, ActiveOnly: true})
			if err != nil {
				return err
			}
			for _, sess := range active {
				e, err := s.Sessions.EndIn(ctx, q, sess, reason, a.name())
				if err != nil {
					return err
				}
				ended = append(ended, e)
			}
		}
		if reason == 0 && !slices.Equal(old.AllowedMFAMethods, loc.AllowedMFAMethods) {
			// A session proved with a factor the location no longer accepts
			// ends: limiting a location to phishing-proof factors should not
			// wait for the weaker sessions to go idle.
			active, err := q.ListSessions(ctx, store.SessionFilter{LocationID: loc.ID, ActiveOnly: true})
			if err != nil {
				return err
			}
			for _, sess := range active {
				if sess.Method == 0 || allows(loc, mfa.Method(sess.Method)) {
					continue
				}
				e, err := s.Sessions.EndIn(ctx, q, sess, session.ReasonLocationChanged, a.name())
				if err != nil {
					return err
				}
				ended = append(ended, e)
			}
		}
		if !slices.Equal(old.AllowedGroups, loc.AllowedGroups) {
			// Sessions of users the groups no longer allow end now, as when a
			// user's own groups change; an MFA location's peers are its sessions.
			active, err := q.ListSessions(ctx, store.SessionFilter{LocationID: loc.ID, ActiveOnly: true})
			if err != nil {
				return err
			}
			for _, sess := range active {
				u, err := q.UserByID(ctx, sess.UserID)
				if err != nil && !errors.Is(err, store.ErrNotFound) {
					return err
				}
				if err == nil && session.Allowed(loc, u.Groups) {
					continue
				}
				e, err := s.Sessions.EndIn(ctx, q, sess, session.ReasonAdmin, a.name())
				if err != nil {
					return err
				}
				ended = append(ended, e)
			}
		}
		return s.audit(ctx, q, a, "location.updated", loc.Name, describe(loc))
	})
	if errors.Is(err, store.ErrConflict) {
		return store.Location{}, fieldErr("name", "a location named %q exists", spec.Name)
	}
	if err != nil {
		return store.Location{}, err
	}
	s.Sessions.Announce(ended...)
	s.Sessions.Publish(loc.ID)
	s.hub.InstanceChanged("")
	return loc, nil
}

// DeleteLocation removes a location, ending its sessions.
func (s *Service) DeleteLocation(ctx context.Context, a Actor, id string) error {
	if !a.Admin {
		return a.notAdmin()
	}
	loc, err := s.store.LocationByID(ctx, id)
	if err != nil {
		return notFound("location", err)
	}
	if _, err := s.Sessions.EndWhere(ctx, store.SessionFilter{LocationID: id}, session.ReasonLocationChanged, a.name()); err != nil {
		return err
	}
	err = s.store.InTx(ctx, func(q *store.Q) error {
		if err := q.DeleteLocation(ctx, id); err != nil {
			return notFound("location", err)
		}
		if _, err := q.BumpConfigVersion(ctx); err != nil {
			return err
		}
		return s.audit(ctx, q, a, "location.deleted", loc.Name, "")
	})
	if err != nil {
		return err
	}
	s.Sessions.Publish(id)
	s.hub.InstanceChanged("")
	return nil
}
