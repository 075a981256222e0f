package password

import (
	"errors"
	"strings"
	"testing"
)

// lowCost makes hashing cheap for the duration of a test.
func lowCost(t testing.TB) {
	t.Helper()
	old := Params
	Params = Parameters{Memory: 256, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}
	t.Cleanup(func() { Params = old })
}

// Reference vectors from the argon2 reference implementation's test suite
// (phc-winner-argon2 src/test.c), password "password", salt "somesalt".
const (
	refCheap = "$argon2id$v=19$m=256,t=2,p=1$c29tZXNhbHQ$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4"
	ref64MiB = "$argon2id$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc"
)

func TestVerifyReferenceVectors(t *testing.T) {
	tests := []struct {
		name    string
		encoded string
		pw      string
		want    bool
	}{
		{name: "cheap match", encoded: refCheap, pw: "password", want: true},
		{name: "cheap mismatch", encoded: refCheap, pw: "Password", want: false},
		{name: "64MiB match", encoded: ref64MiB, pw: "password", want: true},
		{name: "64MiB mismatch", encoded: ref64MiB, pw: "password ", want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if testing.Short() && strings.Contains(tt.encoded, "m=65536") {
				t.Skip("expensive in -short mode")
			}
			got, err := Verify(t.Context(), tt.encoded, tt.pw)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Fatalf("Verify() = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestHashFormatDefaultParams(t *testing.T) {
	if testing.Short() {
		t.Skip("expensive in -short mode")
	}
	h, err := Hash(t.Context(), "correct horse battery staple")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=65536,t=2,p=2$") {
		t.Fatalf("Hash() = %q, unexpected prefix", h)
	}
	parts := strings.Split(h, "$")
	if len(parts[4]) != 22 || len(parts[5]) != 43 { // 16 and 32 bytes, unpadded base64
		t.Fatalf("salt/hash lengths %d/%d, want 22/43", len(parts[4]), len(parts[5]))
	}
	if NeedsRehash(h) {
		t.Fatal("fresh hash needs rehash")
	}
}

func TestHashVerifyRoundTrip(t *testing.T) {
	lowCost(t)
	tests := []struct {
		name string
		pw   string
	}{
		{name: "ascii", pw: "correct horse battery staple"},
		{name: "empty", pw: ""},
		{name: "unicode", pw: "pässwörd-🔐-пароль"},
		{name: "dollar signs", pw: "$argon2id$v=19$"},
		{name: "long", pw: strings.Repeat("x", 1024)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, err := Hash(t.Context(), tt.pw)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(h, "$argon2id$v=19$m=256,t=1,p=1$") {
				t.Fatalf("Hash() = %q does not use Params", h)
			}
			ok, err := Verify(t.Context(), h, tt.pw)
			if err != nil || !ok {
				t.Fatalf("Verify(correct) = %v, %v", ok, err)
			}
			ok, err = Verify(t.Context(), h, tt.pw+"x")
			if err != nil || ok {
				t.Fatalf("Verify(wrong) = %v, %v", ok, err)
			}
			h2, err := Hash(t.Context(), tt.pw)
			if err != nil {
				t.Fatal(err)
			}
			if h2 == h {
				t.Fatal("two hashes of the same password are equal; salt not random")
			}
		})
	}
}

func TestVerifyMalformed(t *testing.T) {
	const salt, key = "c29tZXNhbHQ", "nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4"
	tests := []struct {
		name    string
		encoded string
		wantErr string
	}{
		{name: "empty", encoded: "", wantErr: "expected $argon2id"},
		{name: "plain text", encoded: "password", wantErr: "expected $argon2id"},
		{name: "bcrypt", encoded: "$2a$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy", wantErr: "expected $argon2id"},
		{name: "argon2i", encoded: "$argon2i$v=19$m=256,t=2,p=1$" + salt + "$" + key, wantErr: `unsupported algorithm "argon2i"`},
		{name: "old version", encoded: "$argon2id$v=16$m=256,t=2,p=1$" + salt + "$" + key, wantErr: `unsupported version "v=16"`},
		{name: "missing version", encoded: "$argon2id$m=256,t=2,p=1$" + salt + "$" + key, wantErr: "expected $argon2id"},
		{name: "params reordered", encoded: "$argon2id$v=19$t=2,m=256,p=1$" + salt + "$" + key, wantErr: "expected parameter m="},
		{name: "params missing", encoded: "$argon2id$v=19$m=256,t=2$" + salt + "$" + key, wantErr: "are not m=...,t=...,p=..."},
		{name: "zero time", encoded: "$argon2id$v=19$m=256,t=0,p=1$" + salt + "$" + key, wantErr: "must be a positive number"},
		{name: "negative", encoded: "$argon2id$v=19$m=-256,t=2,p=1$" + salt + "$" + key, wantErr: "must be a positive number"},
		{name: "leading zero", encoded: "$argon2id$v=19$m=0256,t=2,p=1$" + salt + "$" + key, wantErr: "must be a positive number"},
		{name: "huge memory", encoded: "$argon2id$v=19$m=99999999,t=2,p=1$" + salt + "$" + key, wantErr: "out of range"},
		{name: "too many threads", encoded: "$argon2id$v=19$m=65536,t=2,p=256$" + salt + "$" + key, wantErr: "out of range"},
		{name: "memory below minimum", encoded: "$argon2id$v=19$m=8,t=2,p=4$" + salt + "$" + key, wantErr: "below the argon2 minimum"},
		{name: "padded salt", encoded: "$argon2id$v=19$m=256,t=2,p=1$" + salt + "=$" + key, wantErr: "salt is not valid base64"},
		{name: "bad hash base64", encoded: "$argon2id$v=19$m=256,t=2,p=1$" + salt + "$" + key + "!", wantErr: "hash is not valid base64"},
		{name: "short salt", encoded: "$argon2id$v=19$m=256,t=2,p=1$YWJj$" + key, wantErr: "salt is 3 bytes"},
		{name: "short hash", encoded: "$argon2id$v=19$m=256,t=2,p=1$" + salt + "$YWJj", wantErr: "hash is 3 bytes"},
		{name: "trailing field", encoded: refCheap + "$", wantErr: "expected $argon2id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok, err := Verify(t.Context(), tt.encoded, "password")
			if err == nil {
				t.Fatalf("Verify() = %v, nil; want error", ok)
			}
			if ok {
				t.Fatal("Verify() returned true with an error")
			}
			if !errors.Is(err, ErrMalformed) {
				t.Errorf("error %v is not ErrMalformed", err)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error = %q, want it to contain %q", err, tt.wantErr)
			}
			if !NeedsRehash(tt.encoded) {
				t.Error("NeedsRehash(malformed) = false")
			}
		})
	}
}

func TestNeedsRehash(t *testing.T) {
	lowCost(t)
	current, err := Hash(t.Context(), "password")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		encoded string
		want    bool
	}{
		{name: "current params", encoded: current, want: false},
		{name: "other params", encoded: refCheap, want: true},
		{name: "malformed", encoded: "nonsense", want: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := NeedsRehash(tt.encoded); got != tt.want {
				t.Fatalf("NeedsRehash() = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestHashRejectsBadParams(t *testing.T) {
	old := Params
	t.Cleanup(func() { Params = old })
	Params = Parameters{Memory: 256, Time: 0, Threads: 1, SaltLen: 16, KeyLen: 32}
	if _, err := Hash(t.Context(), "password"); err == nil {
		t.Fatal("Hash() with t=0 succeeded")
	}
}

func TestCheck(t *testing.T) {
	tests := []struct {
		name    string
		pw      string
		wantErr string
	}{
		{name: "empty", pw: "", wantErr: "password is too short: use at least 8 characters"},
		{name: "seven", pw: "1234567", wantErr: "too short"},
		{name: "eight", pw: "12345678"},
		{name: "multibyte counted as characters", pw: "üüüüüüüü"},
		{name: "multibyte too short", pw: "🔐🔐🔐🔐", wantErr: "too short"},
		{name: "max", pw: strings.Repeat("a", 1024)},
		{name: "too long", pw: strings.Repeat("a", 1025), wantErr: "password is too long: use at most 1024 characters"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Check(tt.pw)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Check() = %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Check() = %v, want error containing %q", err, tt.wantErr)
			}
		})
	}
}

func BenchmarkHash(b *testing.B) {
	for b.Loop() {
		if _, err := Hash(b.Context(), "correct horse battery staple"); err != nil {
			b.Fatal(err)
		}
	}
}
