package service

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/wicket-vpn/wicket/server/internal/fault"
	"github.com/wicket-vpn/wicket/server/internal/mfa"
	"github.com/wicket-vpn/wicket/server/internal/passkey"
	"github.com/wicket-vpn/wicket/server/internal/session"
	"github.com/wicket-vpn/wicket/server/internal/store"
	"github.com/wicket-vpn/wicket/server/internal/token"
	"github.com/wicket-vpn/wicket/shared/humantime"
	"github.com/wicket-vpn/wicket/shared/wgkey"
)

// PasskeyApprovalPath is the web page where a person confirms a
// connection with a passkey; StartMFA's BrowserURL points there with the
// challenge token as the query parameter "challenge".
const PasskeyApprovalPath = "/connect/passkey"

// maxPasskeys bounds how many passkeys one account keeps.
const maxPasskeys = 20

// Passkey is one of a user's passkeys or security keys.
type Passkey struct {
	ID         string
	Name       string
	CreatedAt  time.Time
	LastUsedAt time.Time // zero until first used
}

func passkeyOf(p store.Passkey) Passkey {
	return Passkey{ID: p.ID, Name: p.Name, CreatedAt: p.CreatedAt, LastUsedAt: p.LastUsedAt}
}

var errNoPasskeys = fault.New(fault.FailedPrecondition, "Passkeys are not enabled for your account. Add one in your profile first.")

// relyingParty is the server as passkeys know it, or why it cannot be one.
func (s *Service) relyingParty() (*passkey.RP, error) {
	s.rpOnce.Do(func() {
		s.rp, s.rpErr = passkey.New(s.cfg.URL, s.cfg.InstanceName)
		if s.rpErr != nil {
			s.log.Warn("passkeys are unavailable", "url", s.cfg.URL, "err", s.rpErr)
		}
	})
	if errors.Is(s.rpErr, passkey.ErrNoHostName) {
		return nil, fault.New(fault.FailedPrecondition, "Passkeys are unavailable: the server's address %s is an IP address, and browsers bind passkeys to a host name. Ask your admin to serve Wicket under a host name (wicketd serve --public-url).", s.cfg.URL)
	}
	if s.rpErr != nil {
		return nil, fault.New(fault.FailedPrecondition, "Passkeys are unavailable: the server's address %q is not a URL passkeys can use. Ask your admin to check wicketd serve --public-url.", s.cfg.URL)
	}
	return s.rp, nil
}

// passkeyUser is u with their passkeys, as the relying party needs them.
func passkeyUser(u store.User, keys []store.Passkey) passkey.User {
	pu := passkey.User{ID: u.ID, Name: u.Username}
	for _, k := range keys {
		pu.Keys = append(pu.Keys, passkey.Key{ID: k.ID, CredentialID: k.CredentialID, PublicKey: k.PublicKey, SignCount: k.SignCount,
			AAGUID: k.AAGUID, BackupEligible: k.BackupEligible, Transports: k.Transports})
	}
	return pu
}

// BeginPasskeySetup starts adding a passkey: the options for the browser
// (navigator.credentials.create), as JSON. Like every change of factors it
// needs a recently proved one, unless the account has none yet.
func (s *Service) BeginPasskeySetup(ctx context.Context, a Actor) (string, error) {
	rp, err := s.relyingParty()
	if err != nil {
		return "", err
	}
	u, err := s.store.UserByID(ctx, a.UserID)
	if err != nil {
		return "", notFound("user", err)
	}
	if err := s.requireProof(a, u); err != nil {
		return "", err
	}
	keys, err := s.store.PasskeysOfUser(ctx, u.ID)
	if err != nil {
		return "", err
	}
	if len(keys) >= maxPasskeys {
		return "", fault.New(fault.FailedPrecondition, "Your account has %d passkeys, the most it can keep; remove one you no longer use first.", len(keys))
	}
	options, ceremony, key, err := rp.BeginRegistration(passkeyUser(u, keys))
	if err != nil {
		return "", err
	}
	now := s.clock.Now()
	// Keyed by its WebAuthn challenge: the browser's answer names it, so
	// setups started in two tabs each finish with their own.
	c := store.Challenge{Hash: key, Purpose: store.PurposePasskeySetup, UserID: u.ID, Method: int(mfa.WebAuthn), CreatedAt: now,
		ExpiresAt: now.Add(mfa.ChallengeTTL), BoundToken: a.tokenHash, RemoteAddr: a.Remote, Ceremony: ceremony}
	if err := s.store.CreateChallenge(ctx, c); err != nil {
		return "", err
	}
	s.auditNow(ctx, a, "mfa.passkey_setup_started", u.Username, "")
	return options, nil
}

var errSetupGone = fault.New(fault.FailedPrecondition, "Start adding the passkey again: this setup expired, was finished already or was started from another sign-in.")

// FinishPasskeySetup stores the passkey the browser made (its
// PublicKeyCredential as JSON) for the options of BeginPasskeySetup. An
// empty name gets one. Adding it counts as proving a factor for the
// actor's sign-in, as a confirmed authenticator app does.
func (s *Service) FinishPasskeySetup(ctx context.Context, a Actor, name, credentialJSON string) (Passkey, error) {
	name = strings.TrimSpace(name)
	if len([]rune(name)) > 64 {
		return Passkey{}, fault.New(fault.Invalid, "name: at most 64 characters")
	}
	if err := checkName("name", name); err != nil {
		return Passkey{}, err
	}
	if credentialJSON == "" {
		return Passkey{}, fault.New(fault.Invalid, "credential_json: required: the PublicKeyCredential the browser made, as JSON")
	}
	rp, err := s.relyingParty()
	if err != nil {
		return Passkey{}, err
	}
	u, err := s.store.UserByID(ctx, a.UserID)
	if err != nil {
		return Passkey{}, notFound("user", err)
	}
	if err := s.requireProof(a, u); err != nil {
		return Passkey{}, err
	}
	setupKey, err := passkey.RegistrationKey([]byte(credentialJSON))
	if err != nil {
		return Passkey{}, fault.New(fault.Invalid, "credential_json: not a new passkey from a browser (%v)", err)
	}
	c, err := s.store.ChallengeByHash(ctx, setupKey)
	if errors.Is(err, store.ErrNotFound) || (err == nil && (c.Purpose != store.PurposePasskeySetup || c.UserID != u.ID ||
		!s.clock.Now().Before(c.ExpiresAt) || c.BoundToken != a.tokenHash)) {
		return Passkey{}, errSetupGone
	}
	if err != nil {
		return Passkey{}, err
	}
	keys, err := s.store.PasskeysOfUser(ctx, u.ID)
	if err != nil {
		return Passkey{}, err
	}
	key, err := rp.FinishRegistration(passkeyUser(u, keys), c.Ceremony, []byte(credentialJSON))
	if err != nil {
		s.auditNow(ctx, a, "mfa.passkey_setup_failed", u.Username, err.Error())
		return Passkey{}, fault.New(fault.Invalid, "credential_json: the browser's new passkey does not verify (%v); add it again from this server's own address, %s.", err, rp.Origin)
	}
	if name == "" {
		name = fmt.Sprintf("Passkey %d", len(keys)+1)
	}
	now := s.clock.Now()
	p := store.Passkey{ID: newID(), UserID: u.ID, Name: name, CredentialID: key.CredentialID, PublicKey: key.PublicKey, SignCount: key.SignCount,
		AAGUID: key.AAGUID, BackupEligible: key.BackupEligible, Transports: key.Transports, CreatedAt: now}
	err = s.store.InTx(ctx, func(q *store.Q) error {
		ok, err := q.UseChallenge(ctx, c.Hash, now)
		if err != nil {
			return err
		}
		if !ok {
			return errSetupGone
		}
		if err := q.CreatePasskey(ctx, p); err != nil {
			if errors.Is(err, store.ErrConflict) {
				return fault.New(fault.Conflict, "This passkey is already registered.")
			}
			return err
		}
		if err := s.markProved(ctx, q, a); err != nil {
			return err
		}
		return s.audit(ctx, q, a, "mfa.passkey_added", u.Username, fmt.Sprintf("passkey=%s name=%q", p.ID, p.Name))
	})
	if err != nil {
		return Passkey{}, err
	}
	s.instanceChanged(ctx, u.ID)
	return passkeyOf(p), nil
}

// ListPasskeys returns the actor's passkeys, oldest first.
func (s *Service) ListPasskeys(ctx context.Context, a Actor) ([]Passkey, error) {
	list, err := s.store.PasskeysOfUser(ctx, a.UserID)
	out := make([]Passkey, 0, len(list))
	for _, p := range list {
		out = append(out, passkeyOf(p))
	}
	return out, err
}

// DeletePasskey removes one of the actor's passkeys; it needs a recently
// proved factor.
func (s *Service) DeletePasskey(ctx context.Context, a Actor, id string) error {
	if id == "" {
		return fault.New(fault.Invalid, "id: required")
	}
	u, err := s.store.UserByID(ctx, a.UserID)
	if err != nil {
		return notFound("user", err)
	}
	keys, err := s.store.PasskeysOfUser(ctx, u.ID)
	if err != nil {
		return err
	}
	var name string
	for _, k := range keys {
		if k.ID == id {
			name = k.Name
		}
	}
	if name == "" {
		return fault.New(fault.NotFound, "There is no such passkey among yours; it may have been removed.")
	}
	if err := s.requireProof(a, u); err != nil {
		return err
	}
	err = s.store.InTx(ctx, func(q *store.Q) error {
		if err := q.DeletePasskey(ctx, u.ID, id); err != nil {
			return notFound("passkey", err)
		}
		return s.audit(ctx, q, a, "mfa.passkey_removed", u.Username, fmt.Sprintf("passkey=%s name=%q", id, name))
	})
	if err != nil {
		return err
	}
	s.instanceChanged(ctx, u.ID)
	return nil
}

// passkeyProof says what one passkey assertion may prove.
type passkeyProof struct {
	userID string
	// challenge is the hash of the challenge the assertion answers.
	challenge string
	// bind gives the WebAuthn challenge the assertion must have signed.
	bind func(c store.Challenge) []byte
	// approve: a connection's challenge, marked approved for the device
	// to take; otherwise the challenge is used up by the proof.
	approve bool
	what    string
}

var errApprovalDecided = fault.New(fault.FailedPrecondition, "This connection was already approved or refused; to connect again, start over in Wicket.")

// provePasskey checks one assertion as prove checks one code: the lockout
// check, the verification and the record of the outcome happen in one
// transaction under the user's row lock, so no concurrency gets past the
// lockout and one challenge is approved once. On success then runs in the
// same transaction; its error undoes the attempt. The error returned is
// the one to show the person.
func (s *Service) provePasskey(ctx context.Context, a Actor, p passkeyProof, assertion string, then func(q *store.Q, u store.User, key store.Passkey) error) error {
	rp, err := s.relyingParty()
	if err != nil {
		return err
	}
	if assertion == "" {
		return fault.New(fault.Invalid, "credential: required: the passkey's answer from the browser")
	}
	gone := errChallengeGone
	if p.approve {
		gone = errApprovalGone
	}
	now := s.clock.Now()
	var outcome error
	err = s.store.InTx(ctx, func(q *store.Q) error {
		outcome = nil
		if err := q.LockUser(ctx, p.userID); err != nil {
			return notFound("user", err)
		}
		u, err := q.UserByID(ctx, p.userID)
		if err != nil {
			return notFound("user", err)
		}
		c, err := q.ChallengeByHash(ctx, p.challenge)
		if errors.Is(err, store.ErrNotFound) || (err == nil && !now.Before(c.ExpiresAt)) {
			outcome = gone
			return nil
		}
		if err != nil {
			return err
		}
		if !c.UsedAt.IsZero() || !c.ApprovedAt.IsZero() || !c.RefusedAt.IsZero() {
			outcome = gone
			if p.approve {
				outcome = errApprovalDecided
			}
			return s.audit(ctx, q, a, "mfa.refused", u.Username, "method=webauthn purpose="+p.what+" reason=challenge_used")
		}
		fails, err := q.RecentMFAFailures(ctx, u.ID, now.Add(-mfa.LockoutWindow-mfa.LockoutDuration), mfa.LockoutFailures)
		if err != nil {
			return err
		}
		if until, locked := mfa.LockedUntil(fails, now); locked {
			outcome = fault.New(fault.Exhausted, "Too many failed tries. Try again in %s.", humantime.Duration(until.Sub(now)))
			return s.audit(ctx, q, a, "mfa.refused", u.Username, "method=webauthn purpose="+p.what+" reason=locked_out")
		}
		keys, err := q.PasskeysOfUser(ctx, u.ID)
		if err != nil {
			return err
		}
		if len(keys) == 0 {
			outcome = errNoPasskeys
			return nil
		}
		use, verr := rp.VerifyAssertion(passkeyUser(u, keys), p.bind(c), []byte(assertion))
		if verr != nil {
			left, err := s.recordWrong(ctx, q, a, u, c, p.what, strings.ReplaceAll(verr.Error(), " ", "_"), now)
			if err != nil {
				return err
			}
			outcome = fault.New(fault.Unauthenticated, "Your passkey's answer was not accepted for this request (%d %s left). Use a passkey of your own account, on the page Wicket opened.", left, plural(left, "try", "tries"))
			return nil
		}
		var key store.Passkey
		for _, k := range keys {
			if k.ID == use.KeyID {
				key = k
			}
		}
		if use.Cloned {
			outcome = fault.New(fault.PermissionDenied, "The passkey %q answered with a counter lower than before, so a copy of it may exist. Remove it in your profile and add it again.", key.Name)
			return s.audit(ctx, q, a, "mfa.refused", u.Username, fmt.Sprintf("method=webauthn purpose=%s reason=counter_went_back passkey=%s", p.what, key.ID))
		}
		var ok bool
		if p.approve {
			ok, err = q.DecideChallenge(ctx, c.Hash, true, now)
		} else {
			ok, err = q.UseChallenge(ctx, c.Hash, now)
		}
		if err != nil {
			return err
		}
		if !ok {
			outcome = gone
			if p.approve {
				outcome = errApprovalDecided
			}
			return nil
		}
		if err := q.UsePasskey(ctx, key.ID, use.SignCount, now); err != nil {
			return err
		}
		if err := q.ClearMFAFailures(ctx, u.ID); err != nil {
			return err
		}
		if then != nil {
			return then(q, u, key)
		}
		return nil
	})
	if err != nil {
		return err
	}
	return outcome
}

// Approval is what the approval page shows of a connection waiting for a
// passkey.
type Approval struct {
	Username     string
	DeviceName   string
	LocationName string
	// RemoteAddr is where the device asked from.
	RemoteAddr  string
	RequestedAt time.Time
	ExpiresAt   time.Time
	// Options are for navigator.credentials.get, as JSON.
	Options string
	// Origin is the only address the ceremony works at.
	Origin string
}

var errApprovalGone = fault.New(fault.Unauthenticated, "This request to connect expired or is not valid. Connect again in Wicket to get a new one.")

// connectChallenge loads the live passkey challenge of a connection, by
// its token, with its device, user and location.
func (s *Service) connectChallenge(ctx context.Context, challengeToken string) (store.Challenge, store.Device, store.User, store.Location, error) {
	var (
		dev store.Device
		u   store.User
		l   store.Location
	)
	if challengeToken == "" {
		return store.Challenge{}, dev, u, l, fault.New(fault.Invalid, "challenge_token: required")
	}
	c, err := s.store.ChallengeByHash(ctx, hexHash(token.Hash(challengeToken)))
	if errors.Is(err, store.ErrNotFound) || (err == nil && (c.Purpose != store.PurposeConnect || mfa.Method(c.Method) != mfa.WebAuthn)) {
		return c, dev, u, l, errApprovalGone
	}
	if err != nil {
		return c, dev, u, l, err
	}
	if dev, err = s.store.DeviceByID(ctx, c.DeviceID); err != nil {
		return c, dev, u, l, errApprovalGone
	}
	if u, err = s.store.UserByID(ctx, c.UserID); err != nil {
		return c, dev, u, l, errApprovalGone
	}
	if l, err = s.store.LocationByID(ctx, c.LocationID); err != nil {
		return c, dev, u, l, errApprovalGone
	}
	return c, dev, u, l, nil
}

// PasskeyApproval describes a connection waiting to be confirmed with a
// passkey, for the page at BrowserURL. The token is the capability: the
// page needs no sign-in, and only a passkey of the device's user can
// approve it. A decided or expired request is an error saying so.
func (s *Service) PasskeyApproval(ctx context.Context, challengeToken string) (Approval, error) {
	rp, err := s.relyingParty()
	if err != nil {
		return Approval{}, err
	}
	c, dev, u, l, err := s.connectChallenge(ctx, challengeToken)
	if err != nil {
		return Approval{}, err
	}
	switch {
	case !c.ApprovedAt.IsZero():
		return Approval{}, fault.New(fault.FailedPrecondition, "This connection is approved already. You can close this page.")
	case !c.RefusedAt.IsZero():
		return Approval{}, fault.New(fault.FailedPrecondition, "This connection was refused. You can close this page.")
	case !c.UsedAt.IsZero() || !s.clock.Now().Before(c.ExpiresAt):
		return Approval{}, errApprovalGone
	}
	keys, err := s.store.PasskeysOfUser(ctx, u.ID)
	if err != nil {
		return Approval{}, err
	}
	if len(keys) == 0 {
		return Approval{}, errNoPasskeys
	}
	opts, err := rp.AssertionOptions(passkeyUser(u, keys), passkey.ConnectChallenge(c.Hash, dev.PublicKey, l.ID))
	if err != nil {
		return Approval{}, err
	}
	return Approval{Username: u.Username, DeviceName: dev.Name, LocationName: l.Name, RemoteAddr: c.RemoteAddr, RequestedAt: c.CreatedAt,
		ExpiresAt: c.ExpiresAt, Options: opts, Origin: rp.Origin}, nil
}

// ApprovePasskey approves a connection with the browser's assertion (its
// JSON): one of the user's passkeys signed the challenge of exactly this
// connection. The device waiting in AwaitMFA then gets its session.
func (s *Service) ApprovePasskey(ctx context.Context, challengeToken, assertion, remote string) error {
	c, dev, u, l, err := s.connectChallenge(ctx, challengeToken)
	if err != nil {
		return err
	}
	a := Actor{UserID: u.ID, Username: u.Username, Remote: remote}
	p := passkeyProof{userID: u.ID, challenge: c.Hash, approve: true, what: store.PurposeConnect,
		bind: func(c store.Challenge) []byte { return passkey.ConnectChallenge(c.Hash, dev.PublicKey, c.LocationID) }}
	err = s.provePasskey(ctx, a, p, assertion, func(q *store.Q, u store.User, key store.Passkey) error {
		return s.audit(ctx, q, a, "mfa.succeeded", u.Username, fmt.Sprintf("method=webauthn location=%s device=%s passkey=%s asked_from=%s", l.Name, dev.Name, key.ID, c.RemoteAddr))
	})
	s.decided(c.Hash)
	return err
}

// RefusePasskey refuses a connection from its approval page: the device
// waiting in AwaitMFA is told so.
func (s *Service) RefusePasskey(ctx context.Context, challengeToken, remote string) error {
	c, dev, u, l, err := s.connectChallenge(ctx, challengeToken)
	if err != nil {
		return err
	}
	ok, err := s.store.DecideChallenge(ctx, c.Hash, false, s.clock.Now())
	if err != nil {
		return err
	}
	if !ok {
		return errApprovalDecided
	}
	s.auditNow(ctx, Actor{UserID: u.ID, Username: u.Username, Remote: remote}, "mfa.refused", u.Username,
		fmt.Sprintf("method=webauthn location=%s device=%s reason=refused_in_browser", l.Name, dev.Name))
	s.decided(c.Hash)
	return nil
}

// decided wakes the AwaitMFA calls waiting on a challenge, here and on
// the other replicas (which would otherwise see it at their next look at
// the store).
func (s *Service) decided(hash string) {
	s.approvals.notify(hash)
	if s.fanout != nil {
		s.fanout.ChallengeDecided(hash)
	}
}

var errRefused = fault.New(fault.PermissionDenied, "The connection was refused on the passkey page. Connect again to start over.")

// AwaitMFA waits until the approval page approves a passkey challenge and
// then opens the session as FinishMFA does. It answers an error when the
// challenge is refused, expires or ends, or when ctx ends.
func (s *Service) AwaitMFA(ctx context.Context, challengeToken, remote string) (Opened, error) {
	if challengeToken == "" {
		return Opened{}, fault.New(fault.Invalid, "challenge_token: required")
	}
	hash := hexHash(token.Hash(challengeToken))
	for {
		// Subscribed before the state is read, so an approval between the
		// read and the wait still wakes it.
		wake, cancel := s.approvals.subscribe(hash)
		c, err := s.store.ChallengeByHash(ctx, hash)
		if errors.Is(err, store.ErrNotFound) || (err == nil && c.Purpose != store.PurposeConnect) {
			err = errChallengeGone
		} else if err == nil && mfa.Method(c.Method) != mfa.WebAuthn {
			err = fault.New(fault.FailedPrecondition, "This challenge is answered with a code: send it with FinishMfa.")
		}
		now := s.clock.Now()
		switch {
		case err != nil:
		case !c.RefusedAt.IsZero():
			err = errRefused
		case !c.UsedAt.IsZero():
			err = errChallengeGone
		case !c.ApprovedAt.IsZero():
			cancel()
			return s.openApproved(ctx, c, remote)
		case !now.Before(c.ExpiresAt):
			err = errChallengeGone
		}
		if err != nil {
			cancel()
			return Opened{}, err
		}
		// Approvals on this server wake the wait at once; one on another
		// replica is seen by the next look at the store.
		t := time.NewTimer(min(s.cfg.ApprovalPoll, c.ExpiresAt.Sub(now)))
		select {
		case <-wake:
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			cancel()
			return Opened{}, ctx.Err()
		}
		t.Stop()
		cancel()
	}
}

// openApproved opens the session of an approved connection challenge,
// spending it, as FinishMFA does after a right code.
func (s *Service) openApproved(ctx context.Context, c store.Challenge, remote string) (Opened, error) {
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
	l, addr, err := s.usableLocation(ctx, d, c.LocationID)
	if err != nil {
		return Opened{}, err
	}
	if !l.MFA {
		return Opened{}, fault.New(fault.FailedPrecondition, "%s no longer asks for MFA; connect with Connect.", l.Name)
	}
	// The approval stays unspent while no gateway could take the peer,
	// so the device may wait again.
	if err := s.gatewayOnline(l); err != nil {
		return Opened{}, err
	}
	psk, err := wgkey.NewPreshared()
	if err != nil {
		return Opened{}, err
	}
	var sess store.Session
	var replaced *session.Ended
	err = s.store.InTx(ctx, func(q *store.Q) error {
		ok, err := q.UseChallenge(ctx, c.Hash, s.clock.Now())
		if err != nil {
			return err
		}
		if !ok {
			return errChallengeGone
		}
		sess, replaced, err = s.openSession(ctx, q, d, l, c.Method, psk[:], a)
		return err
	})
	if err != nil {
		return Opened{}, err
	}
	return s.opened(ctx, l, d, addr, sess, replaced, psk), nil
}

// SignInPasskeyOptions returns the options for navigator.credentials.get
// that finish a sign-in (or step-up) challenge with a passkey, as JSON.
func (s *Service) SignInPasskeyOptions(ctx context.Context, challenge string) (string, error) {
	rp, err := s.relyingParty()
	if err != nil {
		return "", err
	}
	c, u, err := s.signInChallenge(ctx, challenge)
	if err != nil {
		return "", err
	}
	if !c.UsedAt.IsZero() {
		return "", errChallengeGone
	}
	keys, err := s.store.PasskeysOfUser(ctx, u.ID)
	if err != nil {
		return "", err
	}
	if len(keys) == 0 {
		return "", errNoPasskeys
	}
	return rp.AssertionOptions(passkeyUser(u, keys), passkey.SignInChallenge(c.Hash))
}

func signInBinding(c store.Challenge) []byte { return passkey.SignInChallenge(c.Hash) }

// FinishLoginPasskey proves a sign-in challenge with a passkey's assertion
// (its JSON) and gives the bearer token.
func (s *Service) FinishLoginPasskey(ctx context.Context, challenge, assertion, remote string) (SignIn, error) {
	c, u, err := s.signInChallenge(ctx, challenge)
	if err != nil {
		return SignIn{}, err
	}
	if c.BoundToken != "" {
		return SignIn{}, errChallengeGone
	}
	a := Actor{UserID: u.ID, Username: u.Username, Remote: remote}
	var out SignIn
	err = s.provePasskey(ctx, a, passkeyProof{userID: u.ID, challenge: c.Hash, bind: signInBinding, what: "login"}, assertion, func(q *store.Q, u store.User, key store.Passkey) error {
		var err error
		out, err = s.issueToken(ctx, q, a, u, true, "method=webauthn passkey="+key.ID)
		return err
	})
	return out, err
}

// FinishStepUpPasskey proves a factor for a's token with a passkey's
// assertion for a step-up challenge of the same token.
func (s *Service) FinishStepUpPasskey(ctx context.Context, a Actor, challenge, assertion string) error {
	c, u, err := s.signInChallenge(ctx, challenge)
	if err != nil {
		return err
	}
	if c.BoundToken == "" || c.BoundToken != a.tokenHash || u.ID != a.UserID {
		return errChallengeGone
	}
	return s.provePasskey(ctx, a, passkeyProof{userID: u.ID, challenge: c.Hash, bind: signInBinding, what: "step_up"}, assertion, func(q *store.Q, u store.User, key store.Passkey) error {
		if err := q.SetTokenProved(ctx, a.tokenHash, s.clock.Now()); err != nil {
			return err
		}
		return s.audit(ctx, q, a, "login.stepped_up", u.Username, "method=webauthn passkey="+key.ID)
	})
}

// browserURL is the approval page of a connection challenge.
func (s *Service) browserURL(challengeToken string) string {
	return strings.TrimRight(s.cfg.URL, "/") + PasskeyApprovalPath + "?challenge=" + url.QueryEscape(challengeToken)
}

// approvalHub wakes the AwaitMFA calls of this process waiting on a
// challenge when it is decided.
type approvalHub struct {
	mu      sync.Mutex
	waiters map[string]map[chan struct{}]struct{}
}

func (h *approvalHub) subscribe(hash string) (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.waiters == nil {
		h.waiters = map[string]map[chan struct{}]struct{}{}
	}
	if h.waiters[hash] == nil {
		h.waiters[hash] = map[chan struct{}]struct{}{}
	}
	h.waiters[hash][ch] = struct{}{}
	return ch, func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		delete(h.waiters[hash], ch)
		if len(h.waiters[hash]) == 0 {
			delete(h.waiters, hash)
		}
	}
}

func (h *approvalHub) notify(hash string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for ch := range h.waiters[hash] {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

// PasskeysAvailable says why this server cannot use passkeys, or nil.
func (s *Service) PasskeysAvailable() error {
	_, err := s.relyingParty()
	return err
}

// count is how many waits there are.
func (h *approvalHub) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, set := range h.waiters {
		n += len(set)
	}
	return n
}
