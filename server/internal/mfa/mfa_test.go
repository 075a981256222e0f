package mfa

import (
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp"
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

// TestTOTPKeyRoundTrip builds the otpauth URL of names with spaces, ':',
// URL syntax and non-ASCII letters, and reads every part back as an
// authenticator app would.
func TestTOTPKeyRoundTrip(t *testing.T) {
	for _, tt := range []struct{ issuer, account string }{
		{"Wicket", "alice"},
		{"Acme VPN", "bob smith"},
		{"Acme: Vienna office", "carol"},
		{"Wicket", "dave:ops"},
		{"Zürich Büro", "jörg@example.com"},
		{"東京", "ユーザー"},
		{"R&D = 100% + more?", "a/b#c&d=e"},
		{"", "eve"},
	} {
		key, err := TOTPKeyFromSecret(tt.issuer, tt.account, secret)
		if err != nil {
			t.Fatalf("TOTPKeyFromSecret(%q, %q): %v", tt.issuer, tt.account, err)
		}
		back, err := otp.NewKeyFromURL(key.URL())
		if err != nil {
			t.Fatalf("otp.NewKeyFromURL(%q): %v", key.URL(), err)
		}
		if back.Type() != "totp" || back.Issuer() != tt.issuer || back.AccountName() != tt.account || back.Secret() != secret ||
			back.Period() != 30 || back.Digits() != otp.DigitsSix || back.Algorithm() != otp.AlgorithmSHA1 {
			t.Errorf("%q read back as type %q, issuer %q, account %q, secret %q, period %d, digits %v, algorithm %v",
				key.URL(), back.Type(), back.Issuer(), back.AccountName(), back.Secret(), back.Period(), back.Digits(), back.Algorithm())
		}
		if strings.ContainsAny(key.URL(), "+ ") || strings.Count(key.URL(), "/") != 3 {
			t.Errorf("%q has a space, a '+' or a '/' in the label: apps read %%20, %%2B and %%2F", key.URL())
		}
	}
	key, err := TOTPKeyFromSecret("Wicket", "alice", secret)
	if err != nil {
		t.Fatal(err)
	}
	if want := "otpauth://totp/Wicket:alice?algorithm=SHA1&digits=6&issuer=Wicket&period=30&secret=" + secret; key.URL() != want {
		t.Errorf("URL = %q, want %q", key.URL(), want)
	}
}

// TestNewTOTPKey makes a key whose URL reads back with its names and a
// secret that produces codes.
func TestNewTOTPKey(t *testing.T) {
	key, err := NewTOTPKey("Acme: Vienna", "ops:alice")
	if err != nil {
		t.Fatal(err)
	}
	back, err := otp.NewKeyFromURL(key.URL())
	if err != nil {
		t.Fatal(err)
	}
	if back.Issuer() != "Acme: Vienna" || back.AccountName() != "ops:alice" || len(back.Secret()) < 16 {
		t.Fatalf("issuer %q, account %q, secret %q", back.Issuer(), back.AccountName(), back.Secret())
	}
	now := time.Unix(1_800_000_000, 0)
	code, err := TOTPCode(back.Secret(), now)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := MatchTOTP(back.Secret(), code, now); !ok {
		t.Fatalf("code %s of the new key does not match", code)
	}
}
