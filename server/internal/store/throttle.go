package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// PasswordFailureKeep is how long wrong passwords are kept. Every throttle
// rule looks back less than this: its window and its longest wait.
const PasswordFailureKeep = time.Hour

// PasswordScope says which wrong passwords a throttle rule counts.
type PasswordScope int

// The scopes of the password throttle.
const (
	// ScopeAccountSource counts one account from one source, since the
	// last right password from there.
	ScopeAccountSource PasswordScope = iota
	// ScopeAccount counts one account from every source.
	ScopeAccount
	// ScopeSource counts every account from one source.
	ScopeSource
)

// LockPasswordAttempt marks that a password for account is being tried from
// source. Called first in the transaction that checks and records the try,
// it makes concurrent tries for the same account or source wait for each
// other on engines that run transactions side by side (PostgreSQL); the
// account is always taken before the source, so two tries cannot deadlock.
func (q *Q) LockPasswordAttempt(ctx context.Context, account, source string, now time.Time) error {
	for _, key := range []string{"a:" + account, "s:" + source} {
		if _, err := q.exec(ctx, `INSERT INTO password_throttle_locks (key, at) VALUES ($1,$2)
			ON CONFLICT (key) DO UPDATE SET at = excluded.at`, key, ms(now)); err != nil {
			return fmt.Errorf("lock password attempts: %w", err)
		}
	}
	return nil
}

// RecentPasswordFailures looks at the wrong passwords of a scope: newest is
// the newest one after since (zero when there is none), and n how many came
// within window before it, newest included.
func (q *Q) RecentPasswordFailures(ctx context.Context, scope PasswordScope, account, source string, since time.Time, window time.Duration) (newest time.Time, n int, err error) {
	var where string
	var args []any
	switch scope {
	case ScopeAccountSource:
		where, args = `account=$1 AND source=$2 AND forgiven=0`, []any{account, source}
	case ScopeAccount:
		where, args = `account=$1`, []any{account}
	case ScopeSource:
		where, args = `source=$1`, []any{source}
	default:
		return time.Time{}, 0, fmt.Errorf("unknown password scope %d", scope)
	}
	p := "$" + itoa(len(args)+1)
	var v sql.NullInt64
	if err := q.queryRow(ctx, `SELECT MAX(at) FROM password_failures WHERE `+where+` AND at > `+p, append(args, ms(since))...).Scan(&v); err != nil {
		return time.Time{}, 0, err
	}
	if !v.Valid {
		return time.Time{}, 0, nil
	}
	from := v.Int64 - window.Milliseconds()
	if err := q.queryRow(ctx, `SELECT COUNT(*) FROM password_failures WHERE `+where+` AND at > `+p, append(args, from)...).Scan(&n); err != nil {
		return time.Time{}, 0, err
	}
	return fromMS(v.Int64), n, nil
}

// AddPasswordFailure records a try of a password for account from source
// before it is checked, and returns its id to forget it by when the
// password was right.
func (q *Q) AddPasswordFailure(ctx context.Context, account, source string, at time.Time) (int64, error) {
	var id int64
	err := q.queryRow(ctx, `INSERT INTO password_failures (account, source, at) VALUES ($1,$2,$3) RETURNING id`, account, source, ms(at)).Scan(&id)
	return id, err
}

// ForgetPasswordFailure deletes a recorded try: its password was right, or
// it was never checked.
func (q *Q) ForgetPasswordFailure(ctx context.Context, id int64) error {
	_, err := q.exec(ctx, `DELETE FROM password_failures WHERE id=$1`, id)
	return err
}

// ForgivePasswordFailures stops the wrong passwords for account from source
// counting in ScopeAccountSource, after the right one came from there.
func (q *Q) ForgivePasswordFailures(ctx context.Context, account, source string) error {
	_, err := q.exec(ctx, `UPDATE password_failures SET forgiven=1 WHERE account=$1 AND source=$2 AND forgiven=0`, account, source)
	return err
}

// DeleteOldPasswordFailures removes wrong passwords (and lock rows) older
// than PasswordFailureKeep, which no throttle rule looks at any more.
func (q *Q) DeleteOldPasswordFailures(ctx context.Context, now time.Time) (int64, error) {
	cutoff := ms(now.Add(-PasswordFailureKeep))
	var total int64
	for _, stmt := range []string{
		`DELETE FROM password_failures WHERE at < $1`,
		`DELETE FROM password_throttle_locks WHERE at < $1`,
	} {
		r, err := q.exec(ctx, stmt, cutoff)
		if err != nil {
			return total, fmt.Errorf("clean up wrong passwords: %w", err)
		}
		total += rowsAffected(r)
	}
	return total, nil
}
