package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/wicket-vpn/wicket/server/internal/daemon"
	"github.com/wicket-vpn/wicket/server/internal/gateway"
	"github.com/wicket-vpn/wicket/server/internal/store"
	"github.com/wicket-vpn/wicket/server/internal/store/storetest"
)

// TestUserAddPostgres: with WICKET_DATABASE naming a PostgreSQL database,
// wicketd user add writes the user there, where a server on the same
// database and data directory (its master key) sees it.
func TestUserAddPostgres(t *testing.T) {
	url := storetest.URL(t)
	dir := t.TempDir()
	ctx := context.Background()
	d, err := daemon.Open(ctx, daemon.Options{DataDir: dir, Database: url, URL: "https://127.0.0.1:1", Gateway: gateway.Off})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if d.Store.Dialect() != store.Postgres {
		t.Fatalf("a postgres:// database opened %s", d.Store.Dialect())
	}
	t.Setenv("WICKET_DATABASE", url)
	cmd := userCmd()
	var out bytes.Buffer
	cmd.SetArgs([]string{"add", "root", "--data-dir", dir, "--email", "root@example.com", "--admin"})
	cmd.SetIn(strings.NewReader("a long enough password\n"))
	cmd.SetOut(&out)
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	if u, err := d.Store.UserByUsername(ctx, "root"); err != nil || !u.Admin {
		t.Fatalf("the server on the database does not see the new user: %+v, %v", u, err)
	}
	if _, err := daemon.OpenStore(ctx, dir, "mysql://x"); err == nil {
		t.Fatal("a database URL that is not postgres:// was taken")
	}
}
