package web_test

import (
	"net/http"
	"net/url"
	"testing"

	"github.com/wicket-vpn/wicket/server/internal/servertest"
	"github.com/wicket-vpn/wicket/server/internal/service"
)

// TestCannotSavePages: while the database refuses writes, signing in and
// saving a form show the same words as the API, with status 503, instead
// of a generic failure; once writes work, the same form goes through.
func TestCannotSavePages(t *testing.T) {
	t.Parallel()
	s := newServer(t, servertest.WithSQLite()) // RefuseWrites is SQLite's
	s.AdminToken()
	signedIn := newClient(t, s)
	signedIn.signIn("admin", "admin-password")
	signedIn.get("/locations/new")
	csrf := signedIn.csrf()
	ctx := servertest.Ctx(t)
	st := s.Store()
	if err := st.RefuseWrites(ctx, true); err != nil {
		t.Fatal(err)
	}

	c := newClient(t, s)
	c.get("/signin")
	code, body := c.post("/signin", url.Values{"username": {"admin"}, "password": {"admin-password"}})
	if code != http.StatusServiceUnavailable {
		t.Fatalf("sign-in while writes fail: %d", code)
	}
	mustContain(t, body, service.UnavailableMsg)

	form := url.Values{"csrf": {csrf}, "name": {"Office"}, "address": {"10.30.0.1/24"}, "endpoint": {"vpn.example.com:51820"}}
	code, body = signedIn.post("/locations/new", form)
	if code != http.StatusServiceUnavailable {
		t.Fatalf("new location while writes fail: %d", code)
	}
	mustContain(t, body, service.UnavailableMsg)

	if err := st.RefuseWrites(ctx, false); err != nil {
		t.Fatal(err)
	}
	if code, body = signedIn.post("/locations/new", form); code != http.StatusOK {
		t.Fatalf("new location once writes work: %d\n%s", code, text(body))
	}
	if locs, _ := st.ListLocations(ctx); len(locs) != 1 {
		t.Fatalf("locations: %v", locs)
	}
}
