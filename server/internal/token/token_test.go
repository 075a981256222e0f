package token

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"
)

func TestNew(t *testing.T) {
	tests := []struct {
		name    string
		prefix  string
		wantErr string
	}{
		{name: "device", prefix: PrefixDevice},
		{name: "enrollment", prefix: PrefixEnrollment},
		{name: "mfa challenge", prefix: PrefixMFAChallenge},
		{name: "session", prefix: PrefixSession},
		{name: "gateway", prefix: PrefixGateway},
		{name: "no prefix", prefix: ""},
		{name: "bad character", prefix: "w t_", wantErr: "may only contain"},
		{name: "non-ascii", prefix: "wé_", wantErr: "may only contain"},
		{name: "too long", prefix: strings.Repeat("w", 17), wantErr: "longer than 16"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			plain, hash, err := New(tt.prefix)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("New() error = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(plain, tt.prefix) {
				t.Fatalf("token %q lacks prefix %q", plain, tt.prefix)
			}
			if got, want := len(plain), len(tt.prefix)+43; got != want {
				t.Fatalf("token length = %d, want %d", got, want)
			}
			if strings.ContainsAny(plain[len(tt.prefix):], "+/=") {
				t.Fatalf("token %q is not unpadded base64url", plain)
			}
			if !bytes.Equal(hash, Hash(plain)) {
				t.Fatal("returned hash differs from Hash(plain)")
			}
			if !Valid(plain, tt.prefix) {
				t.Fatal("Valid() = false for a fresh token")
			}
			other, _, err := New(tt.prefix)
			if err != nil {
				t.Fatal(err)
			}
			if other == plain {
				t.Fatal("two tokens are equal")
			}
		})
	}
}

func TestHash(t *testing.T) {
	tests := []struct {
		plain string
		want  string
	}{
		{plain: "", want: "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
		{plain: "abc", want: "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
	}
	for _, tt := range tests {
		t.Run(tt.plain, func(t *testing.T) {
			if got := hex.EncodeToString(Hash(tt.plain)); got != tt.want {
				t.Fatalf("Hash(%q) = %s, want %s", tt.plain, got, tt.want)
			}
		})
	}
	if len(Hash("wdt_x")) != sha256.Size {
		t.Fatal("hash length")
	}
}

func TestEqual(t *testing.T) {
	a := Hash("wdt_a")
	tests := []struct {
		name string
		a, b []byte
		want bool
	}{
		{name: "same", a: a, b: bytes.Clone(a), want: true},
		{name: "different", a: a, b: Hash("wdt_b"), want: false},
		{name: "prefix of other", a: a, b: a[:16], want: false},
		{name: "empty vs hash", a: nil, b: a, want: false},
		{name: "both empty", a: nil, b: []byte{}, want: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Equal(tt.a, tt.b); got != tt.want {
				t.Fatalf("Equal() = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestValid(t *testing.T) {
	good, _, err := New(PrefixDevice)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		plain  string
		prefix string
		want   bool
	}{
		{name: "good", plain: good, prefix: PrefixDevice, want: true},
		{name: "wrong kind", plain: good, prefix: PrefixSession, want: false},
		{name: "truncated", plain: good[:len(good)-1], prefix: PrefixDevice, want: false},
		{name: "extended", plain: good + "A", prefix: PrefixDevice, want: false},
		{name: "padded", plain: good + "=", prefix: PrefixDevice, want: false},
		{name: "std alphabet", plain: PrefixDevice + strings.Repeat("+", 42) + "A", prefix: PrefixDevice, want: false},
		{name: "non-canonical last char", plain: PrefixDevice + strings.Repeat("A", 42) + "B", prefix: PrefixDevice, want: false},
		{name: "empty", plain: "", prefix: PrefixDevice, want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Valid(tt.plain, tt.prefix); got != tt.want {
				t.Fatalf("Valid(%q, %q) = %v, want %v", tt.plain, tt.prefix, got, tt.want)
			}
		})
	}
}
