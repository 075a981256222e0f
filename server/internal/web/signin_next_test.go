package web_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// A link to the sign-in page whose next= names another site, in spellings
// browsers follow, must not send a person who signs in (or already is) there.
func TestSignInNextStaysOnSite(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	u := s.CreateUser("frank")
	c := newClient(t, s)
	c.http.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	evil := []string{
		"/%09/evil.example",
		"/%0a/evil.example",
		"/%5Cevil.example",
		"//evil.example",
		"/%2509/evil.example",
		"https://evil.example/",
	}
	location := func(resp *http.Response) string {
		t.Helper()
		resp.Body.Close()
		if resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("status %d, want a redirect", resp.StatusCode)
		}
		return resp.Header.Get("Location")
	}

	for _, next := range evil {
		// Signing in with the next= the sign-in page put in its form.
		c.get("/signin?next=" + next)
		form := url.Values{"username": {u.Username}, "password": {u.Password}, "csrf": {c.csrf()}}
		if m := nextRE(c.last); m != "/" {
			t.Fatalf("sign-in page for next=%s keeps next %q", next, m)
		}
		form.Set("next", mustUnescape(t, next))
		req, _ := http.NewRequest(http.MethodPost, s.URL+"/signin", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		resp, err := c.http.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		if loc := location(resp); loc != "/" {
			t.Fatalf("sign in with next=%s: Location %q", next, loc)
		}

		// Already signed in, the page redirects at once.
		resp, err = c.http.Get(s.URL + "/signin?next=" + next)
		if err != nil {
			t.Fatal(err)
		}
		if loc := location(resp); loc != "/" {
			t.Fatalf("signed in, /signin?next=%s: Location %q", next, loc)
		}
		c.get("/profile")
		c.post("/signout", nil)
	}

	// A path of the site is kept.
	c.get("/signin?next=" + url.QueryEscape("/profile?tab=devices"))
	resp, err := c.http.PostForm(s.URL+"/signin", url.Values{"username": {u.Username}, "password": {u.Password}, "csrf": {c.csrf()}, "next": {"/profile?tab=devices"}})
	if err != nil {
		t.Fatal(err)
	}
	if loc := location(resp); loc != "/profile?tab=devices" {
		t.Fatalf("sign in with a local next: Location %q", loc)
	}
}

func nextRE(body string) string {
	i := strings.Index(body, `name="next" value="`)
	if i < 0 {
		return ""
	}
	v := body[i+len(`name="next" value="`):]
	return v[:strings.IndexByte(v, '"')]
}

func mustUnescape(t *testing.T, s string) string {
	t.Helper()
	v, err := url.QueryUnescape(s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}
