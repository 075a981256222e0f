package service

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/wicket-vpn/wicket/server/internal/fault"
	"github.com/wicket-vpn/wicket/server/internal/mfa"
	"github.com/wicket-vpn/wicket/server/internal/store"
	"github.com/wicket-vpn/wicket/shared/humantime"
)

// proof says which codes may prove a second factor in one attempt.
type proof struct {
	userID string
	// challenge is the hash of the challenge the code answers; "" for a
	// code that answers none (Login with totp_code, DisableTOTP).
	challenge string
	// totp: a code of the user's authenticator app counts.
	totp bool
	// pending: the authenticator app being set up (its pending secret)
	// instead of the enabled one.
	pending bool
	// email: the code mailed for the challenge counts.
	email bool
	// what names the attempt in the audit log ("login", "connect", …).
	what string
}

// errCodeUsed answers a right code whose challenge another request (or an
// earlier one) already spent: it is not a wrong code.
var errCodeUsed = fault.New(fault.Unauthenticated, "This code was already used.")

// replayed answers a TOTP code whose step was already used; the person's app
// still shows it, so the message says how long until the next one.
func replayed(now time.Time) error {
	next := time.Unix((mfa.Step(now)+1)*int64(mfa.Period/time.Second), 0)
	secs := max(1, int((next.Sub(now)+time.Second-1)/time.Second))
	return fault.New(fault.Unauthenticated, "This code was already used — wait for the next one (%d s).", secs)
}

// prove checks one code against p in a single transaction: the lockout
// check, the code's evaluation and the record of the outcome (a wrong try,
// a spent TOTP step and challenge) happen under the user's row lock, so no
// concurrency gets a sixth code evaluated in the lockout window, and a right
// code sent twice at once succeeds once. On success then runs in the same
// transaction with the factor that matched; its error undoes the attempt.
// The error returned is the one to show the person.
func (s *Service) prove(ctx context.Context, a Actor, p proof, code string, then func(q *store.Q, u store.User, m mfa.Method) error) (mfa.Method, error) {
	if err := checkCodeFormat(code); err != nil {
		return 0, err
	}
	now := s.clock.Now()
	var outcome error
	var method mfa.Method
	err := s.store.InTx(ctx, func(q *store.Q) error {
		outcome, method = nil, 0
		if err := q.LockUser(ctx, p.userID); err != nil {
			return notFound("user", err)
		}
		u, err := q.UserByID(ctx, p.userID)
		if err != nil {
			return notFound("user", err)
		}
		var c store.Challenge
		if p.challenge != "" {
			c, err = q.ChallengeByHash(ctx, p.challenge)
			if errors.Is(err, store.ErrNotFound) || (err == nil && !now.Before(c.ExpiresAt)) {
				outcome = errChallengeGone
				return nil
			}
			if err != nil {
				return err
			}
		}
		var step int64
		var totpOK bool
		if p.totp {
			sealed, aad := u.TOTPSecret, totpAAD(u.ID)
			if p.pending {
				sealed, aad = u.TOTPPending, totpPendingAAD(u.ID)
			}
			if sealed != "" && (p.pending || u.TOTPEnabled) {
				secret, err := s.openString(sealed, aad)
				if err != nil {
					return fmt.Errorf("open TOTP secret of %s: %w", u.Username, err)
				}
				step, totpOK = mfa.MatchTOTP(string(secret), code, now)
			}
		}
		emailOK := p.email && c.CodeHash != "" && mfa.CodeMatches(c.Hash, code, c.CodeHash)
		if p.challenge != "" && !c.UsedAt.IsZero() {
			// Spent: by a right code (maybe this one, sent twice) or by
			// too many wrong ones. A right code is told so, not counted.
			switch {
			case totpOK:
				used, err := q.TOTPStepUsed(ctx, u.ID, step)
				if err != nil {
					return err
				}
				outcome = errChallengeGone
				if used {
					outcome = replayed(now)
				}
			case emailOK:
				outcome = errCodeUsed
			default:
				outcome = errChallengeGone
			}
			return nil
		}
		fails, err := q.RecentMFAFailures(ctx, u.ID, now.Add(-mfa.LockoutWindow-mfa.LockoutDuration), mfa.LockoutFailures)
		if err != nil {
			return err
		}
		if until, locked := mfa.LockedUntil(fails, now); locked {
			outcome = fault.New(fault.Exhausted, "Too many wrong codes. Try again in %s.", humantime.Duration(until.Sub(now)))
			return s.audit(ctx, q, a, "mfa.refused", u.Username, "purpose="+p.what+" reason=locked_out")
		}
		switch {
		case totpOK:
			fresh, err := q.UseTOTPStep(ctx, u.ID, step, now)
			if err != nil {
				return err
			}
			// A setup's code is of a new secret: a step the old secret
			// spent is no replay of it (and a confirmed setup is over).
			if !fresh && !p.pending {
				outcome = replayed(now)
				return s.audit(ctx, q, a, "mfa.replayed", u.Username, "purpose="+p.what)
			}
			method = mfa.TOTP
		case emailOK:
			method = mfa.Email
		default:
			outcome, err = s.countWrong(ctx, q, a, u, c, p.what, now)
			return err
		}
		if p.challenge != "" {
			ok, err := q.UseChallenge(ctx, c.Hash, now)
			if err != nil {
				return err
			}
			if !ok {
				method, outcome = 0, errCodeUsed
				return nil
			}
		}
		// A success forgets the wrong codes that count; with none in the
		// window there is nothing to forget (older ones count for nothing
		// and are cleaned up with the expired records).
		if len(fails) > 0 {
			if err := q.ClearMFAFailures(ctx, u.ID); err != nil {
				return err
			}
		}
		if then != nil {
			return then(q, u, method)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return method, outcome
}

// countWrong records a wrong code against the user (and its challenge,
// which is spent after MaxTries) and returns the message to show.
func (s *Service) countWrong(ctx context.Context, q *store.Q, a Actor, u store.User, c store.Challenge, what string, now time.Time) (error, error) {
	left, err := s.recordWrong(ctx, q, a, u, c, what, "", now)
	if err != nil {
		return nil, err
	}
	return fault.New(fault.Unauthenticated, "Invalid code (%d %s left)", left, plural(left, "try", "tries")), nil
}

// recordWrong records a wrong answer (a code, a passkey's assertion)
// against the user and its challenge, as countWrong, and returns the tries
// left; why, when set, goes into the audit event.
func (s *Service) recordWrong(ctx context.Context, q *store.Q, a Actor, u store.User, c store.Challenge, what, why string, now time.Time) (int, error) {
	if err := q.RecordMFAFailure(ctx, u.ID, now); err != nil {
		return 0, err
	}
	n, _, err := q.MFAFailuresSince(ctx, u.ID, now.Add(-mfa.LockoutWindow))
	if err != nil {
		return 0, err
	}
	left := max(0, mfa.LockoutFailures-n)
	if c.Hash != "" {
		attempts, err := q.CountChallengeAttempt(ctx, c.Hash)
		if err != nil {
			return 0, err
		}
		left = min(left, max(0, mfa.MaxTries-attempts))
		if left == 0 {
			// The challenge is spent: a new one must be started (and the
			// lockout decides when).
			if _, err := q.UseChallenge(ctx, c.Hash, now); err != nil {
				return 0, err
			}
		}
	}
	detail := fmt.Sprintf("purpose=%s tries_left=%d", what, left)
	if c.Hash != "" {
		detail = fmt.Sprintf("method=%s purpose=%s location=%s tries_left=%d", methodName(mfa.Method(c.Method)), what, c.LocationID, left)
	}
	if why != "" {
		detail += " reason=" + why
	}
	if err := s.audit(ctx, q, a, "mfa.failed", u.Username, detail); err != nil {
		return 0, err
	}
	return left, nil
}
