package api_test

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"connectrpc.com/connect"

	v1 "github.com/wicket-vpn/wicket/proto/gen/wicket/v1"
	"github.com/wicket-vpn/wicket/server/internal/servertest"
	"github.com/wicket-vpn/wicket/server/internal/service"
	"github.com/wicket-vpn/wicket/server/internal/store/storetest"
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

// TestUnreachableDatabaseIsUnavailable: PostgreSQL stops taking this
// server's connections (down, restarting, failing over): calls answer
// Unavailable with words that say to try again, not Internal, and work
// again once the database is back.
func TestUnreachableDatabaseIsUnavailable(t *testing.T) {
	s := servertest.New(t, servertest.WithPostgres())
	ctx := servertest.Ctx(t)
	u := s.CreateUser("alice")
	u2, err := url.Parse(s.Database)
	if err != nil {
		t.Fatal(err)
	}
	name := strings.TrimPrefix(u2.Path, "/")
	admin := storetest.Admin(t)
	if _, err := admin.ExecContext(ctx, "ALTER DATABASE "+name+" ALLOW_CONNECTIONS false"); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.ExecContext(ctx, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()", name); err != nil {
		t.Fatal(err)
	}
	_, err = s.Account.GetProfile(ctx, servertest.Req(u.Token, &v1.GetProfileRequest{}))
	wantCode(t, err, connect.CodeUnavailable, "The server cannot reach its database right now; try again shortly.")
	if _, err := admin.ExecContext(ctx, "ALTER DATABASE "+name+" ALLOW_CONNECTIONS true"); err != nil {
		t.Fatal(err)
	}
	// Each pooled connection the database ended fails once more, as
	// Unavailable, and is replaced; then calls work.
	for try := 0; ; try++ {
		_, err := s.Account.GetProfile(ctx, servertest.Req(u.Token, &v1.GetProfileRequest{}))
		if err == nil {
			break
		}
		wantCode(t, err, connect.CodeUnavailable, "The server cannot reach its database right now; try again shortly.")
		if try > 10 {
			t.Fatalf("still failing after %d calls once the database is back: %v", try+1, err)
		}
	}
}
