package mfa

import (
	"testing"
	"time"
)

const secret = "JBSWY3DPEHPK3PXP"

func TestMatchTOTPSkew(t *testing.T) {
	now := time.Date(2026, 6, 1, 12, 0, 15, 0, time.UTC)
	for _, tc := range []struct {
		offset time.Duration
		ok     bool
	}{
		{0, true}, {-30 * time.Second, true}, {30 * time.Second, true},
		{-60 * time.Second, false}, {60 * time.Second, false},
	} {
		code, err := TOTPCode(secret, now.Add(tc.offset))
		if err != nil {
			t.Fatal(err)
		}
		step, ok := MatchTOTP(secret, code, now)
		if ok != tc.ok {
			t.Errorf("offset %v: ok = %v, want %v", tc.offset, ok, tc.ok)
		}
		if ok && step != Step(now.Add(tc.offset)) {
			t.Errorf("offset %v: step %d, want %d", tc.offset, step, Step(now.Add(tc.offset)))
		}
	}
	if _, ok := MatchTOTP(secret, "12345", now); ok {
		t.Error("five digits accepted")
	}
	if _, ok := MatchTOTP(secret, "12a456", now); ok {
		t.Error("non-digits accepted")
	}
}

func TestEmailCode(t *testing.T) {
	seen := map[string]bool{}
	for range 50 {
		c, err := NewEmailCode()
		if err != nil {
			t.Fatal(err)
		}
		if !WellFormed(c) {
			t.Fatalf("code %q is not six digits", c)
		}
		seen[c] = true
	}
	if len(seen) < 45 {
		t.Fatalf("only %d distinct codes in 50", len(seen))
	}
	h := HashCode("salt-a", "123456")
	if !CodeMatches("salt-a", "123456", h) || CodeMatches("salt-b", "123456", h) || CodeMatches("salt-a", "123457", h) {
		t.Fatal("code hash does not bind code and salt")
	}
}

func TestLockedUntil(t *testing.T) {
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	ago := func(d ...time.Duration) []time.Time {
		var out []time.Time
		for _, x := range d {
			out = append(out, now.Add(-x))
		}
		return out
	}
	m := time.Minute
	for _, tc := range []struct {
		name   string
		fails  []time.Time
		locked bool
		left   time.Duration
	}{
		{"four failures", ago(0, m, 2*m, 3*m), false, 0},
		{"five within five minutes", ago(0, m, 2*m, 3*m, 4*m), true, 5 * m},
		{"five spread over six minutes", ago(0, m, 2*m, 3*m, 6*m), false, 0},
		{"lock running out", ago(4*m, 5*m, 6*m, 7*m, 8*m), true, m},
		{"lock over", ago(5*m, 6*m, 7*m, 8*m, 9*m), false, 0},
	} {
		until, locked := LockedUntil(tc.fails, now)
		if locked != tc.locked || (locked && until.Sub(now) != tc.left) {
			t.Errorf("%s: locked=%v until+%v, want %v +%v", tc.name, locked, until.Sub(now), tc.locked, tc.left)
		}
	}
}
