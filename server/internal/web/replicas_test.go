package web_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/wicket-vpn/wicket/server/internal/servertest"
)

// TestSignInFinishedOnAnotherReplica: behind a load balancer without
// sticky sessions, the password goes to replica A and the code to B; B
// opens the half-finished sign-in A sealed (the key comes from the master
// key they share) and signs the admin in.
func TestSignInFinishedOnAnotherReplica(t *testing.T) {
	a := newServer(t, servertest.WithPostgres())
	b := a.Replica()
	a.AdminToken()
	c := newClient(t, a)
	c.get("/signin")
	code, body := c.post("/signin", url.Values{"username": {"admin"}, "password": {"admin-password"}})
	if code != http.StatusOK || !strings.Contains(body, `id="code-form"`) {
		t.Fatalf("password on A: %d\n%s", code, body)
	}
	c.s = b // the cookies are the host's, whichever port answers
	code, body = c.post("/signin/code", url.Values{"code": {adminCode(a)}})
	if code != http.StatusOK || !strings.Contains(body, "Sign out") {
		t.Fatalf("code on B: %d\n%s", code, text(body))
	}
}
