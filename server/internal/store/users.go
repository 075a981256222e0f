package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// User is an account.
type User struct {
	ID           string
	Username     string
	Email        string
	PasswordHash string
	Admin        bool
	Groups       []string
	// TOTPSecret is sealed; set while TOTP is on.
	TOTPSecret  string
	TOTPEnabled bool
	// TOTPPending is a sealed secret waiting for its confirming code.
	TOTPPending string
	EmailMFA    bool
	// Passkeys counts the user's passkeys (read only: see passkeys.go).
	Passkeys   int
	LastMailAt time.Time
	CreatedAt  time.Time
}

const userCols = `id, username, email, password_hash, admin, groups_csv, totp_secret, totp_enabled, totp_pending, email_mfa_enabled, last_mail_at, created_at`

// userSelect reads a user with the count of their passkeys, so that
// every read of a user knows all of its factors.
const userSelect = `SELECT ` + userCols + `, (SELECT COUNT(*) FROM passkeys p WHERE p.user_id = users.id) FROM users`

func scanUser(sc interface{ Scan(...any) error }) (User, error) {
	var u User
	var admin, totp, email int
	var groups string
	var lastMail, created int64
	err := sc.Scan(&u.ID, &u.Username, &u.Email, &u.PasswordHash, &admin, &groups, &u.TOTPSecret, &totp, &u.TOTPPending, &email, &lastMail, &created, &u.Passkeys)
	if errors.Is(err, sql.ErrNoRows) {
		return u, ErrNotFound
	}
	if err != nil {
		return u, err
	}
	u.Admin, u.TOTPEnabled, u.EmailMFA = admin == 1, totp == 1, email == 1
	u.Groups = splitList(groups)
	u.LastMailAt, u.CreatedAt = fromMS(lastMail), fromMS(created)
	return u, nil
}

// CreateUser inserts a user; ErrConflict when the username is taken.
func (q *Q) CreateUser(ctx context.Context, u User) error {
	_, err := q.exec(ctx, `INSERT INTO users (`+userCols+`) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12)`,
		u.ID, u.Username, u.Email, u.PasswordHash, b2i(u.Admin), joinList(u.Groups), u.TOTPSecret, b2i(u.TOTPEnabled), u.TOTPPending, b2i(u.EmailMFA), ms(u.LastMailAt), ms(u.CreatedAt))
	if isUnique(err) {
		return ErrConflict
	}
	return err
}

// UpdateUser writes every column of u.
func (q *Q) UpdateUser(ctx context.Context, u User) error {
	r, err := q.exec(ctx, `UPDATE users SET username=$2, email=$3, password_hash=$4, admin=$5, groups_csv=$6, totp_secret=$7, totp_enabled=$8, totp_pending=$9, email_mfa_enabled=$10 WHERE id=$1`,
		u.ID, u.Username, u.Email, u.PasswordHash, b2i(u.Admin), joinList(u.Groups), u.TOTPSecret, b2i(u.TOTPEnabled), u.TOTPPending, b2i(u.EmailMFA))
	if isUnique(err) {
		return ErrConflict
	}
	if err != nil {
		return err
	}
	if rowsAffected(r) == 0 {
		return ErrNotFound
	}
	return nil
}

// UserByID returns a user.
func (q *Q) UserByID(ctx context.Context, id string) (User, error) {
	return scanUser(q.queryRow(ctx, userSelect+` WHERE id=$1`, id))
}

// UserByUsername returns a user.
func (q *Q) UserByUsername(ctx context.Context, name string) (User, error) {
	return scanUser(q.queryRow(ctx, userSelect+` WHERE username=$1`, name))
}

// ListUsers returns every user by username.
func (q *Q) ListUsers(ctx context.Context) ([]User, error) {
	rows, err := q.query(ctx, userSelect+` ORDER BY username`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []User
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	return out, rows.Err()
}

// DeleteUser removes a user with their devices and tokens.
func (q *Q) DeleteUser(ctx context.Context, id string) error {
	if _, err := q.exec(ctx, `UPDATE addresses SET device_id='' WHERE device_id IN (SELECT id FROM devices WHERE user_id=$1)`, id); err != nil {
		return err
	}
	r, err := q.exec(ctx, `DELETE FROM users WHERE id=$1`, id)
	if err != nil {
		return err
	}
	if rowsAffected(r) == 0 {
		return ErrNotFound
	}
	return nil
}

// CountAdmins returns how many admins exist.
func (q *Q) CountAdmins(ctx context.Context) (int, error) {
	var n int
	err := q.queryRow(ctx, `SELECT COUNT(*) FROM users WHERE admin=1`).Scan(&n)
	return n, err
}

// ClaimMailSlot records a mail to the user at now unless one went out after
// notBefore; it reports whether the mail may be sent and, when not, when the
// last one went out. The conditional update makes it safe across replicas.
func (q *Q) ClaimMailSlot(ctx context.Context, userID string, now, notBefore time.Time) (bool, time.Time, error) {
	r, err := q.exec(ctx, `UPDATE users SET last_mail_at=$2 WHERE id=$1 AND last_mail_at <= $3`, userID, ms(now), ms(notBefore))
	if err != nil {
		return false, time.Time{}, err
	}
	if rowsAffected(r) == 1 {
		return true, now, nil
	}
	var last int64
	if err := q.queryRow(ctx, `SELECT last_mail_at FROM users WHERE id=$1`, userID).Scan(&last); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return false, time.Time{}, ErrNotFound
		}
		return false, time.Time{}, err
	}
	return false, fromMS(last), nil
}

// APIToken is a signed-in user's bearer token.
type APIToken struct {
	Hash      string
	UserID    string
	CreatedAt time.Time
	ExpiresAt time.Time
	// ProvedAt is when the token last proved a second factor; zero: never.
	ProvedAt time.Time
}

// CreateAPIToken stores a bearer token.
func (q *Q) CreateAPIToken(ctx context.Context, t APIToken) error {
	_, err := q.exec(ctx, `INSERT INTO api_tokens (token_hash, user_id, created_at, expires_at, proved_at) VALUES ($1,$2,$3,$4,$5)`, t.Hash, t.UserID, ms(t.CreatedAt), ms(t.ExpiresAt), ms(t.ProvedAt))
	return err
}

// SetTokenProved records that a bearer token proved a second factor at t.
func (q *Q) SetTokenProved(ctx context.Context, hash string, t time.Time) error {
	r, err := q.exec(ctx, `UPDATE api_tokens SET proved_at=$2 WHERE token_hash=$1`, hash, ms(t))
	if err != nil {
		return err
	}
	if rowsAffected(r) == 0 {
		return ErrNotFound
	}
	return nil
}

// LockUser takes the user's row for the rest of the transaction, so that
// checks and records about the user (wrong codes, lockout) made in it are
// one step for every replica. The update changes nothing; PostgreSQL holds
// the row lock until commit. SQLite's transaction already holds the
// database, and is spared the statement and the page it would dirty.
func (q *Q) LockUser(ctx context.Context, userID string) error {
	if q.serial {
		return nil
	}
	r, err := q.exec(ctx, `UPDATE users SET last_mail_at = last_mail_at WHERE id=$1`, userID)
	if err != nil {
		return err
	}
	if rowsAffected(r) == 0 {
		return ErrNotFound
	}
	return nil
}

// APITokenByHash returns a bearer token.
func (q *Q) APITokenByHash(ctx context.Context, hash string) (APIToken, error) {
	var t APIToken
	var c, e, p int64
	err := q.queryRow(ctx, `SELECT token_hash, user_id, created_at, expires_at, proved_at FROM api_tokens WHERE token_hash=$1`, hash).Scan(&t.Hash, &t.UserID, &c, &e, &p)
	if errors.Is(err, sql.ErrNoRows) {
		return t, ErrNotFound
	}
	t.CreatedAt, t.ExpiresAt, t.ProvedAt = fromMS(c), fromMS(e), fromMS(p)
	return t, err
}

// DeleteAPIToken removes a bearer token (sign-out).
func (q *Q) DeleteAPIToken(ctx context.Context, hash string) error {
	_, err := q.exec(ctx, `DELETE FROM api_tokens WHERE token_hash=$1`, hash)
	return err
}

// DeleteExpired removes expired tokens and challenges and old failure and
// TOTP-step records; it returns how many rows went.
func (q *Q) DeleteExpired(ctx context.Context, now time.Time, keep time.Duration) (int64, error) {
	var total int64
	for _, stmt := range []struct {
		sql string
		arg int64
	}{
		{`DELETE FROM api_tokens WHERE expires_at < $1`, ms(now)},
		{`DELETE FROM enrollment_tokens WHERE expires_at < $1`, ms(now.Add(-keep))},
		{`DELETE FROM mfa_challenges WHERE expires_at < $1`, ms(now.Add(-keep))},
		{`DELETE FROM mfa_failures WHERE at < $1`, ms(now.Add(-keep))},
		{`DELETE FROM totp_used_steps WHERE used_at < $1`, ms(now.Add(-keep))},
	} {
		r, err := q.exec(ctx, stmt.sql, stmt.arg)
		if err != nil {
			return total, fmt.Errorf("clean up: %w", err)
		}
		total += rowsAffected(r)
	}
	return total, nil
}

// SetTOTP writes only a user's TOTP columns, so a concurrent admin change
// to the rest of the row is never undone.
func (q *Q) SetTOTP(ctx context.Context, userID, secret string, enabled bool, pending string) error {
	r, err := q.exec(ctx, `UPDATE users SET totp_secret=$2, totp_enabled=$3, totp_pending=$4 WHERE id=$1`, userID, secret, b2i(enabled), pending)
	if err != nil {
		return err
	}
	if rowsAffected(r) == 0 {
		return ErrNotFound
	}
	return nil
}

// SetEmailMFA writes only whether a user has email codes on.
func (q *Q) SetEmailMFA(ctx context.Context, userID string, enabled bool) error {
	r, err := q.exec(ctx, `UPDATE users SET email_mfa_enabled=$2 WHERE id=$1`, userID, b2i(enabled))
	if err != nil {
		return err
	}
	if rowsAffected(r) == 0 {
		return ErrNotFound
	}
	return nil
}

// DeleteAPITokensOfUser signs a user out everywhere.
func (q *Q) DeleteAPITokensOfUser(ctx context.Context, userID string) error {
	_, err := q.exec(ctx, `DELETE FROM api_tokens WHERE user_id=$1`, userID)
	return err
}
