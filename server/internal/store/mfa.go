package store

import (
	"context"
	"database/sql"
	"errors"
	"time"
)

// Challenge purposes.
const (
	PurposeConnect    = "connect"
	PurposeEmailSetup = "email_setup"
	// PurposeLogin is a sign-in waiting for its second factor, and a
	// step-up of a signed-in token.
	PurposeLogin = "login"
	// PurposePasskeySetup is a passkey being added; Ceremony holds the
	// registration's state.
	PurposePasskeySetup = "passkey_setup"
)

// Challenge is one started second-factor check.
type Challenge struct {
	Hash       string
	Purpose    string
	UserID     string
	DeviceID   string
	LocationID string
	Method     int
	CodeHash   string
	Attempts   int
	CreatedAt  time.Time
	ExpiresAt  time.Time
	UsedAt     time.Time
	// BoundToken is the hash of the bearer token a step-up proves a factor
	// for; empty for every other challenge.
	BoundToken string
	// RemoteAddr is the address the challenge was asked from.
	RemoteAddr string
	// ApprovedAt and RefusedAt: a connection confirmed (or refused) with
	// a passkey in a browser, waiting for the device to take it.
	ApprovedAt time.Time
	RefusedAt  time.Time
	// Ceremony is a passkey setup's registration state.
	Ceremony string
}

const challengeCols = `token_hash, purpose, user_id, device_id, location_id, method, code_hash, attempts, created_at, expires_at, used_at, bound_token, remote_addr, approved_at, refused_at, ceremony`

func scanChallenge(sc interface{ Scan(...any) error }) (Challenge, error) {
	var c Challenge
	var cr, ex, us, ap, rf int64
	err := sc.Scan(&c.Hash, &c.Purpose, &c.UserID, &c.DeviceID, &c.LocationID, &c.Method, &c.CodeHash, &c.Attempts, &cr, &ex, &us, &c.BoundToken, &c.RemoteAddr, &ap, &rf, &c.Ceremony)
	if errors.Is(err, sql.ErrNoRows) {
		return c, ErrNotFound
	}
	c.CreatedAt, c.ExpiresAt, c.UsedAt = fromMS(cr), fromMS(ex), fromMS(us)
	c.ApprovedAt, c.RefusedAt = fromMS(ap), fromMS(rf)
	return c, err
}

// CreateChallenge stores a challenge.
func (q *Q) CreateChallenge(ctx context.Context, c Challenge) error {
	_, err := q.exec(ctx, `INSERT INTO mfa_challenges (`+challengeCols+`) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16)`,
		c.Hash, c.Purpose, c.UserID, c.DeviceID, c.LocationID, c.Method, c.CodeHash, c.Attempts, ms(c.CreatedAt), ms(c.ExpiresAt), ms(c.UsedAt), c.BoundToken,
		c.RemoteAddr, ms(c.ApprovedAt), ms(c.RefusedAt), c.Ceremony)
	return err
}

// ChallengeByHash returns a challenge.
func (q *Q) ChallengeByHash(ctx context.Context, hash string) (Challenge, error) {
	return scanChallenge(q.queryRow(ctx, `SELECT `+challengeCols+` FROM mfa_challenges WHERE token_hash=$1`, hash))
}

// LatestChallenge returns the user's newest unused challenge of a purpose.
func (q *Q) LatestChallenge(ctx context.Context, userID, purpose string) (Challenge, error) {
	return scanChallenge(q.queryRow(ctx, `SELECT `+challengeCols+` FROM mfa_challenges WHERE user_id=$1 AND purpose=$2 AND used_at=0 ORDER BY created_at DESC LIMIT 1`, userID, purpose))
}

// UseChallenge marks a challenge used unless it already is; false when
// another request used it first.
func (q *Q) UseChallenge(ctx context.Context, hash string, now time.Time) (bool, error) {
	r, err := q.exec(ctx, `UPDATE mfa_challenges SET used_at=$2 WHERE token_hash=$1 AND used_at=0`, hash, ms(now))
	if err != nil {
		return false, err
	}
	return rowsAffected(r) == 1, nil
}

// DecideChallenge records that a browser approved (or refused) an unused,
// undecided challenge before it expired; false when it was decided, used
// or expired already, so two approvals sent at once are one.
func (q *Q) DecideChallenge(ctx context.Context, hash string, approve bool, now time.Time) (bool, error) {
	col := "refused_at"
	if approve {
		col = "approved_at"
	}
	r, err := q.exec(ctx, `UPDATE mfa_challenges SET `+col+`=$2 WHERE token_hash=$1 AND used_at=0 AND approved_at=0 AND refused_at=0 AND expires_at > $2`, hash, ms(now))
	if err != nil {
		return false, err
	}
	return rowsAffected(r) == 1, nil
}

// SetChallengeCode stores the hash of a code mailed for a challenge.
func (q *Q) SetChallengeCode(ctx context.Context, hash, codeHash string) error {
	r, err := q.exec(ctx, `UPDATE mfa_challenges SET code_hash=$2 WHERE token_hash=$1`, hash, codeHash)
	if err != nil {
		return err
	}
	if rowsAffected(r) == 0 {
		return ErrNotFound
	}
	return nil
}

// CountChallengeAttempt adds a wrong try to a challenge and returns the count.
func (q *Q) CountChallengeAttempt(ctx context.Context, hash string) (int, error) {
	var n int
	err := q.queryRow(ctx, `UPDATE mfa_challenges SET attempts = attempts + 1 WHERE token_hash=$1 RETURNING attempts`, hash).Scan(&n)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, ErrNotFound
	}
	return n, err
}

// RecordMFAFailure stores one wrong code for a user.
func (q *Q) RecordMFAFailure(ctx context.Context, userID string, at time.Time) error {
	_, err := q.exec(ctx, `INSERT INTO mfa_failures (user_id, at) VALUES ($1,$2)`, userID, ms(at))
	return err
}

// MFAFailuresSince returns how many wrong codes the user gave after since and
// when the oldest of them was.
func (q *Q) MFAFailuresSince(ctx context.Context, userID string, since time.Time) (int, time.Time, error) {
	var n int
	var oldest sql.NullInt64
	err := q.queryRow(ctx, `SELECT COUNT(*), MIN(at) FROM mfa_failures WHERE user_id=$1 AND at > $2`, userID, ms(since)).Scan(&n, &oldest)
	return n, fromMS(oldest.Int64), err
}

// RecentMFAFailures returns the times of the user's wrong codes after since, newest first.
func (q *Q) RecentMFAFailures(ctx context.Context, userID string, since time.Time, limit int) ([]time.Time, error) {
	rows, err := q.query(ctx, `SELECT at FROM mfa_failures WHERE user_id=$1 AND at > $2 ORDER BY at DESC LIMIT $3`, userID, ms(since), limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []time.Time
	for rows.Next() {
		var v int64
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		out = append(out, fromMS(v))
	}
	return out, rows.Err()
}

// ClearMFAFailures forgets a user's wrong codes (after a success or an admin reset).
func (q *Q) ClearMFAFailures(ctx context.Context, userID string) error {
	_, err := q.exec(ctx, `DELETE FROM mfa_failures WHERE user_id=$1`, userID)
	return err
}

// UseTOTPStep records that a TOTP time step was used by a user; false when it
// already was (a replayed code).
func (q *Q) UseTOTPStep(ctx context.Context, userID string, step int64, now time.Time) (bool, error) {
	r, err := q.exec(ctx, `INSERT INTO totp_used_steps (user_id, step, used_at) VALUES ($1,$2,$3) ON CONFLICT (user_id, step) DO NOTHING`, userID, step, ms(now))
	if err != nil {
		return false, err
	}
	return rowsAffected(r) == 1, nil
}

// TOTPStepUsed reports whether a user already used a TOTP time step.
func (q *Q) TOTPStepUsed(ctx context.Context, userID string, step int64) (bool, error) {
	var n int
	err := q.queryRow(ctx, `SELECT COUNT(*) FROM totp_used_steps WHERE user_id=$1 AND step=$2`, userID, step).Scan(&n)
	return n > 0, err
}
