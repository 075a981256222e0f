package wgkey

import (
	"encoding/hex"
	"strings"
	"testing"
)

// RFC 7748 section 6.1 test vector (Alice).
const (
	rfcPrivHex = "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a"
	rfcPubHex  = "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a"
)

func mustHexKey(t *testing.T, s string) Key {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != KeyLen {
		t.Fatalf("bad hex key %q", s)
	}
	var k Key
	copy(k[:], b)
	return k
}

func TestPublicRFC7748(t *testing.T) {
	priv := mustHexKey(t, rfcPrivHex)
	if got := priv.Public().Hex(); got != rfcPubHex {
		t.Fatalf("Public() = %s, want %s", got, rfcPubHex)
	}
}

func TestNewPrivate(t *testing.T) {
	seen := map[Key]bool{}
	for range 16 {
		k, err := NewPrivate()
		if err != nil {
			t.Fatal(err)
		}
		if k[0]&7 != 0 || k[31]&128 != 0 || k[31]&64 == 0 {
			t.Fatalf("key not clamped: %x", k)
		}
		if k.IsZero() || k.Public().IsZero() {
			t.Fatal("zero key")
		}
		if seen[k] {
			t.Fatal("duplicate key")
		}
		seen[k] = true
	}
}

func TestNewPreshared(t *testing.T) {
	a, err := NewPreshared()
	if err != nil {
		t.Fatal(err)
	}
	b, err := NewPreshared()
	if err != nil {
		t.Fatal(err)
	}
	if a == b || a.IsZero() {
		t.Fatal("preshared keys not random")
	}
}

func TestParse(t *testing.T) {
	priv := mustHexKey(t, rfcPrivHex)
	good := priv.String()
	tests := []struct {
		name    string
		in      string
		want    Key
		wantErr string
	}{
		{name: "valid", in: good, want: priv},
		{name: "surrounding whitespace", in: "  \t" + good + "\r\n", want: priv},
		{name: "zero key", in: strings.Repeat("A", 43) + "=", want: Key{}},
		{name: "empty", in: "", wantErr: "key is empty"},
		{name: "only whitespace", in: " \n ", wantErr: "key is empty"},
		{name: "too short", in: "abcdefghijkl", wantErr: "key must be 44 characters of base64 (32 bytes), got 12 characters"},
		{name: "too long", in: good + "AAAA", wantErr: "got 48 characters"},
		{name: "invalid char", in: "!" + good[1:], wantErr: "not valid base64"},
		{name: "url alphabet", in: strings.Repeat("_", 43) + "=", wantErr: "not valid base64"},
		{name: "44 chars without padding", in: strings.Repeat("A", 44), wantErr: "got 33 bytes"},
		{name: "43 chars without padding", in: strings.Repeat("A", 43), wantErr: "got 43 characters"},
		{name: "non-canonical trailing bits", in: strings.Repeat("A", 42) + "B=", wantErr: "not valid base64"},
		{name: "inner whitespace", in: good[:20] + " " + good[21:], wantErr: "not valid base64"},
		{name: "hex form", in: rfcPrivHex, wantErr: "got 64 characters"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(tt.in)
			if tt.wantErr != "" {
				if err == nil {
					t.Fatalf("Parse(%q) = %v, want error containing %q", tt.in, got, tt.wantErr)
				}
				if !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Parse(%q) error = %q, want it to contain %q", tt.in, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse(%q): %v", tt.in, err)
			}
			if got != tt.want {
				t.Fatalf("Parse(%q) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}

func TestEncodings(t *testing.T) {
	tests := []struct {
		name    string
		key     Key
		wantB64 string
		wantHex string
		zero    bool
	}{
		{
			name:    "zero",
			key:     Key{},
			wantB64: "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
			wantHex: strings.Repeat("0", 64),
			zero:    true,
		},
		{
			name:    "rfc7748 private",
			key:     mustHexKey(t, rfcPrivHex),
			wantB64: "dwdtCnMYpX08FsFyUbJmRd9ML4frwJkqsXf7pR25LCo=",
			wantHex: rfcPrivHex,
		},
		{
			name:    "all ff",
			key:     mustHexKey(t, strings.Repeat("ff", 32)),
			wantB64: "//////////////////////////////////////////8=",
			wantHex: strings.Repeat("ff", 32),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.key.String(); got != tt.wantB64 {
				t.Errorf("String() = %q, want %q", got, tt.wantB64)
			}
			if got := tt.key.Hex(); got != tt.wantHex {
				t.Errorf("Hex() = %q, want %q", got, tt.wantHex)
			}
			if got := tt.key.IsZero(); got != tt.zero {
				t.Errorf("IsZero() = %v, want %v", got, tt.zero)
			}
			back, err := Parse(tt.key.String())
			if err != nil || back != tt.key {
				t.Errorf("round trip: got %v, %v", back, err)
			}
		})
	}
}

func FuzzParse(f *testing.F) {
	f.Add("")
	f.Add("abcdefghijkl")
	f.Add(strings.Repeat("A", 43) + "=")
	f.Add(" " + strings.Repeat("/", 43) + "=\n")
	f.Add(strings.Repeat("A", 42) + "B=")
	f.Fuzz(func(t *testing.T, s string) {
		k, err := Parse(s)
		if err != nil {
			return
		}
		enc := k.String()
		if len(enc) != 44 {
			t.Fatalf("String() length %d", len(enc))
		}
		k2, err := Parse(enc)
		if err != nil {
			t.Fatalf("re-parse of %q failed: %v", enc, err)
		}
		if k2 != k {
			t.Fatalf("round trip mismatch: %v != %v", k2, k)
		}
		if enc != strings.TrimSpace(s) {
			t.Fatalf("non-canonical input %q accepted (canonical %q)", s, enc)
		}
	})
}
