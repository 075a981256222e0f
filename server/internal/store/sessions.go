package store

import (
	"context"
	"database/sql"
	"errors"
	"strconv"
	"strings"
	"time"
)

// Session states and end reasons share their numbers with the API.
const (
	StateAuthorized = 1
	StateConnected  = 2
	StateEnded      = 3
)

// Session is one authorized connection of a device to a location.
type Session struct {
	ID              string
	LocationID      string
	DeviceID        string
	UserID          string
	Method          int
	State           int
	PresharedKey    string // sealed; empty for locations without MFA
	AuthorizedAt    time.Time
	LatestHandshake time.Time
	// LastActivity is the latest handshake or the time of the last report
	// in which the bytes received from the client grew.
	LastActivity time.Time
	RxBytes      uint64
	TxBytes      uint64
	Endpoint     string
	EndedAt      time.Time
	EndReason    int
}

// Active reports whether the session has not ended.
func (s Session) Active() bool { return s.EndedAt.IsZero() }

const sessionCols = `id, location_id, device_id, user_id, method, state, preshared_key, authorized_at, latest_handshake, rx_bytes, tx_bytes, endpoint, ended_at, end_reason, last_activity`

func scanSession(sc interface{ Scan(...any) error }) (Session, error) {
	var s Session
	var a, h, e, rx, tx, la int64
	err := sc.Scan(&s.ID, &s.LocationID, &s.DeviceID, &s.UserID, &s.Method, &s.State, &s.PresharedKey, &a, &h, &rx, &tx, &s.Endpoint, &e, &s.EndReason, &la)
	if errors.Is(err, sql.ErrNoRows) {
		return s, ErrNotFound
	}
	s.AuthorizedAt, s.LatestHandshake, s.EndedAt, s.LastActivity = fromMS(a), fromMS(h), fromMS(e), fromMS(la)
	s.RxBytes, s.TxBytes = uint64(rx), uint64(tx)
	return s, err
}

// CreateSession inserts an active session; ErrConflict when the device
// already has one on the location.
func (q *Q) CreateSession(ctx context.Context, s Session) error {
	if s.LatestHandshake.After(s.LastActivity) {
		s.LastActivity = s.LatestHandshake // a handshake is activity
	}
	_, err := q.exec(ctx, `INSERT INTO sessions (`+sessionCols+`) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15)`,
		s.ID, s.LocationID, s.DeviceID, s.UserID, s.Method, s.State, s.PresharedKey, ms(s.AuthorizedAt), ms(s.LatestHandshake), int64(s.RxBytes), int64(s.TxBytes), s.Endpoint, ms(s.EndedAt), s.EndReason, ms(s.LastActivity))
	if isUnique(err) {
		return ErrConflict
	}
	return err
}

// SessionByID returns a session.
func (q *Q) SessionByID(ctx context.Context, id string) (Session, error) {
	return scanSession(q.queryRow(ctx, `SELECT `+sessionCols+` FROM sessions WHERE id=$1`, id))
}

// ActiveSession returns the device's active session on a location.
func (q *Q) ActiveSession(ctx context.Context, locationID, deviceID string) (Session, error) {
	return scanSession(q.queryRow(ctx, `SELECT `+sessionCols+` FROM sessions WHERE location_id=$1 AND device_id=$2 AND ended_at=0`, locationID, deviceID))
}

// SessionFilter selects sessions to list.
type SessionFilter struct {
	LocationID string
	DeviceID   string
	UserID     string
	ActiveOnly bool
	Limit      int
}

// ListSessions returns sessions, newest first.
func (q *Q) ListSessions(ctx context.Context, f SessionFilter) ([]Session, error) {
	var where []string
	var args []any
	add := func(cond string, v any) {
		args = append(args, v)
		where = append(where, strings.Replace(cond, "?", "$"+itoa(len(args)), 1))
	}
	if f.LocationID != "" {
		add("location_id=?", f.LocationID)
	}
	if f.DeviceID != "" {
		add("device_id=?", f.DeviceID)
	}
	if f.UserID != "" {
		add("user_id=?", f.UserID)
	}
	if f.ActiveOnly {
		add("ended_at=?", 0)
	}
	query := `SELECT ` + sessionCols + ` FROM sessions`
	if len(where) > 0 {
		query += ` WHERE ` + strings.Join(where, " AND ")
	}
	query += ` ORDER BY authorized_at DESC, id`
	if f.Limit > 0 {
		args = append(args, f.Limit)
		query += ` LIMIT $` + itoa(len(args))
	}
	return q.sessions(ctx, query, args...)
}

// CountActiveSessions returns how many sessions have not ended.
func (q *Q) CountActiveSessions(ctx context.Context) (int, error) {
	var n int
	err := q.queryRow(ctx, `SELECT COUNT(*) FROM sessions WHERE ended_at=0`).Scan(&n)
	return n, err
}

func (q *Q) sessions(ctx context.Context, query string, args ...any) ([]Session, error) {
	rows, err := q.query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Session
	for rows.Next() {
		s, err := scanSession(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// EndSession ends an active session; false when it had already ended (so a
// session ends once even when several replicas race to end it).
func (q *Q) EndSession(ctx context.Context, id string, reason int, at time.Time) (bool, error) {
	r, err := q.exec(ctx, `UPDATE sessions SET ended_at=$2, end_reason=$3, state=$4, preshared_key='' WHERE id=$1 AND ended_at=0`, id, ms(at), reason, StateEnded)
	if err != nil {
		return false, err
	}
	return rowsAffected(r) == 1, nil
}

// idleBy is the store's one test of a session's idleness, with the cutoff
// as $2: it is active, and its last activity and its authorization are
// both before the cutoff. (max(a, b) < c exactly when a < c and b < c, so
// listing is a range scan of a partial index.) Which cutoff applies is the
// session package's to say.
const idleBy = `ended_at = 0 AND last_activity < $2 AND authorized_at < $2`

// IdleSessions returns the active sessions of a location whose last
// activity and authorization are both before cutoff.
func (q *Q) IdleSessions(ctx context.Context, locationID string, cutoff time.Time) ([]Session, error) {
	return q.sessions(ctx, `SELECT `+sessionCols+` FROM sessions WHERE location_id=$1 AND `+idleBy, locationID, ms(cutoff))
}

// SessionsAuthorizedBy returns the active sessions of a location
// authorized at or before t.
func (q *Q) SessionsAuthorizedBy(ctx context.Context, locationID string, t time.Time) ([]Session, error) {
	return q.sessions(ctx, `SELECT `+sessionCols+` FROM sessions WHERE location_id=$1 AND ended_at=0 AND authorized_at <= $2`, locationID, ms(t))
}

// RecordStats stores what a gateway reported at now for the active session
// of a peer; the first handshake makes it connected. The session's last
// activity becomes now when the bytes received from the client grew (a
// keepalive counts), else its latest handshake if that is newer. It
// returns the session's id, or ErrNotFound when no active session has that
// key.
func (q *Q) RecordStats(ctx context.Context, locationID, publicKey string, handshake time.Time, rx, tx uint64, endpoint string, now time.Time) (string, error) {
	var id string
	state := StateAuthorized
	if !handshake.IsZero() {
		state = StateConnected
	}
	// Every right-hand side reads the row as it was, so rx_bytes here is
	// the previous report's.
	err := q.queryRow(ctx, `UPDATE sessions SET latest_handshake = CASE WHEN $3 > latest_handshake THEN $3 ELSE latest_handshake END,
		last_activity = CASE WHEN $4 > rx_bytes AND $8 > last_activity THEN $8 WHEN $3 > last_activity THEN $3 ELSE last_activity END,
		rx_bytes=$4, tx_bytes=$5, endpoint=$6, state = CASE WHEN $7 = 2 THEN 2 ELSE state END
		WHERE ended_at = 0 AND location_id=$1 AND device_id = (SELECT id FROM devices WHERE public_key=$2) RETURNING id`,
		locationID, publicKey, ms(handshake), int64(rx), int64(tx), endpoint, state, ms(now)).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return "", ErrNotFound
	}
	return id, err
}

func itoa(i int) string { return strconv.Itoa(i) }

// EndIdleSession ends an active session only if it is still idle at
// cutoff (see IdleSessions): a handshake reported after the sweep looked
// keeps the session.
func (q *Q) EndIdleSession(ctx context.Context, id string, reason int, at, cutoff time.Time) (bool, error) {
	r, err := q.exec(ctx, `UPDATE sessions SET ended_at=$3, end_reason=$4, state=$5, preshared_key='' WHERE id=$1 AND `+idleBy,
		id, ms(cutoff), ms(at), reason, StateEnded)
	if err != nil {
		return false, err
	}
	return rowsAffected(r) == 1, nil
}
