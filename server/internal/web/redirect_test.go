package web

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"unicode"
)

// Every way of naming another site in next= that browsers follow lands on
// "/"; paths of this site are kept as they are.
func TestLocalPath(t *testing.T) {
	tests := []struct {
		next, want string
	}{
		{"", "/"},
		{"/", "/"},
		{"/profile", "/profile"},
		{"/locations/abc/edit?tab=mfa#peers", "/locations/abc/edit?tab=mfa#peers"},
		{"/audit?before=120&action=login.", "/audit?before=120&action=login."},
		{"/users?q=a%20b", "/users?q=a%20b"},
		{"/profile/caf%C3%A9", "/profile/caf%C3%A9"},
		{"/a//b", "/a//b"}, // a doubled slash inside a path is still this site

		// Other sites, spelled plainly.
		{"https://evil.example/", "/"},
		{"http:evil.example", "/"},
		{"//evil.example", "/"},
		{"///evil.example", "/"},
		{"/\\evil.example", "/"},
		{"\\\\evil.example", "/"},
		{"evil.example", "/"},
		{"javascript:alert(1)", "/"},
		{" /profile", "/"},

		// Spelled with characters browsers drop or read as "/".
		{"/\t/evil.example", "/"},
		{"/\n/evil.example", "/"},
		{"/\r/evil.example", "/"},
		{"/\x00/evil.example", "/"},
		{"/\x7f/evil.example", "/"},
		{"/\u0085/evil.example", "/"}, // NEL, a C1 control
		{"/\u202e/evil.example", "/"}, // right-to-left override
		{"/\u2066/evil.example", "/"}, // left-to-right isolate
		{"/\u200b/evil.example", "/"}, // zero-width space
		{"/\u2028/evil.example", "/"}, // line separator
		{"/\ufeff/evil.example", "/"}, // byte order mark
		{"/ok\\..\\..\\evil", "/"},
		{"/\xff/evil.example", "/"}, // not UTF-8

		// The same, percent-encoded once or twice.
		{"/%09/evil.example", "/"},
		{"/%0a/evil.example", "/"},
		{"/%0D%0A/evil.example", "/"},
		{"/%00", "/"},
		{"/%2F/evil.example", "/"},
		{"/%2f%2fevil.example", "/"},
		{"/%5Cevil.example", "/"},
		{"/%5cevil.example", "/"},
		{"/%E2%80%AE/evil.example", "/"},
		{"/%2509/evil.example", "/"},
		{"/%252F/evil.example", "/"},
		{"/%25252F/evil.example", "/"}, // more layers than any link has
		{"%2F%2Fevil.example", "/"},
		{"/%zz", "/"},
	}
	for _, tt := range tests {
		if got := localPath(tt.next); got != tt.want {
			t.Errorf("localPath(%q) = %q, want %q", tt.next, got, tt.want)
		}
	}
}

// FuzzLocalPath checks that whatever localPath returns, and the Location
// http.Redirect makes of it, is a path of this site a browser cannot read
// as another site's address.
func FuzzLocalPath(f *testing.F) {
	for _, s := range []string{
		"/", "/profile", "/users?q=a%20b#x", "//evil.example", "/\\evil.example",
		"/\t/evil.example", "/%09/evil.example", "/%2509/evil.example", "/%2F/x",
		"https://evil.example", "/\u202e/x", "/a/../..//evil", "/./%2e%2e/x",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, next string) {
		got := localPath(next)
		checkLocal(t, "localPath("+strconv.Quote(next)+")", got)
		if got == "/" {
			return
		}
		r := httptest.NewRequest(http.MethodGet, "https://wicket.example/signin", nil)
		w := httptest.NewRecorder()
		http.Redirect(w, r, got, http.StatusSeeOther)
		checkLocal(t, "Location for "+strconv.Quote(next), w.Header().Get("Location"))
	})
}

func checkLocal(t *testing.T, what, s string) {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatalf("%s = %q does not parse: %v", what, s, err)
	}
	if u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" {
		t.Fatalf("%s = %q names another site (%#v)", what, s, u)
	}
	if !strings.HasPrefix(s, "/") || strings.HasPrefix(s, "//") {
		t.Fatalf("%s = %q does not start with exactly one /", what, s)
	}
	for _, r := range s {
		if r == '\\' || unicode.IsControl(r) || unicode.Is(unicode.Cf, r) {
			t.Fatalf("%s = %q holds %U", what, s, r)
		}
	}
}
