package service

import (
	"context"
	"time"

	"github.com/wicket-vpn/wicket/server/internal/notify"
)

// What the server itself reads: its health and metrics, the watches of its
// clients, and the locations its embedded gateway serves. None of it needs
// an actor: no request asks for it.

// Watch follows the instance for a device of a user: configuration
// changes and ended sessions. An empty deviceID watches for changes that
// concern everyone (new, changed and deleted locations). Close it when done.
func (s *Service) Watch(deviceID, userID string) *notify.Sub {
	return s.hub.Subscribe(deviceID, userID)
}

// Watchers reports how many clients watch their instance.
func (s *Service) Watchers() int { return s.hub.Watchers() }

// Followers reports how many gateways connected to this process follow the
// location's peer set.
func (s *Service) Followers(locationID string) int { return s.Sessions.Followers(locationID) }

// ActiveSessionCount returns how many sessions have not ended, on every
// replica.
func (s *Service) ActiveSessionCount(ctx context.Context) (int, error) {
	return s.store.CountActiveSessions(ctx)
}

// RunSweeper ends idle and over-long sessions, and clears out spent
// tokens and old wrong passwords, every interval until ctx ends. Every
// replica runs one; each session still ends once.
func (s *Service) RunSweeper(ctx context.Context, interval time.Duration) {
	s.Sessions.Run(ctx, interval)
}

// CheckReadable reads from the database, failing when it cannot.
func (s *Service) CheckReadable(ctx context.Context) error {
	_, err := s.store.ConfigVersion(ctx)
	return err
}

// CheckWritable saves to the database and reports why it could not; see
// store.Store.CheckWritable for why readiness writes.
func (s *Service) CheckWritable(ctx context.Context) error {
	return s.store.CheckWritable(ctx, s.clock.Now())
}

// Locations returns every location, for the embedded gateway that serves
// them all.
func (s *Service) Locations(ctx context.Context) ([]Location, error) {
	list, err := s.store.ListLocations(ctx)
	return locationsOf(list), err
}

// InstanceID names the instance: the same on every replica of a database.
func (s *Service) InstanceID() string { return s.instanceID }

// SignInKey is the key the web pages seal a half-finished sign-in with:
// derived from the master key, so any replica can finish a sign-in
// another began.
func (s *Service) SignInKey() []byte { return s.sealer.Derive("web sign-in") }

// PasskeyWaits reports how many devices wait on this replica for a
// passkey approval (AwaitMfa).
func (s *Service) PasskeyWaits() int { return s.approvals.count() }
