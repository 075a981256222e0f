package enrollment

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"
)

const (
	fpLower = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
	fpColon = "9F:86:D0:81:88:4C:7D:65:9A:2F:EA:A0:C5:5A:D0:15:A3:BF:4F:1B:2B:0B:82:2C:D1:5D:6C:15:B0:F0:0A:08"
)

// raw builds a code from literal JSON, bypassing Code.String.
func raw(js string) string {
	return Prefix + base64.RawURLEncoding.EncodeToString([]byte(js))
}

var golden = []struct {
	name string
	code Code
	text string
}{
	{
		name: "with fingerprint",
		code: Code{URL: "https://vpn.example.com:8443", Token: "wet_3q2-7wAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", Fingerprint: fpLower},
		text: "wicket1.eyJ1IjoiaHR0cHM6Ly92cG4uZXhhbXBsZS5jb206ODQ0MyIsInQiOiJ3ZXRfM3EyLTd3QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQSIsImYiOiI5Zjg2ZDA4MTg4NGM3ZDY1OWEyZmVhYTBjNTVhZDAxNWEzYmY0ZjFiMmIwYjgyMmNkMTVkNmMxNWIwZjAwYTA4In0",
	},
	{
		name: "without fingerprint",
		code: Code{URL: "https://vpn.example.com", Token: "wet_abc"},
		text: "wicket1.eyJ1IjoiaHR0cHM6Ly92cG4uZXhhbXBsZS5jb20iLCJ0Ijoid2V0X2FiYyJ9",
	},
	{
		name: "ipv6 host with path",
		code: Code{URL: "https://[2001:db8::1]:443/wicket", Token: "T0k-en_"},
		text: "wicket1.eyJ1IjoiaHR0cHM6Ly9bMjAwMTpkYjg6OjFdOjQ0My93aWNrZXQiLCJ0IjoiVDBrLWVuXyJ9",
	},
}

func TestGolden(t *testing.T) {
	for _, g := range golden {
		t.Run(g.name, func(t *testing.T) {
			if got := g.code.String(); got != g.text {
				t.Errorf("String() =\n%s\nwant\n%s", got, g.text)
			}
			got, err := Parse(g.text)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if got != g.code {
				t.Errorf("Parse() = %+v, want %+v", got, g.code)
			}
			if err := g.code.Validate(); err != nil {
				t.Errorf("Validate: %v", err)
			}
		})
	}
}

func TestParseLenient(t *testing.T) {
	g := golden[0].text
	want := golden[0].code
	tests := []struct {
		name string
		in   string
		want Code
	}{
		{name: "surrounding whitespace", in: "\n\t " + g + " \r\n", want: want},
		{name: "mail client line breaks", in: g[:30] + "\r\n" + g[30:70] + "\n " + g[70:], want: want},
		{name: "inner spaces", in: strings.Join(strings.Split(g, ""), " "), want: want},
		{name: "non-breaking space", in: g[:20] + "\u00a0" + g[20:], want: want},
		{name: "padding added", in: golden[1].text + "==", want: golden[1].code},
		{name: "uppercase fingerprint", in: raw(`{"u":"https://h","t":"x","f":"` + strings.ToUpper(fpLower) + `"}`), want: Code{URL: "https://h", Token: "x", Fingerprint: fpLower}},
		{name: "colon fingerprint", in: raw(`{"u":"https://h","t":"x","f":"` + fpColon + `"}`), want: Code{URL: "https://h", Token: "x", Fingerprint: fpLower}},
		{name: "empty fingerprint", in: raw(`{"u":"https://h","t":"x","f":""}`), want: Code{URL: "https://h", Token: "x"}},
		{name: "unknown field ignored", in: raw(`{"u":"https://h","t":"x","z":1}`), want: Code{URL: "https://h", Token: "x"}},
		{name: "uppercase scheme", in: raw(`{"u":"HTTPS://h","t":"x"}`), want: Code{URL: "HTTPS://h", Token: "x"}},
		{name: "trailing slash", in: raw(`{"u":"https://h:8443/","t":"x"}`), want: Code{URL: "https://h:8443/", Token: "x"}},
		{name: "max token", in: raw(`{"u":"https://h","t":"` + strings.Repeat("a", 256) + `"}`), want: Code{URL: "https://h", Token: strings.Repeat("a", 256)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(tt.in)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if got != tt.want {
				t.Fatalf("Parse() = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	g := golden[0].text
	tests := []struct {
		name    string
		in      string
		is      error
		wantErr string
	}{
		{name: "empty", in: "  \n", is: ErrNotCode, wantErr: "enrollment code is not a Wicket code: it is empty"},
		{name: "random text", in: "hello", is: ErrNotCode, wantErr: `enrollment code is not a Wicket code (it should start with "wicket1.")`},
		{name: "a wireguard key", in: "dwdtCnMYpX08FsFyUbJmRd9ML4frwJkqsXf7pR25LCo=", is: ErrNotCode, wantErr: `(it should start with "wicket1.")`},
		{name: "newer version", in: "wicket2.eyJ9", is: ErrNewerVersion, wantErr: `enrollment code is from a newer version of Wicket ("wicket2."); update the Wicket app`},
		{name: "prefix only", in: "wicket1.", is: ErrDamaged, wantErr: `enrollment code is damaged: nothing follows "wicket1."; copy it again from your profile page`},
		{name: "truncated", in: g[:len(g)-10], is: ErrDamaged, wantErr: "; copy it again from your profile page"},
		{name: "truncated mid-quantum", in: g[:len(g)-1], is: ErrDamaged, wantErr: "enrollment code is damaged"},
		{name: "bad character", in: g[:40] + "*" + g[41:], is: ErrDamaged, wantErr: `unexpected character '*' at position 41`},
		{name: "std base64 alphabet", in: Prefix + "ab+/", is: ErrDamaged, wantErr: "unexpected character '+'"},
		{name: "not json", in: Prefix + base64.RawURLEncoding.EncodeToString([]byte("hello")), is: ErrDamaged, wantErr: "contents cannot be read"},
		{name: "json array", in: raw(`[1,2]`), is: ErrDamaged, wantErr: "contents cannot be read"},
		{name: "json null", in: raw(`null`), is: ErrDamaged, wantErr: "no server address or token"},
		{name: "empty object", in: raw(`{}`), is: ErrDamaged, wantErr: "no server address or token"},
		{name: "wrong types", in: raw(`{"u":1,"t":2}`), is: ErrDamaged, wantErr: "contents cannot be read"},
		{name: "too long", in: Prefix + strings.Repeat("A", 9000), is: ErrDamaged, wantErr: "far longer than a code can be"},
		{name: "missing url", in: raw(`{"t":"x"}`), is: ErrInvalid, wantErr: "server address is missing; ask your admin for a new enrollment code"},
		{name: "http url", in: raw(`{"u":"http://h","t":"x"}`), is: ErrInvalid, wantErr: `"http://h" must start with https://`},
		{name: "relative url", in: raw(`{"u":"vpn.example.com","t":"x"}`), is: ErrInvalid, wantErr: "must start with https://"},
		{name: "no host", in: raw(`{"u":"https:///path","t":"x"}`), is: ErrInvalid, wantErr: "has no host name"},
		{name: "port only", in: raw(`{"u":"https://:8443","t":"x"}`), is: ErrInvalid, wantErr: "has no host name"},
		{name: "opaque", in: raw(`{"u":"https:h","t":"x"}`), is: ErrInvalid, wantErr: "has no host name"},
		{name: "bad host label", in: raw(`{"u":"https://-vpn.example.com","t":"x"}`), is: ErrInvalid, wantErr: `has "-vpn.example.com" where a host name or IP address belongs`},
		{name: "empty host label", in: raw(`{"u":"https://vpn..example.com:8443","t":"x"}`), is: ErrInvalid, wantErr: "where a host name or IP address belongs"},
		{name: "mistyped address", in: raw(`{"u":"https://10.0.0.256","t":"x"}`), is: ErrInvalid, wantErr: "where a host name or IP address belongs"},
		{name: "host with a comma", in: raw(`{"u":"https://vpn,example.com","t":"x"}`), is: ErrInvalid, wantErr: "where a host name or IP address belongs"},
		{name: "userinfo", in: raw(`{"u":"https://bob:pw@h","t":"x"}`), is: ErrInvalid, wantErr: "must not contain a user name or password"},
		{name: "query", in: raw(`{"u":"https://h/?a=b","t":"x"}`), is: ErrInvalid, wantErr: "must not contain a query"},
		{name: "empty query", in: raw(`{"u":"https://h?","t":"x"}`), is: ErrInvalid, wantErr: "must not contain a query"},
		{name: "fragment", in: raw(`{"u":"https://h#x","t":"x"}`), is: ErrInvalid, wantErr: "or fragment"},
		{name: "bad port", in: raw(`{"u":"https://h:99999","t":"x"}`), is: ErrInvalid, wantErr: "invalid port"},
		{name: "zero port", in: raw(`{"u":"https://h:0","t":"x"}`), is: ErrInvalid, wantErr: "invalid port"},
		{name: "empty port", in: raw(`{"u":"https://h:","t":"x"}`), is: ErrInvalid, wantErr: "invalid port"},
		{name: "space in url", in: raw(`{"u":"https://h/a b","t":"x"}`), is: ErrInvalid, wantErr: "character that is not allowed"},
		{name: "non-ascii host", in: raw(`{"u":"https://bücher.example","t":"x"}`), is: ErrInvalid, wantErr: "character that is not allowed"},
		{name: "missing token", in: raw(`{"u":"https://h"}`), is: ErrInvalid, wantErr: "enrollment token is missing"},
		{name: "token too long", in: raw(`{"u":"https://h","t":"` + strings.Repeat("a", 257) + `"}`), is: ErrInvalid, wantErr: "token is too long (257 characters, at most 256)"},
		{name: "token bad char", in: raw(`{"u":"https://h","t":"a+b"}`), is: ErrInvalid, wantErr: "token contains a character that is not allowed"},
		{name: "fingerprint short", in: raw(`{"u":"https://h","t":"x","f":"abcd"}`), is: ErrInvalid, wantErr: "must be 64 hex characters, got 4"},
		{name: "fingerprint not hex", in: raw(`{"u":"https://h","t":"x","f":"` + strings.Repeat("g", 64) + `"}`), is: ErrInvalid, wantErr: "only hex digits"},
		{name: "fingerprint bad colons", in: raw(`{"u":"https://h","t":"x","f":"` + fpColon[:len(fpColon)-3] + `"}`), is: ErrInvalid, wantErr: "32 colon-separated byte pairs, got 31"},
		{name: "fingerprint uneven colons", in: raw(`{"u":"https://h","t":"x","f":"` + strings.Replace(fpColon, "9F:86", "9F8:6", 1) + `"}`), is: ErrInvalid, wantErr: "byte pairs like AB:CD"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(tt.in)
			if err == nil {
				t.Fatalf("Parse(%q) = %+v, want error", tt.in, got)
			}
			if !errors.Is(err, tt.is) {
				t.Errorf("error %q is not %v", err, tt.is)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error %q does not contain %q", err, tt.wantErr)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		code Code
		ok   bool
	}{
		{name: "ok", code: Code{URL: "https://h", Token: "x", Fingerprint: fpLower}, ok: true},
		{name: "uppercase fingerprint", code: Code{URL: "https://h", Token: "x", Fingerprint: strings.ToUpper(fpLower)}},
		{name: "colon fingerprint", code: Code{URL: "https://h", Token: "x", Fingerprint: fpColon}},
		{name: "http", code: Code{URL: "http://h", Token: "x"}},
		{name: "no token", code: Code{URL: "https://h"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.code.Validate()
			if (err == nil) != tt.ok {
				t.Fatalf("Validate() = %v, want ok=%v", err, tt.ok)
			}
			if err != nil && !errors.Is(err, ErrInvalid) {
				t.Fatalf("Validate() error %v is not ErrInvalid", err)
			}
		})
	}
}

func FuzzParse(f *testing.F) {
	for _, g := range golden {
		f.Add(g.text)
	}
	f.Add("")
	f.Add("wicket1.")
	f.Add("wicket9.abc")
	f.Add(raw(`{"u":"https://h","t":"x","f":"` + fpColon + `"}`))
	f.Add(raw(`{"u":"https://h:0","t":"x"}`))
	f.Add(raw(`{"u":"https://[::1]:1/\ufffd","t":"x"}`))
	f.Fuzz(func(t *testing.T, s string) {
		c, err := Parse(s)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error message")
			}
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("Parse(%q) returned a code that does not validate: %v", s, err)
		}
		enc := c.String()
		c2, err := Parse(enc)
		if err != nil {
			t.Fatalf("re-parse of %q (from %q) failed: %v", enc, s, err)
		}
		if c2 != c {
			t.Fatalf("round trip mismatch: %+v != %+v", c2, c)
		}
		if enc2 := c2.String(); enc2 != enc {
			t.Fatalf("encoding not stable: %q != %q", enc2, enc)
		}
	})
}
