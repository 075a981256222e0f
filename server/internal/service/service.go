// Package service is Wicket's domain: accounts, locations, devices,
// per-connection MFA and the instance a device sees. It imports no
// generated code and no net/http; the API and web layers translate to it.
package service

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/wicket-vpn/wicket/server/internal/clock"
	"github.com/wicket-vpn/wicket/server/internal/fault"
	"github.com/wicket-vpn/wicket/server/internal/mail"
	"github.com/wicket-vpn/wicket/server/internal/notify"
	"github.com/wicket-vpn/wicket/server/internal/passkey"
	"github.com/wicket-vpn/wicket/server/internal/replica"
	"github.com/wicket-vpn/wicket/server/internal/seal"
	"github.com/wicket-vpn/wicket/server/internal/session"
	"github.com/wicket-vpn/wicket/server/internal/store"
)

// Config wires a Service.
type Config struct {
	Store  *store.Store
	Sealer *seal.Sealer
	Clock  clock.Clock
	Log    *slog.Logger
	Mailer mail.Mailer
	// URL is the server's address as clients reach it, "https://vpn.example.com:8443".
	URL string
	// Fingerprint is the hex SHA-256 of the server's TLS certificate, put in
	// enrollment codes so clients can pin a self-signed certificate.
	Fingerprint string
	// InstanceName is shown in clients; "Wicket" when empty.
	InstanceName string
	// MinThreshold is the smallest peer disconnect threshold accepted while
	// a location requires MFA; 120 s when zero.
	MinThreshold time.Duration
	// AdminMFAOptional lets admins without a second factor use admin
	// calls; by default an admin must set one up first.
	AdminMFAOptional bool
	// RequireGateway refuses new sessions (Unavailable) on a location that
	// no gateway follows in this process, instead of answering a session
	// that carries no traffic.
	RequireGateway bool
	// ApprovalPoll is how often a device waiting for a passkey approval
	// (AwaitMFA) looks at the store, for approvals made on another
	// replica; those on this one wake it at once. 1 s when zero.
	ApprovalPoll time.Duration
}

// Service is the domain.
type Service struct {
	cfg    Config
	store  *store.Store
	sealer *seal.Sealer
	clock  clock.Clock
	log    *slog.Logger
	mailer mail.Mailer
	hub    *notify.Hub
	// Sessions is the session manager. The gateway wiring follows peer
	// sets through it; everyone else asks the Service.
	Sessions *session.Manager

	instanceID string
	gateways   gatewayStreams // open peer streams, by gateway token id
	// fanout links this replica to the others of a PostgreSQL database;
	// nil on SQLite.
	fanout *replica.Fanout

	rpOnce    sync.Once
	rp        *passkey.RP // the relying party of passkeys; nil when rpErr says why not
	rpErr     error
	approvals approvalHub // AwaitMFA calls waiting on a passkey approval
	stats     statsCache  // the sessions gateways report on, by location
}

// New returns a service over an open store.
func New(ctx context.Context, cfg Config) (*Service, error) {
	if cfg.Clock == nil {
		cfg.Clock = clock.Real{}
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.InstanceName == "" {
		cfg.InstanceName = "Wicket"
	}
	if problem := nameProblem(cfg.InstanceName); problem != "" {
		return nil, fmt.Errorf("the instance name %q %s", cfg.InstanceName, problem)
	}
	if cfg.MinThreshold == 0 {
		cfg.MinThreshold = session.MinPeerDisconnectThreshold
	}
	if cfg.ApprovalPoll == 0 {
		cfg.ApprovalPoll = time.Second
	}
	if cfg.Mailer == nil {
		cfg.Mailer = &mail.Sender{}
	}
	hub := notify.NewHub()
	s := &Service{
		cfg: cfg, store: cfg.Store, sealer: cfg.Sealer, clock: cfg.Clock, log: cfg.Log, mailer: cfg.Mailer,
		hub:      hub,
		Sessions: session.NewManager(cfg.Store, cfg.Sealer, cfg.Clock, cfg.Log, hub),
	}
	if err := s.checkMasterKey(ctx); err != nil {
		return nil, err
	}
	id, err := s.store.InitMeta(ctx, "instance_id", newID())
	if err != nil {
		return nil, fmt.Errorf("read instance id: %w", err)
	}
	s.instanceID = id
	if s.store.Dialect() == store.Postgres {
		s.fanout = replica.New(s.store, hub, s.Sessions, s.log.With("component", "replicas"))
		s.fanout.OnGatewayRevoked(func(id string) { s.gateways.drop(id, errGatewayRevoked()) })
		s.fanout.OnChallengeDecided(s.approvals.notify)
		s.fanout.Start()
	}
	return s, nil
}

// Close stops telling other replicas of changes (after sending what is
// queued). It does not close the store.
func (s *Service) Close() {
	if s.fanout != nil {
		s.fanout.Close()
	}
}

// Fanout is the link to the other replicas, nil on SQLite.
func (s *Service) Fanout() *replica.Fanout { return s.fanout }

// masterKeyCheck is a value sealed under the master key that first opened
// the database, kept to tell at start whether this process's master key
// opens the database's secrets.
const masterKeyCheck = "master_key_check"

// checkMasterKey refuses a master key that cannot open the database's
// secrets: a replica given another key would hand out garbage.
func (s *Service) checkMasterKey(ctx context.Context) error {
	aad := []byte(masterKeyCheck)
	sealed, err := s.store.InitMeta(ctx, masterKeyCheck, s.sealString([]byte("wicket"), aad))
	if err != nil {
		return fmt.Errorf("read the master key check: %w", err)
	}
	_, err = s.openString(sealed, aad)
	if err == nil {
		// A database older than the check value has it sealed under
		// whatever key opened it first since; its locations' keys tell.
		var locs []store.Location
		if locs, err = s.store.ListLocations(ctx); err != nil {
			return fmt.Errorf("read locations: %w", err)
		}
		if len(locs) > 0 {
			_, err = s.openString(locs[0].PrivateKey, session.LocationKeyAAD(locs[0].ID))
		}
	}
	if err != nil {
		return errors.New("this master key cannot open the database's secrets: every replica of a database needs the same master key " +
			"(copy master.key from the first replica's data directory, or set the same WICKET_MASTER_KEY)")
	}
	return nil
}

// Now is the service's clock.
func (s *Service) Now() time.Time { return s.clock.Now() }

// Actor says who does something, for authorization and the audit log.
type Actor struct {
	UserID   string
	Username string
	Admin    bool
	Remote   string
	// ProvedAt is when the actor's sign-in last proved a second factor.
	ProvedAt time.Time
	// NeedsFactor marks an admin who must set up a second factor before
	// any admin call.
	NeedsFactor bool
	// tokenHash is the hash of the actor's bearer token, "" for the local
	// tools.
	tokenHash string
}

// notAdmin is the refusal of an admin call to a.
func (a Actor) notAdmin() error {
	if a.NeedsFactor {
		return errAdminNeedsFactor
	}
	return errAdminOnly
}

func (a Actor) name() string {
	if a.Username == "" {
		return "anonymous"
	}
	return a.Username
}

func (s *Service) audit(ctx context.Context, q *store.Q, a Actor, action, subject, detail string) error {
	return q.AddAuditEvent(ctx, store.AuditEvent{Time: s.clock.Now(), Actor: a.name(), Action: action, Subject: subject, Detail: detail, RemoteAddr: a.Remote})
}

// auditNow writes an audit event outside a transaction, logging failures.
func (s *Service) auditNow(ctx context.Context, a Actor, action, subject, detail string) {
	if err := s.audit(ctx, s.store.Q, a, action, subject, detail); err != nil {
		s.log.Error("write audit event", "action", action, "err", err)
	}
}

// ListAudit returns audit events, newest first.
func (s *Service) ListAudit(ctx context.Context, a Actor, f AuditFilter) ([]AuditEvent, error) {
	if !a.Admin {
		return nil, a.notAdmin()
	}
	if f.Limit > 500 {
		f.Limit = 500
	}
	list, err := s.store.ListAuditEvents(ctx, store.AuditFilter(f))
	out := make([]AuditEvent, 0, len(list))
	for _, e := range list {
		out = append(out, AuditEvent(e))
	}
	return out, err
}

// instanceChanged raises the configuration version and tells watchers of
// userID ("" for everyone).
func (s *Service) instanceChanged(ctx context.Context, userID string) {
	if _, err := s.store.BumpConfigVersion(ctx); err != nil {
		s.log.Error("raise config version", "err", err)
	}
	s.hub.InstanceChanged(userID)
}

func newID() string {
	b := make([]byte, 12)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return hex.EncodeToString(b)
}

func notFound(what string, err error) error {
	if errors.Is(err, store.ErrNotFound) {
		return fault.New(fault.NotFound, "%s not found", what)
	}
	return err
}

func (s *Service) sealString(plain []byte, aad []byte) string {
	return session.SealString(s.sealer, plain, aad)
}

func (s *Service) openString(sealed string, aad []byte) ([]byte, error) {
	return session.OpenString(s.sealer, sealed, aad)
}
