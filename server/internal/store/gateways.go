package store

import (
	"context"
	"database/sql"
	"errors"
	"time"
)

// GatewayToken lets a gateway serve one location. Revoked tokens are kept
// (with RevokedAt set) so that a gateway still using one is told why it is
// refused.
type GatewayToken struct {
	ID         string
	Hash       string
	LocationID string
	Name       string
	CreatedAt  time.Time
	LastUsedAt time.Time // zero until a gateway used it
	ExpiresAt  time.Time // zero: never
	RevokedAt  time.Time // zero: not revoked
}

// Revoked reports whether the token was revoked.
func (t GatewayToken) Revoked() bool { return !t.RevokedAt.IsZero() }

// Expired reports whether the token has expired at now.
func (t GatewayToken) Expired(now time.Time) bool {
	return !t.ExpiresAt.IsZero() && !now.Before(t.ExpiresAt)
}

const gatewayTokenCols = `id, token_hash, location_id, name, created_at, last_seen, expires_at, revoked_at`

func scanGatewayToken(sc interface{ Scan(...any) error }) (GatewayToken, error) {
	var t GatewayToken
	var created, used, expires, revoked int64
	err := sc.Scan(&t.ID, &t.Hash, &t.LocationID, &t.Name, &created, &used, &expires, &revoked)
	if errors.Is(err, sql.ErrNoRows) {
		return t, ErrNotFound
	}
	t.CreatedAt, t.LastUsedAt, t.ExpiresAt, t.RevokedAt = fromMS(created), fromMS(used), fromMS(expires), fromMS(revoked)
	return t, err
}

// CreateGatewayToken stores a gateway token.
func (q *Q) CreateGatewayToken(ctx context.Context, t GatewayToken) error {
	_, err := q.exec(ctx, `INSERT INTO gateway_tokens (`+gatewayTokenCols+`) VALUES ($1,$2,$3,$4,$5,$6,$7,$8)`,
		t.ID, t.Hash, t.LocationID, t.Name, ms(t.CreatedAt), ms(t.LastUsedAt), ms(t.ExpiresAt), ms(t.RevokedAt))
	if isUnique(err) {
		return ErrConflict
	}
	return err
}

// GatewayTokenByHash returns a gateway token, revoked ones included.
func (q *Q) GatewayTokenByHash(ctx context.Context, hash string) (GatewayToken, error) {
	return scanGatewayToken(q.queryRow(ctx, `SELECT `+gatewayTokenCols+` FROM gateway_tokens WHERE token_hash=$1`, hash))
}

// GatewayTokenByID returns a gateway token, revoked ones included.
func (q *Q) GatewayTokenByID(ctx context.Context, id string) (GatewayToken, error) {
	return scanGatewayToken(q.queryRow(ctx, `SELECT `+gatewayTokenCols+` FROM gateway_tokens WHERE id=$1`, id))
}

// ListGatewayTokens returns the tokens not revoked of a location ("" for
// every location), oldest first.
func (q *Q) ListGatewayTokens(ctx context.Context, locationID string) ([]GatewayToken, error) {
	query, args := `SELECT `+gatewayTokenCols+` FROM gateway_tokens WHERE revoked_at = 0 ORDER BY created_at, id`, []any(nil)
	if locationID != "" {
		query, args = `SELECT `+gatewayTokenCols+` FROM gateway_tokens WHERE revoked_at = 0 AND location_id = $1 ORDER BY created_at, id`, []any{locationID}
	}
	rows, err := q.query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []GatewayToken
	for rows.Next() {
		t, err := scanGatewayToken(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// RevokeGatewayToken marks a token revoked at at; ErrNotFound when there is
// no such token or it was revoked already.
func (q *Q) RevokeGatewayToken(ctx context.Context, id string, at time.Time) error {
	r, err := q.exec(ctx, `UPDATE gateway_tokens SET revoked_at=$2 WHERE id=$1 AND revoked_at = 0`, id, ms(at))
	if err != nil {
		return err
	}
	if rowsAffected(r) == 0 {
		return ErrNotFound
	}
	return nil
}

// TouchGatewayToken records a use of the token at at, unless one after
// since is recorded already: the last use is written at most once per
// interval however often gateways call.
func (q *Q) TouchGatewayToken(ctx context.Context, id string, at, since time.Time) error {
	_, err := q.exec(ctx, `UPDATE gateway_tokens SET last_seen=$2 WHERE id=$1 AND last_seen <= $3`, id, ms(at), ms(since))
	return err
}
