package service

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/netip"
	"time"

	"github.com/wicket-vpn/wicket/server/internal/fault"
	"github.com/wicket-vpn/wicket/server/internal/password"
	"github.com/wicket-vpn/wicket/server/internal/store"
	"github.com/wicket-vpn/wicket/shared/humantime"
)

// passwordRule is one limit of the password throttle: failures wrong
// passwords of its scope within window refuse further tries of that scope
// until wait(over) after the newest, where over is how many wrong passwords
// beyond failures the window holds. Tries it refuses are not checked and do
// not count, so a refused guesser cannot make the wait longer.
type passwordRule struct {
	scope    store.PasswordScope
	name     string // for the audit log
	failures int
	window   time.Duration
	wait     func(over int) time.Duration
	maxWait  time.Duration
	msg      string // for the person refused, with the wait
}

var passwordRules = []passwordRule{
	{
		// A guesser at one account from one address: stopped hard.
		scope: store.ScopeAccountSource, name: "account from this address",
		failures: 10, window: 15 * time.Minute,
		wait: fixedWait(15 * time.Minute), maxWait: 15 * time.Minute,
		msg: "Too many wrong passwords from your address. Try again in %s.",
	},
	{
		// A guesser at one account from many addresses: slowed down, but
		// never for long, so they cannot keep the owner out.
		scope: store.ScopeAccount, name: "account from every address",
		failures: 20, window: 15 * time.Minute,
		wait: doublingWait(30*time.Second, 5*time.Minute), maxWait: 5 * time.Minute,
		msg: "Too many wrong passwords for this account. Try again in %s.",
	},
	{
		// A guesser at many accounts from one address. Higher, so that one
		// person behind an office's shared address does not lock out the rest.
		scope: store.ScopeSource, name: "every account from this address",
		failures: 100, window: 15 * time.Minute,
		wait: fixedWait(15 * time.Minute), maxWait: 15 * time.Minute,
		msg: "Too many wrong passwords from your address. Try again in %s.",
	},
}

func fixedWait(d time.Duration) func(int) time.Duration {
	return func(int) time.Duration { return d }
}

// doublingWait waits first, then twice as long for each wrong password
// beyond the limit, at most most.
func doublingWait(first, most time.Duration) func(int) time.Duration {
	return func(over int) time.Duration {
		d := first
		for range over {
			if d >= most {
				break
			}
			d *= 2
		}
		return min(d, most)
	}
}

// throttled is a refused try: the error for the person and the audit detail.
type throttled struct {
	err    error
	detail string
}

// checkPasswordRules applies every rule to the wrong passwords the store
// holds; it returns the refusal with the longest wait, or nil.
func checkPasswordRules(ctx context.Context, q *store.Q, account, source string, now time.Time) (*throttled, error) {
	var worst *throttled
	var worstUntil time.Time
	for _, r := range passwordRules {
		newest, n, err := q.RecentPasswordFailures(ctx, r.scope, account, source, now.Add(-r.maxWait), r.window)
		if err != nil {
			return nil, fmt.Errorf("check password throttle: %w", err)
		}
		if n < r.failures {
			continue
		}
		until := newest.Add(r.wait(n - r.failures))
		if !now.Before(until) || !until.After(worstUntil) {
			continue
		}
		left := humantime.Duration(until.Sub(now))
		worst, worstUntil = &throttled{
			err:    fault.New(fault.Exhausted, r.msg, left),
			detail: fmt.Sprintf("%s: %d wrong passwords within %s; refused for %s", r.name, n, humantime.Duration(r.window), left),
		}, until
	}
	return worst, nil
}

// verifyPassword checks pw against hash under the password throttle. A try
// the throttle refuses is audited and answered with the wait, unhashed,
// whatever the password. Any other is counted as wrong before it is checked,
// in the transaction that applied the rules, so that concurrent tries see
// each other; it is forgotten again when the password was right (which also
// forgives the account's wrong passwords from the same address) or was never
// checked because the server was busy.
func (s *Service) verifyPassword(ctx context.Context, a Actor, hash, pw string) (bool, error) {
	account, source := accountKey(a.Username), sourceKey(a.Remote)
	now := s.clock.Now()
	var refused *throttled
	var id int64
	err := s.store.InTx(ctx, func(q *store.Q) error {
		if err := q.LockPasswordAttempt(ctx, account, source, now); err != nil {
			return err
		}
		var err error
		if refused, err = checkPasswordRules(ctx, q, account, source, now); err != nil {
			return err
		}
		if refused != nil {
			return s.audit(ctx, q, a, "login.throttled", a.Username, refused.detail)
		}
		id, err = q.AddPasswordFailure(ctx, account, source, now)
		return err
	})
	if err != nil {
		return false, err
	}
	if refused != nil {
		return false, refused.err
	}
	ok, err := password.Verify(ctx, hash, pw)
	if ok || err != nil {
		// Settled even when the caller has gone: a right password must not
		// stay counted as a wrong one.
		ctx := context.WithoutCancel(ctx)
		if serr := s.store.InTx(ctx, func(q *store.Q) error {
			if err := q.ForgetPasswordFailure(ctx, id); err != nil {
				return err
			}
			if ok {
				return q.ForgivePasswordFailures(ctx, account, source)
			}
			return nil
		}); serr != nil {
			s.log.Error("settle password try", "user", a.Username, "err", serr)
		}
	}
	return ok, err
}

// accountKey is the username tried, known or not. Names longer than any
// username are hashed, so a guesser cannot fill the store with them.
func accountKey(username string) string {
	if len(username) <= 64 {
		return username
	}
	h := sha256.Sum256([]byte(username))
	return "sha256:" + hex.EncodeToString(h[:])
}

// sourceKey is the address a try came from. An IPv6 address counts by its
// /64, the block one subscriber gets, or a guesser would have 2^64 fresh
// addresses.
func sourceKey(remote string) string {
	addr, err := netip.ParseAddr(remote)
	if err != nil {
		return remote
	}
	addr = addr.Unmap()
	if addr.Is4() {
		return addr.String()
	}
	p, err := addr.Prefix(64)
	if err != nil {
		return addr.String()
	}
	return p.String()
}
