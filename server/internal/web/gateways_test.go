package web_test

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"testing"
	"time"

	"connectrpc.com/connect"

	v1 "github.com/wicket-vpn/wicket/proto/gen/wicket/v1"
	"github.com/wicket-vpn/wicket/server/internal/servertest"
	"github.com/wicket-vpn/wicket/server/internal/service"
)

// TestGatewaysPageListsAndRevokesTokens: an admin who learns that a
// gateway host was compromised finds its token on the Gateways page by
// name, sees when it was last used, and revokes it there, which drops the
// gateway connected with it at once; a forged form revokes nothing.
func TestGatewaysPageListsAndRevokesTokens(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	loc := s.CreateLocation(&v1.Location{Name: "Depot"})
	c := newClient(t, s)
	c.signIn("admin", "admin-password")

	made := s.Clock.Now().UTC()
	c.get("/gateways")
	code, body := c.post("/gateways/token", url.Values{"location": {loc.Id}, "name": {"depot-gw-1"}, "expires": {"30"}})
	if code != http.StatusOK {
		t.Fatalf("create token: %d\n%s", code, text(body))
	}
	tok := regexp.MustCompile(`wgt_[A-Za-z0-9_-]+`).FindString(body)
	if tok == "" {
		t.Fatalf("no token on the page:\n%s", text(body))
	}
	mustContain(t, body, "depot-gw-1", made.AddDate(0, 0, 30).Format("2 Jan 2006 15:04")+" UTC")

	// A name that reads as another one is refused, and nothing is made.
	c.get("/gateways")
	_, body = c.post("/gateways/token", url.Values{"location": {loc.Id}, "name": {"depot\u202Egw"}})
	mustContain(t, body, "name: contains the invisible direction control U+202E")

	// The gateway connects with the token.
	ctx, cancel := context.WithCancel(servertest.Ctx(t))
	defer cancel()
	stream, err := s.Gateway.SyncPeers(ctx, servertest.Req("", &v1.SyncPeersRequest{GatewayToken: tok}))
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Close()
	if !stream.Receive() || stream.Msg().Snapshot == nil {
		t.Fatalf("no snapshot for the token: %v", stream.Err())
	}
	s.Clock.Advance(5 * time.Minute)

	_, body = c.get("/gateways")
	toks, err := s.Svc.ListGatewayTokens(ctx, service.Actor{Username: "admin", Admin: true}, loc.Id)
	if err != nil || len(toks) != 1 {
		t.Fatalf("tokens %v, %v", toks, err)
	}
	id := toks[0].ID
	row := regexp.MustCompile(`(?s)<tr id="token-` + id + `">.*?</tr>`).FindString(body)
	if row == "" {
		t.Fatalf("no row for the token:\n%s", text(body))
	}
	// Name, created, last use, expiry and the open stream.
	mustContain(t, row, "depot-gw-1", made.Format("2 Jan 2006 15:04")+" UTC", "5 min ago", made.AddDate(0, 0, 30).Format("2 Jan 2006 15:04")+" UTC", `<td data-label="Connected now">1</td>`)

	// Without the page's CSRF token the Revoke button's form does nothing.
	revoke := "/gateways/tokens/" + id + "/revoke"
	if code, _ := c.postRaw(revoke, url.Values{}); code != http.StatusForbidden {
		t.Fatalf("revoke without the form token: %d", code)
	}
	if _, err := s.Svc.GatewayLocation(ctx, tok); err != nil {
		t.Fatalf("a refused form revoked the token: %v", err)
	}

	_, body = c.get("/gateways")
	mustContain(t, body, `action="`+revoke+`"`)
	code, body = c.post(revoke, url.Values{"what": {"The gateway token “depot-gw-1” of Depot"}})
	if code != http.StatusOK {
		t.Fatalf("revoke: %d\n%s", code, text(body))
	}
	mustContain(t, body, "The gateway token “depot-gw-1” of Depot was revoked. Gateways using it were disconnected")
	if regexp.MustCompile(`<tr id="token-` + id + `">`).MatchString(body) {
		t.Fatalf("the revoked token is still listed:\n%s", text(body))
	}
	// The connected gateway's stream ends at once, saying why.
	if stream.Receive() {
		t.Fatalf("the revoked gateway got %v", stream.Msg())
	}
	if err := stream.Err(); connect.CodeOf(err) != connect.CodeUnauthenticated {
		t.Fatalf("stream ended with %v, want Unauthenticated", err)
	}

	// Revoking again reports it, on the page.
	c.get("/gateways")
	_, body = c.post(revoke, nil)
	mustContain(t, body, "gateway token not found; it may have been revoked already")
}
