package service

import (
	"context"
	"errors"
	"time"

	"github.com/wicket-vpn/wicket/server/internal/fault"
	"github.com/wicket-vpn/wicket/server/internal/mfa"
	"github.com/wicket-vpn/wicket/server/internal/password"
	"github.com/wicket-vpn/wicket/server/internal/store"
	"github.com/wicket-vpn/wicket/server/internal/token"
)

// StepUpWindow is how long a proved second factor lets a sign-in change the
// account's factors and make enrollment tokens.
const StepUpWindow = 10 * time.Minute

// SignIn is the outcome of a right password: a token, or (for an account
// with a second factor) a challenge to finish with one of Methods.
type SignIn struct {
	Token     string
	ExpiresAt time.Time
	Challenge string
	Methods   []mfa.Method
	// SentTo is the masked address a sign-in code went to, when one was
	// mailed.
	SentTo string
}

// ErrStepUp refuses a change of the account's security to a sign-in that
// has not proved a second factor recently.
var ErrStepUp error = &fault.Error{Kind: fault.PermissionDenied, Msg: "Confirm it's you: sign in again with your authenticator app or an emailed code."}

var errAdminNeedsFactor = fault.New(fault.FailedPrecondition, "Set up a second factor in your profile first: admins sign in with an authenticator app or emailed codes.")

var errBadPassword = fault.New(fault.Unauthenticated, "Wrong username or password.")

var dummyHash = func() string {
	h, _ := password.Hash(context.Background(), "wicket-timing-equaliser")
	return h
}()

// Login checks a password. An account without a second factor gets a token
// at once; one with a factor gets a sign-in challenge to finish with
// FinishLogin, unless totpCode proves the authenticator app in the same call.
func (s *Service) Login(ctx context.Context, username, pw, totpCode, remote string) (SignIn, error) {
	a := Actor{Username: username, Remote: remote}
	if username == "" || pw == "" {
		return SignIn{}, fault.New(fault.Invalid, "username and password: both are needed to sign in")
	}
	u, err := s.store.UserByUsername(ctx, username)
	if errors.Is(err, store.ErrNotFound) {
		// Spend the same time as a real check, so timing does not tell
		// which usernames exist; the throttle counts the try all the same.
		if _, err := s.verifyPassword(ctx, a, dummyHash, pw); err != nil {
			return SignIn{}, err
		}
		s.auditNow(ctx, a, "login.failed", username, "unknown user")
		return SignIn{}, errBadPassword
	}
	if err != nil {
		return SignIn{}, err
	}
	a.UserID = u.ID
	if err := s.checkLockout(ctx, u.ID); err != nil {
		s.auditNow(ctx, a, "login.failed", username, "locked out")
		return SignIn{}, err
	}
	ok, err := s.verifyPassword(ctx, a, u.PasswordHash, pw) // throttled: see throttle.go
	if err != nil {
		return SignIn{}, err
	}
	if !ok {
		// Wrong passwords do not count toward the lockout on codes: anyone
		// knowing a username could otherwise lock its owner out.
		s.auditNow(ctx, a, "login.failed", username, "wrong password")
		return SignIn{}, errBadPassword
	}
	methods := methodsOf(u)
	if len(methods) == 0 {
		var out SignIn
		err := s.store.InTx(ctx, func(q *store.Q) error {
			var err error
			out, err = s.issueToken(ctx, q, a, u, false, "")
			return err
		})
		return out, err
	}
	if totpCode != "" {
		if !u.TOTPEnabled {
			return SignIn{}, fault.New(fault.FailedPrecondition, "This account has no authenticator app; sign in without a code and finish with an emailed code.")
		}
		var out SignIn
		_, err := s.prove(ctx, a, proof{userID: u.ID, totp: true, what: "login"}, totpCode, func(q *store.Q, u store.User, m mfa.Method) error {
			var err error
			out, err = s.issueToken(ctx, q, a, u, true, "method="+methodName(m))
			return err
		})
		return out, err
	}
	c, plain, err := s.newSignInChallenge(ctx, u, "")
	if err != nil {
		return SignIn{}, err
	}
	if err := s.store.CreateChallenge(ctx, c); err != nil {
		return SignIn{}, err
	}
	s.auditNow(ctx, a, "login.password_accepted", username, "second factor needed")
	return SignIn{Challenge: plain, ExpiresAt: c.ExpiresAt, Methods: methods}, nil
}

func (s *Service) newSignInChallenge(ctx context.Context, u store.User, boundToken string) (store.Challenge, string, error) {
	plain, hash, err := token.New("wsc_")
	if err != nil {
		return store.Challenge{}, "", err
	}
	now := s.clock.Now()
	return store.Challenge{Hash: hexHash(hash), Purpose: store.PurposeLogin, UserID: u.ID, CreatedAt: now, ExpiresAt: now.Add(mfa.ChallengeTTL), BoundToken: boundToken}, plain, nil
}

// issueToken makes a bearer token, inside q's transaction.
func (s *Service) issueToken(ctx context.Context, q *store.Q, a Actor, u store.User, proved bool, detail string) (SignIn, error) {
	plain, hash, err := token.New("wst_")
	if err != nil {
		return SignIn{}, err
	}
	now := s.clock.Now()
	t := store.APIToken{Hash: hexHash(hash), UserID: u.ID, CreatedAt: now, ExpiresAt: now.Add(APITokenTTL)}
	if proved {
		t.ProvedAt = now
	}
	if err := q.CreateAPIToken(ctx, t); err != nil {
		return SignIn{}, err
	}
	if err := s.audit(ctx, q, a, "login.succeeded", u.Username, detail); err != nil {
		return SignIn{}, err
	}
	return SignIn{Token: plain, ExpiresAt: t.ExpiresAt}, nil
}

// signInChallenge loads a live sign-in (or step-up) challenge.
func (s *Service) signInChallenge(ctx context.Context, challenge string) (store.Challenge, store.User, error) {
	if challenge == "" {
		return store.Challenge{}, store.User{}, fault.New(fault.Invalid, "mfa_challenge: required")
	}
	c, err := s.store.ChallengeByHash(ctx, hexHash(token.Hash(challenge)))
	if errors.Is(err, store.ErrNotFound) || (err == nil && (c.Purpose != store.PurposeLogin || !s.clock.Now().Before(c.ExpiresAt))) {
		return c, store.User{}, errChallengeGone
	}
	if err != nil {
		return c, store.User{}, err
	}
	u, err := s.store.UserByID(ctx, c.UserID)
	if errors.Is(err, store.ErrNotFound) {
		return c, u, errChallengeGone
	}
	return c, u, err
}

// SendLoginCode mails a code for a sign-in or step-up challenge.
func (s *Service) SendLoginCode(ctx context.Context, challenge, remote string) (EmailSetup, error) {
	c, u, err := s.signInChallenge(ctx, challenge)
	if err != nil {
		return EmailSetup{}, err
	}
	if !c.UsedAt.IsZero() {
		return EmailSetup{}, errChallengeGone
	}
	if !u.EmailMFA {
		return EmailSetup{}, fault.New(fault.FailedPrecondition, "Email codes are not enabled for your account; use your authenticator app.")
	}
	settings, err := s.smtpSettings(ctx)
	if err != nil {
		return EmailSetup{}, err
	}
	if !settings.Configured() {
		return EmailSetup{}, errNoSMTP
	}
	if err := s.checkLockout(ctx, u.ID); err != nil {
		return EmailSetup{}, err
	}
	if err := s.mailCode(ctx, userOf(u), settings, &c, "Your "+s.cfg.InstanceName+" sign-in code"); err != nil {
		return EmailSetup{}, err
	}
	if err := s.store.SetChallengeCode(ctx, c.Hash, c.CodeHash); err != nil {
		return EmailSetup{}, err
	}
	s.auditNow(ctx, Actor{UserID: u.ID, Username: u.Username, Remote: remote}, "login.code_sent", u.Username, "")
	return EmailSetup{SentTo: maskAddress(u.Email), ExpiresAt: c.ExpiresAt}, nil
}

// FinishLogin proves the second factor of a sign-in challenge and gives the
// bearer token.
func (s *Service) FinishLogin(ctx context.Context, challenge, code, remote string) (SignIn, error) {
	c, u, err := s.signInChallenge(ctx, challenge)
	if err != nil {
		return SignIn{}, err
	}
	if c.BoundToken != "" {
		// A step-up challenge proves a factor for its own token only.
		return SignIn{}, errChallengeGone
	}
	a := Actor{UserID: u.ID, Username: u.Username, Remote: remote}
	var out SignIn
	_, err = s.prove(ctx, a, proof{userID: u.ID, challenge: c.Hash, totp: true, email: true, what: "login"}, code, func(q *store.Q, u store.User, m mfa.Method) error {
		var err error
		out, err = s.issueToken(ctx, q, a, u, true, "method="+methodName(m))
		return err
	})
	return out, err
}

// StartStepUp begins proving a second factor again for the signed-in token
// of a, so that it may change the account's factors.
func (s *Service) StartStepUp(ctx context.Context, a Actor) (SignIn, error) {
	u, err := s.store.UserByID(ctx, a.UserID)
	if err != nil {
		return SignIn{}, notFound("user", err)
	}
	methods := methodsOf(u)
	if len(methods) == 0 {
		return SignIn{}, fault.New(fault.FailedPrecondition, "Your account has no second factor to confirm.")
	}
	c, plain, err := s.newSignInChallenge(ctx, u, a.tokenHash)
	if err != nil {
		return SignIn{}, err
	}
	if err := s.store.CreateChallenge(ctx, c); err != nil {
		return SignIn{}, err
	}
	return SignIn{Challenge: plain, ExpiresAt: c.ExpiresAt, Methods: methods}, nil
}

// FinishStepUp proves a second factor for a's token with a step-up
// challenge of the same token.
func (s *Service) FinishStepUp(ctx context.Context, a Actor, challenge, code string) error {
	c, u, err := s.signInChallenge(ctx, challenge)
	if err != nil {
		return err
	}
	if c.BoundToken == "" || c.BoundToken != a.tokenHash || u.ID != a.UserID {
		return errChallengeGone
	}
	_, err = s.prove(ctx, a, proof{userID: u.ID, challenge: c.Hash, totp: true, email: true, what: "step_up"}, code, func(q *store.Q, u store.User, m mfa.Method) error {
		if err := q.SetTokenProved(ctx, a.tokenHash, s.clock.Now()); err != nil {
			return err
		}
		return s.audit(ctx, q, a, "login.stepped_up", u.Username, "method="+methodName(m))
	})
	return err
}

// requireProof lets a change the account's factors or make enrollment
// tokens only with a second factor proved within StepUpWindow; an account
// with none may add its first with a password sign-in.
func (s *Service) requireProof(a Actor, u store.User) error {
	if len(methodsOf(u)) == 0 {
		return nil
	}
	if !a.ProvedAt.IsZero() && s.clock.Now().Sub(a.ProvedAt) <= StepUpWindow {
		return nil
	}
	return ErrStepUp
}

// markProved records that a's token proved a factor now (a confirmed
// setup), inside q's transaction.
func (s *Service) markProved(ctx context.Context, q *store.Q, a Actor) error {
	if a.tokenHash == "" {
		return nil
	}
	err := q.SetTokenProved(ctx, a.tokenHash, s.clock.Now())
	if errors.Is(err, store.ErrNotFound) {
		return nil // signed out meanwhile
	}
	return err
}

// Logout revokes a bearer token.
func (s *Service) Logout(ctx context.Context, bearer string) error {
	return s.store.DeleteAPIToken(ctx, hexHash(token.Hash(bearer)))
}

// Authenticate returns the user a bearer token belongs to. An admin without
// a second factor, while admins must have one, is an actor who may only set
// one up.
func (s *Service) Authenticate(ctx context.Context, bearer, remote string) (Actor, User, error) {
	unauth := fault.New(fault.Unauthenticated, "Sign in first: the token is missing, expired or revoked.")
	if bearer == "" {
		return Actor{}, User{}, unauth
	}
	t, err := s.store.APITokenByHash(ctx, hexHash(token.Hash(bearer)))
	if errors.Is(err, store.ErrNotFound) || (err == nil && !s.clock.Now().Before(t.ExpiresAt)) {
		return Actor{}, User{}, unauth
	}
	if err != nil {
		return Actor{}, User{}, err
	}
	u, err := s.store.UserByID(ctx, t.UserID)
	if errors.Is(err, store.ErrNotFound) {
		return Actor{}, User{}, unauth
	}
	if err != nil {
		return Actor{}, User{}, err
	}
	a := Actor{UserID: u.ID, Username: u.Username, Admin: u.Admin, Remote: remote, ProvedAt: t.ProvedAt, tokenHash: t.Hash}
	if u.Admin && !s.cfg.AdminMFAOptional && len(methodsOf(u)) == 0 {
		a.Admin, a.NeedsFactor = false, true
	}
	return a, userOf(u), nil
}
