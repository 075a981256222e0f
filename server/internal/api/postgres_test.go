package api_test

import (
	"database/sql"
	"strings"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" driver

	"github.com/wicket-vpn/wicket/server/internal/servertest"
)

// TestTOTPSecretSealedOnPostgres: on PostgreSQL as on SQLite, the row of a
// user with an authenticator holds the secret sealed, never in the clear.
func TestTOTPSecretSealedOnPostgres(t *testing.T) {
	s := servertest.New(t, servertest.WithPostgres())
	u := s.CreateUser("alice")
	s.EnableTOTP(u)
	db, err := sql.Open("pgx", s.Database)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var stored string
	if err := db.QueryRowContext(servertest.Ctx(t), `SELECT totp_secret FROM users WHERE id = $1`, u.ID).Scan(&stored); err != nil {
		t.Fatal(err)
	}
	if stored == "" || u.TOTPSecret == "" || strings.Contains(stored, u.TOTPSecret) || strings.Contains(strings.ToUpper(stored), strings.ToUpper(u.TOTPSecret)) {
		t.Fatalf("the stored TOTP secret %q is not the sealed form of %q", stored, u.TOTPSecret)
	}
}
