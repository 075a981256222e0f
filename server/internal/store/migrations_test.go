package store

import (
	"context"
	"testing"
)

// TestThresholdColumnRenameKeepsValues upgrades a database from before
// migration 0006: the thresholds admins set are kept under the new name.
func TestThresholdColumnRenameKeepsValues(t *testing.T) {
	eachEngine(t, func(t *testing.T, db testDB) {
		ctx := context.Background()
		s := db.open(t)
		// Undo 0006 to stand for an install that never ran it.
		for _, stmt := range []string{
			`ALTER TABLE locations RENAME COLUMN peer_disconnect_threshold_seconds TO threshold_seconds`,
			`DELETE FROM schema_migrations WHERE name = '0006_peer_disconnect_threshold.sql'`,
			`INSERT INTO locations (id, name, address, listen_port, endpoint, keepalive_seconds, mfa_mode, threshold_seconds, private_key, public_key, config_version, mtu, created_at)
			VALUES ('office', 'Office', '10.0.0.1/24', 51820, 'vpn:51820', 25, 2, 450, 'k', 'p', 1, 1420, 0)`,
		} {
			if _, err := s.db.ExecContext(ctx, stmt); err != nil {
				t.Fatal(err)
			}
		}
		s.Close()
		s = db.open(t)
		l, err := s.LocationByID(ctx, "office")
		if err != nil || l.PeerDisconnectThresholdSeconds != 450 || !l.MFA {
			t.Fatalf("location after the upgrade = %+v, %v", l, err)
		}
	})
}
