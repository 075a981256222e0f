package store

import (
	"context"
	"database/sql"
	"errors"
	"time"
)

// Passkey is a user's WebAuthn credential: a passkey or a security key.
type Passkey struct {
	ID     string
	UserID string
	Name   string
	// CredentialID and PublicKey are base64url, as the authenticator gave
	// them; PublicKey is COSE-encoded.
	CredentialID   string
	PublicKey      string
	SignCount      uint32
	AAGUID         string // hex; empty when the authenticator gave none
	BackupEligible bool
	Transports     []string
	CreatedAt      time.Time
	LastUsedAt     time.Time
}

const passkeyCols = `id, user_id, name, credential_id, public_key, sign_count, aaguid, backup_eligible, transports, created_at, last_used_at`

func scanPasskey(sc interface{ Scan(...any) error }) (Passkey, error) {
	var p Passkey
	var count, created, used int64
	var be int
	var transports string
	err := sc.Scan(&p.ID, &p.UserID, &p.Name, &p.CredentialID, &p.PublicKey, &count, &p.AAGUID, &be, &transports, &created, &used)
	if errors.Is(err, sql.ErrNoRows) {
		return p, ErrNotFound
	}
	p.SignCount, p.BackupEligible, p.Transports = uint32(count), be == 1, splitList(transports)
	p.CreatedAt, p.LastUsedAt = fromMS(created), fromMS(used)
	return p, err
}

// CreatePasskey stores a passkey; ErrConflict when its credential id is
// already stored (for this user or another).
func (q *Q) CreatePasskey(ctx context.Context, p Passkey) error {
	_, err := q.exec(ctx, `INSERT INTO passkeys (`+passkeyCols+`) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11)`,
		p.ID, p.UserID, p.Name, p.CredentialID, p.PublicKey, int64(p.SignCount), p.AAGUID, b2i(p.BackupEligible), joinList(p.Transports), ms(p.CreatedAt), ms(p.LastUsedAt))
	if isUnique(err) {
		return ErrConflict
	}
	return err
}

// PasskeysOfUser returns a user's passkeys, oldest first.
func (q *Q) PasskeysOfUser(ctx context.Context, userID string) ([]Passkey, error) {
	rows, err := q.query(ctx, `SELECT `+passkeyCols+` FROM passkeys WHERE user_id=$1 ORDER BY created_at, id`, userID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Passkey
	for rows.Next() {
		p, err := scanPasskey(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// UsePasskey records an assertion of a passkey: its new sign counter and
// the time.
func (q *Q) UsePasskey(ctx context.Context, id string, signCount uint32, at time.Time) error {
	r, err := q.exec(ctx, `UPDATE passkeys SET sign_count=$2, last_used_at=$3 WHERE id=$1`, id, int64(signCount), ms(at))
	if err != nil {
		return err
	}
	if rowsAffected(r) == 0 {
		return ErrNotFound
	}
	return nil
}

// DeletePasskey removes one passkey of a user.
func (q *Q) DeletePasskey(ctx context.Context, userID, id string) error {
	r, err := q.exec(ctx, `DELETE FROM passkeys WHERE id=$1 AND user_id=$2`, id, userID)
	if err != nil {
		return err
	}
	if rowsAffected(r) == 0 {
		return ErrNotFound
	}
	return nil
}

// DeletePasskeysOfUser removes every passkey of a user (an admin's MFA reset).
func (q *Q) DeletePasskeysOfUser(ctx context.Context, userID string) error {
	_, err := q.exec(ctx, `DELETE FROM passkeys WHERE user_id=$1`, userID)
	return err
}
