package service

import (
	"context"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/wicket-vpn/wicket/server/internal/fault"
	"github.com/wicket-vpn/wicket/server/internal/mail"
	"github.com/wicket-vpn/wicket/server/internal/mfa"
	"github.com/wicket-vpn/wicket/server/internal/store"
	"github.com/wicket-vpn/wicket/shared/humantime"
)

func hexHash(h []byte) string { return hex.EncodeToString(h) }

func maskAddress(addr string) string { return mail.MaskAddress(addr) }

var errNoSMTP = fault.New(fault.FailedPrecondition, "Email codes are unavailable: the server has no SMTP settings.")

func checkCodeFormat(code string) error {
	if code == "" {
		return fault.New(fault.Invalid, "code: enter the 6-digit code")
	}
	if !mfa.WellFormed(code) {
		return fault.New(fault.Invalid, "code: a code is exactly 6 digits")
	}
	return nil
}

// checkLockout refuses further codes while the user is locked out.
func (s *Service) checkLockout(ctx context.Context, userID string) error {
	now := s.clock.Now()
	fails, err := s.store.RecentMFAFailures(ctx, userID, now.Add(-mfa.LockoutWindow-mfa.LockoutDuration), mfa.LockoutFailures)
	if err != nil {
		return err
	}
	if until, locked := mfa.LockedUntil(fails, now); locked {
		return fault.New(fault.Exhausted, "Too many wrong codes. Try again in %s.", humantime.Duration(until.Sub(now)))
	}
	return nil
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

func methodName(m mfa.Method) string {
	switch m {
	case mfa.TOTP:
		return "totp"
	case mfa.Email:
		return "email"
	case mfa.WebAuthn:
		return "webauthn"
	}
	return "none"
}

// mailCode claims the user's mail slot, makes a code for the challenge and
// mails it.
func (s *Service) mailCode(ctx context.Context, u User, settings mail.Settings, c *store.Challenge, subject string) error {
	now := s.clock.Now()
	ok, last, err := s.store.ClaimMailSlot(ctx, u.ID, now, now.Add(-mfa.MailInterval))
	if err != nil {
		return err
	}
	if !ok {
		wait := last.Add(mfa.MailInterval).Sub(now)
		return fault.New(fault.Exhausted, "A code was mailed moments ago. Wait %s before asking for another.", humantime.Duration(wait))
	}
	code, err := mfa.NewEmailCode()
	if err != nil {
		return err
	}
	c.CodeHash = mfa.HashCode(c.Hash, code)
	body := fmt.Sprintf("Your %s code is\n\n    %s\n\nIt is valid for %d minutes and can be used once. If you did not ask for it, someone may know your password: tell your admin.\n",
		s.cfg.InstanceName, code, int(mfa.ChallengeTTL/time.Minute))
	sendCtx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := s.mailer.Send(sendCtx, settings, mail.Message{To: u.Email, Subject: subject, Body: body}); err != nil {
		s.log.Error("send code by email", "user", u.Username, "err", err)
		// The SMTP server's own words stay in the log: they can name
		// internal hosts.
		return fault.Wrap(fault.Unavailable, err, "Could not send the code by email. Try again, or ask your admin to check the SMTP settings.")
	}
	return nil
}
