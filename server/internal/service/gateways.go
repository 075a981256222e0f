package service

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/wicket-vpn/wicket/server/internal/fault"
	"github.com/wicket-vpn/wicket/server/internal/peers"
	"github.com/wicket-vpn/wicket/server/internal/session"
	"github.com/wicket-vpn/wicket/server/internal/store"
	"github.com/wicket-vpn/wicket/server/internal/token"
)

// Whoever holds a gateway token receives the location's private key and
// the pre-shared key of every session there. So tokens have names and
// expiry, admins list and revoke them, and revoking one ends the peer
// streams open with it at once.

// gatewayUseInterval bounds how often a token's last use is written.
const gatewayUseInterval = time.Minute

// NewGatewayToken is what an admin sets on a new gateway token.
type NewGatewayToken struct {
	LocationID string
	Name       string    // optional, for people: "office-gw-1"
	ExpiresAt  time.Time // zero: never
}

func errGatewayUnknown() error {
	return fault.New(fault.Unauthenticated, "The gateway token is missing or unknown; create one for the location on the Gateways page and start the gateway with it.")
}

func errGatewayRevoked() error {
	return fault.New(fault.Unauthenticated, "This gateway token was revoked; create a new one on the Gateways page.")
}

func errGatewayExpired(t store.GatewayToken) error {
	return fault.New(fault.Unauthenticated, "This gateway token expired on %s; create a new one on the Gateways page and start the gateway with it.", t.ExpiresAt.UTC().Format("2 Jan 2006 15:04 UTC"))
}

func describeGatewayToken(t store.GatewayToken) string {
	exp := "never"
	if !t.ExpiresAt.IsZero() {
		exp = t.ExpiresAt.UTC().Format(time.RFC3339)
	}
	return fmt.Sprintf("token=%s name=%q expires=%s", t.ID, t.Name, exp)
}

// CreateGatewayToken makes a token for a gateway of the location and
// returns it with its plain form, which is shown once and never stored.
func (s *Service) CreateGatewayToken(ctx context.Context, a Actor, n NewGatewayToken) (GatewayToken, string, error) {
	if !a.Admin {
		return GatewayToken{}, "", a.notAdmin()
	}
	name := strings.TrimSpace(n.Name)
	if len(name) > 64 {
		return GatewayToken{}, "", fieldErr("name", "at most 64 characters")
	}
	if err := checkName("name", name); err != nil {
		return GatewayToken{}, "", err
	}
	now := s.clock.Now()
	if !n.ExpiresAt.IsZero() && !n.ExpiresAt.After(now) {
		return GatewayToken{}, "", fieldErr("expires_at", "%s is not in the future; choose a later time, or none for a token that does not expire", n.ExpiresAt.UTC().Format(time.RFC3339))
	}
	loc, err := s.store.LocationByID(ctx, n.LocationID)
	if err != nil {
		return GatewayToken{}, "", notFound("location", err)
	}
	plain, hash, err := token.New(token.PrefixGateway)
	if err != nil {
		return GatewayToken{}, "", err
	}
	t := store.GatewayToken{ID: newID(), Hash: hexHash(hash), LocationID: loc.ID, Name: name, CreatedAt: now}
	if !n.ExpiresAt.IsZero() {
		t.ExpiresAt = time.UnixMilli(n.ExpiresAt.UnixMilli()).UTC() // as stored
	}
	err = s.store.InTx(ctx, func(q *store.Q) error {
		if err := q.CreateGatewayToken(ctx, t); err != nil {
			return err
		}
		return s.audit(ctx, q, a, "gateway_token.created", loc.Name, describeGatewayToken(t))
	})
	if err != nil {
		return GatewayToken{}, "", err
	}
	return gatewayTokenOf(t), plain, nil
}

// ListGatewayTokens returns the tokens of a location ("" for every
// location) that are not revoked, expired ones included.
func (s *Service) ListGatewayTokens(ctx context.Context, a Actor, locationID string) ([]GatewayToken, error) {
	if !a.Admin {
		return nil, a.notAdmin()
	}
	if locationID != "" {
		if _, err := s.store.LocationByID(ctx, locationID); err != nil {
			return nil, notFound("location", err)
		}
	}
	list, err := s.store.ListGatewayTokens(ctx, locationID)
	out := make([]GatewayToken, 0, len(list))
	for _, t := range list {
		out = append(out, gatewayTokenOf(t))
	}
	return out, err
}

// RevokeGatewayToken makes a token unusable and ends, at once, the peer
// streams of the gateways this process serves with it; a gateway on
// another replica is refused before its next change (see GatewayStream).
func (s *Service) RevokeGatewayToken(ctx context.Context, a Actor, id string) error {
	if !a.Admin {
		return a.notAdmin()
	}
	gone := fault.New(fault.NotFound, "gateway token not found; it may have been revoked already")
	err := s.store.InTx(ctx, func(q *store.Q) error {
		t, err := q.GatewayTokenByID(ctx, id)
		if errors.Is(err, store.ErrNotFound) || (err == nil && t.Revoked()) {
			return gone
		}
		if err != nil {
			return err
		}
		loc, err := q.LocationByID(ctx, t.LocationID)
		if err != nil {
			return notFound("location", err)
		}
		if err := q.RevokeGatewayToken(ctx, id, s.clock.Now()); err != nil {
			return notFound("gateway token", err)
		}
		return s.audit(ctx, q, a, "gateway_token.revoked", loc.Name, describeGatewayToken(t))
	})
	if err != nil {
		return err
	}
	s.gateways.drop(id, errGatewayRevoked())
	if s.fanout != nil {
		s.fanout.GatewayRevoked(id) // its gateway may follow another replica
	}
	return nil
}

// GatewayStreams reports how many peer streams this process serves with
// the token.
func (s *Service) GatewayStreams(tokenID string) int { return s.gateways.count(tokenID) }

// gatewayToken checks a gateway's token and records its use.
func (s *Service) gatewayToken(ctx context.Context, plain string) (store.GatewayToken, error) {
	if plain == "" {
		return store.GatewayToken{}, errGatewayUnknown()
	}
	return s.recheckGateway(ctx, hexHash(token.Hash(plain)))
}

// recheckGateway reads a token by its hash, refuses it when revoked or
// expired, and records its use.
func (s *Service) recheckGateway(ctx context.Context, hash string) (store.GatewayToken, error) {
	t, err := s.store.GatewayTokenByHash(ctx, hash)
	if errors.Is(err, store.ErrNotFound) {
		return t, errGatewayUnknown()
	}
	if err != nil {
		return t, err
	}
	now := s.clock.Now()
	switch {
	case t.Revoked():
		return t, errGatewayRevoked()
	case t.Expired(now):
		return t, errGatewayExpired(t)
	}
	if now.Sub(t.LastUsedAt) >= gatewayUseInterval {
		if err := s.store.TouchGatewayToken(ctx, t.ID, now, now.Add(-gatewayUseInterval)); err != nil {
			s.log.Warn("record a gateway token's use", "token", t.ID, "err", err)
		}
	}
	return t, nil
}

// GatewayLocation returns the location a gateway token serves.
func (s *Service) GatewayLocation(ctx context.Context, gatewayToken string) (Location, error) {
	t, err := s.gatewayToken(ctx, gatewayToken)
	if err != nil {
		return Location{}, err
	}
	l, err := s.store.LocationByID(ctx, t.LocationID)
	if errors.Is(err, store.ErrNotFound) {
		return Location{}, errGatewayUnknown()
	}
	return locationOf(l), err
}

// GatewayStream is a gateway's view of its location's peer set, for as long
// as its token stays valid.
type GatewayStream struct {
	Location Location

	s     *Service
	token store.GatewayToken
	sub   *session.PeerSub
	// ctx ends with an Unauthenticated cause when the token is revoked or
	// expires, ending a wait in Next.
	ctx    context.Context
	cancel context.CancelCauseFunc
	expiry *time.Timer
}

// FollowGateway authenticates a gateway and follows its location's peer
// set until ctx ends or the token is revoked or expires. Close it when done.
func (s *Service) FollowGateway(ctx context.Context, gatewayToken string) (*GatewayStream, error) {
	t, err := s.gatewayToken(ctx, gatewayToken)
	if err != nil {
		return nil, err
	}
	g := &GatewayStream{s: s, token: t}
	g.ctx, g.cancel = context.WithCancelCause(ctx)
	s.gateways.add(t.ID, g)
	// A revocation that committed after the check above found no stream to
	// end; now that one would, look again.
	if t, err = s.recheckGateway(ctx, t.Hash); err != nil {
		g.Close()
		return nil, err
	}
	loc, err := s.store.LocationByID(ctx, t.LocationID)
	if err != nil {
		g.Close()
		if errors.Is(err, store.ErrNotFound) {
			return nil, errGatewayUnknown()
		}
		return nil, err
	}
	g.Location = locationOf(loc)
	if !t.ExpiresAt.IsZero() {
		g.expiry = time.AfterFunc(t.ExpiresAt.Sub(s.clock.Now()), func() { g.cancel(errGatewayExpired(t)) })
	}
	g.sub = s.Sessions.FollowPeers(g.Location.ID)
	return g, nil
}

// Next waits for the peer set to change and returns the change; the first
// is a snapshot. It fails with session.ErrLocationDeleted when the location
// is gone, and with an Unauthenticated error once the token is revoked or
// expired.
func (g *GatewayStream) Next() (peers.Change, error) {
	ch, err := g.sub.Next(g.ctx)
	if err != nil {
		if cause := context.Cause(g.ctx); g.ctx.Err() != nil && fault.KindOf(cause) == fault.Unauthenticated {
			return peers.Change{}, cause
		}
		return peers.Change{}, err
	}
	// Every change hands over keys. A revocation on another replica, or an
	// expiry the timer has not seen yet, is found in the store: look first.
	if _, err := g.s.recheckGateway(g.ctx, g.token.Hash); err != nil {
		return peers.Change{}, err
	}
	return ch, nil
}

// Close stops following.
func (g *GatewayStream) Close() {
	if g.expiry != nil {
		g.expiry.Stop()
	}
	if g.sub != nil {
		g.sub.Close()
	}
	g.s.gateways.remove(g.token.ID, g)
	g.cancel(nil)
}

// gatewayStreams holds the open peer streams of this process by token id.
type gatewayStreams struct {
	mu sync.Mutex
	m  map[string]map[*GatewayStream]struct{}
}

func (r *gatewayStreams) add(id string, g *GatewayStream) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.m == nil {
		r.m = map[string]map[*GatewayStream]struct{}{}
	}
	if r.m[id] == nil {
		r.m[id] = map[*GatewayStream]struct{}{}
	}
	r.m[id][g] = struct{}{}
}

func (r *gatewayStreams) remove(id string, g *GatewayStream) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.m[id], g)
	if len(r.m[id]) == 0 {
		delete(r.m, id)
	}
}

func (r *gatewayStreams) count(id string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.m[id])
}

// drop ends every stream of the token with cause.
func (r *gatewayStreams) drop(id string, cause error) {
	r.mu.Lock()
	streams := make([]*GatewayStream, 0, len(r.m[id]))
	for g := range r.m[id] {
		streams = append(streams, g)
	}
	r.mu.Unlock()
	for _, g := range streams {
		g.cancel(cause)
	}
}
