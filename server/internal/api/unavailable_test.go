package api_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"connectrpc.com/connect"

	v1 "github.com/wicket-vpn/wicket/proto/gen/wicket/v1"
	"github.com/wicket-vpn/wicket/server/internal/servertest"
	"github.com/wicket-vpn/wicket/server/internal/service"
)

// TestCannotSaveIsUnavailable makes the database refuse writes, as a
// read-only file does (a full disk answers the same way; see the store's
// tests): calls that must save answer Unavailable with words that say what
// to do, /readyz fails with the reason while /healthz stays up, and all of
// it recovers once writes work again.
func TestCannotSaveIsUnavailable(t *testing.T) {
	s := servertest.New(t, servertest.WithSQLite()) // RefuseWrites is SQLite's
	ctx := servertest.Ctx(t)
	admin := s.AdminToken()
	st := s.Store()
	if err := st.RefuseWrites(ctx, true); err != nil {
		t.Fatal(err)
	}
	_, err := s.Account.Login(ctx, servertest.Req("", &v1.LoginRequest{Username: "admin", Password: "admin-password"}))
	wantCode(t, err, connect.CodeUnavailable, service.UnavailableMsg)
	_, err = s.Admin.CreateLocation(ctx, servertest.Req(admin, &v1.CreateLocationRequest{Location: &v1.Location{Name: "Office", Address: "10.10.0.1/24", Endpoint: "127.0.0.1:51820"}}))
	wantCode(t, err, connect.CodeUnavailable, service.UnavailableMsg)

	get := func(path string) (int, string) {
		t.Helper()
		resp, err := s.HTTP.Get(s.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get("/readyz"); code != http.StatusServiceUnavailable || !strings.Contains(body, "cannot save") || !strings.Contains(body, "readonly") {
		t.Fatalf("/readyz while writes fail: %d %q", code, body)
	}
	if code, body := get("/healthz"); code != http.StatusOK {
		t.Fatalf("/healthz while writes fail: %d %q (the process is alive; restarting it frees no disk)", code, body)
	}

	if err := st.RefuseWrites(ctx, false); err != nil {
		t.Fatal(err)
	}
	if code, body := get("/readyz"); code != http.StatusOK {
		t.Fatalf("/readyz once writes work: %d %q", code, body)
	}
	if _, err := s.Account.Login(ctx, servertest.Req("", &v1.LoginRequest{Username: "admin", Password: "admin-password"})); err != nil {
		t.Fatal(err)
	}
}
