package store

import (
	"context"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestOpenFirstSchema opens a database as the first release made it, with
// only migrations/0001_init.sql applied and some data in it: OpenSQLite
// brings it to the latest schema and every row is still there, with the
// defaults later migrations give old rows.
func TestOpenFirstSchema(t *testing.T) { eachEngine(t, testOpenFirstSchema) }

func testOpenFirstSchema(t *testing.T, tdb testDB) {
	ctx := context.Background()
	made := time.Date(2026, 1, 5, 9, 30, 0, 0, time.UTC)
	seen := made.Add(90 * time.Minute)
	const gatewayHash = "3f2a9c0d1e8b7a6f5e4d3c2b1a0f9e8d7c6b5a4f3e2d1c0b"

	db := tdb.raw(t)
	body, err := migrations.ReadFile("migrations/0001_init.sql")
	if err != nil {
		t.Fatal(err)
	}
	stmts := splitStatements((&Store{dialect: tdb.dialect}).spell(string(body)))
	stmts = append(stmts,
		`CREATE TABLE schema_migrations (name TEXT PRIMARY KEY, applied_at BIGINT NOT NULL)`,
		`INSERT INTO schema_migrations (name, applied_at) VALUES ('0001_init.sql', 1767605400000)`,
		`INSERT INTO meta (key, value) VALUES ('config_version', '7')`,
		`INSERT INTO users (id, username, email, password_hash, admin, groups_csv, totp_secret, totp_enabled, created_at)
			VALUES ('u1', 'alice', 'alice@example.com', 'hash-a', 1, 'staff,ops', 'sealed-secret', 1, `+msText((made))+`)`,
		`INSERT INTO users (id, username, email, password_hash, created_at) VALUES ('u2', 'bob', 'bob@example.com', 'hash-b', `+msText((made))+`)`,
		`INSERT INTO api_tokens (token_hash, user_id, created_at, expires_at) VALUES ('tok-a', 'u1', `+msText((made))+`, `+msText((made.Add(24*time.Hour)))+`)`,
		`INSERT INTO devices (id, user_id, name, public_key, token_hash, created_at, last_seen)
			VALUES ('d1', 'u2', 'laptop', 'pubkey-d1', 'devtok-d1', `+msText((made))+`, `+msText((seen))+`)`,
		`INSERT INTO locations (id, name, address, listen_port, endpoint, allowed_ips, dns, keepalive_seconds, mfa_mode, threshold_seconds,
			private_key, public_key, allowed_groups, config_version, mtu, max_session_seconds, created_at)
			VALUES ('l1', 'Office', '10.10.0.1/24', 51820, 'vpn.example.com:51820', '10.10.0.0/24', '', 25, 1, 300,
			'sealed-key', 'location-pub', 'staff', 3, 1420, 0, `+msText((made))+`)`,
		`INSERT INTO addresses (location_id, address, device_id, assigned_at) VALUES ('l1', '10.10.0.2', 'd1', `+msText((made))+`)`,
		`INSERT INTO sessions (id, location_id, device_id, user_id, method, state, authorized_at, rx_bytes, tx_bytes)
			VALUES ('s1', 'l1', 'd1', 'u2', 1, 1, `+msText((seen))+`, 1200, 3400)`,
		`INSERT INTO mfa_challenges (token_hash, purpose, user_id, method, created_at, expires_at)
			VALUES ('ch-1', 'login', 'u1', 1, `+msText((made))+`, `+msText((made.Add(5*time.Minute)))+`)`,
		`INSERT INTO gateway_tokens (token_hash, location_id, created_at, last_seen) VALUES ('`+gatewayHash+`', 'l1', `+msText((made))+`, `+msText((seen))+`)`,
		`INSERT INTO audit_events (at, actor, action, subject, detail, remote_addr) VALUES (`+msText((made))+`, 'alice', 'user.created', 'bob', '', '192.0.2.1')`,
	)
	for _, stmt := range stmts {
		if _, err := db.ExecContext(ctx, stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	s := tdb.open(t)

	applied := map[string]bool{}
	rows, err := s.db.QueryContext(ctx, `SELECT name FROM schema_migrations`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var n string
		rows.Scan(&n)
		applied[n] = true
	}
	rows.Close()
	names, _ := migrations.ReadDir("migrations")
	var missing []string
	for _, n := range names {
		if !applied[n.Name()] {
			missing = append(missing, n.Name())
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 || len(applied) != len(names) {
		t.Fatalf("after opening, migrations %v are not applied (applied: %v)", missing, applied)
	}

	alice, err := s.UserByUsername(ctx, "alice")
	if err != nil || alice.ID != "u1" || !alice.Admin || alice.Email != "alice@example.com" || strings.Join(alice.Groups, ",") != "staff,ops" || !alice.TOTPEnabled {
		t.Fatalf("alice = %+v, %v", alice, err)
	}
	if users, err := s.ListUsers(ctx); err != nil || len(users) != 2 {
		t.Fatalf("%d users, %v", len(users), err)
	}
	tok, err := s.APITokenByHash(ctx, "tok-a")
	if err != nil || tok.UserID != "u1" || !tok.ExpiresAt.Equal(made.Add(24*time.Hour)) || !tok.ProvedAt.IsZero() {
		t.Fatalf("API token = %+v, %v (an old token has proved no factor)", tok, err)
	}
	dev, err := s.DeviceByTokenHash(ctx, "devtok-d1")
	if err != nil || dev.ID != "d1" || dev.UserID != "u2" || dev.Name != "laptop" || !dev.CreatedAt.Equal(made) || !dev.LastSeen.Equal(seen) {
		t.Fatalf("device = %+v, %v", dev, err)
	}
	loc, err := s.LocationByID(ctx, "l1")
	if err != nil || loc.Name != "Office" || loc.Endpoint != "vpn.example.com:51820" || loc.PeerDisconnectThresholdSeconds != 300 || loc.MTU != 1420 {
		t.Fatalf("location = %+v, %v", loc, err)
	}
	if a, err := s.AddressOf(ctx, "l1", "d1"); err != nil || a != "10.10.0.2" {
		t.Fatalf("address = %q, %v", a, err)
	}
	sess, err := s.SessionByID(ctx, "s1")
	if err != nil || sess.DeviceID != "d1" || sess.RxBytes != 1200 || sess.TxBytes != 3400 || !sess.AuthorizedAt.Equal(seen) {
		t.Fatalf("session = %+v, %v", sess, err)
	}
	ch, err := s.ChallengeByHash(ctx, "ch-1")
	if err != nil || ch.UserID != "u1" || ch.BoundToken != "" {
		t.Fatalf("challenge = %+v, %v", ch, err)
	}
	// 0005 gives old gateway tokens an id from their hash, no name, no
	// expiry, and keeps their last use.
	gw, err := s.GatewayTokenByHash(ctx, gatewayHash)
	if err != nil || gw.ID != gatewayHash[:24] || gw.LocationID != "l1" || gw.Name != "" || !gw.ExpiresAt.IsZero() || gw.Revoked() || !gw.LastUsedAt.Equal(seen) {
		t.Fatalf("gateway token = %+v, %v", gw, err)
	}
	if byID, err := s.GatewayTokenByID(ctx, gatewayHash[:24]); err != nil || byID.Hash != gatewayHash {
		t.Fatalf("gateway token by id = %+v, %v", byID, err)
	}
	events, err := s.ListAuditEvents(ctx, AuditFilter{Limit: 10})
	if err != nil || len(events) != 1 || events[0].Action != "user.created" || events[0].Subject != "bob" {
		t.Fatalf("audit events = %+v, %v", events, err)
	}
	if v, err := s.ConfigVersion(ctx); err != nil || v != 7 {
		t.Fatalf("config version = %d, %v", v, err)
	}

	// The migrated database takes new rows of the later tables.
	if _, err := s.AddPasswordFailure(ctx, "bob", "192.0.2.7", seen); err != nil {
		t.Fatalf("a password failure in the migrated database: %v", err)
	}
	// And opening it again applies nothing twice.
	s.Close()
	again := tdb.open(t)
	if _, err := again.UserByUsername(ctx, "bob"); err != nil {
		t.Fatal(err)
	}
}

// msText is a time as the schema stores it, for SQL text.
func msText(t time.Time) string { return strconv.FormatInt(ms(t), 10) }
