package store

import (
	"context"
	"database/sql"
	"errors"
	"time"
)

// Device is an enrolled client.
type Device struct {
	ID        string
	UserID    string
	Name      string
	PublicKey string
	TokenHash string
	CreatedAt time.Time
	LastSeen  time.Time
	// ConfigLocationID is the one location a device made as a standard
	// WireGuard config serves as a static peer; "" for a Wicket client.
	ConfigLocationID string
}

const deviceCols = `id, user_id, name, public_key, token_hash, created_at, last_seen, config_location_id`

func scanDevice(sc interface{ Scan(...any) error }) (Device, error) {
	var d Device
	var c, l int64
	err := sc.Scan(&d.ID, &d.UserID, &d.Name, &d.PublicKey, &d.TokenHash, &c, &l, &d.ConfigLocationID)
	if errors.Is(err, sql.ErrNoRows) {
		return d, ErrNotFound
	}
	d.CreatedAt, d.LastSeen = fromMS(c), fromMS(l)
	return d, err
}

// EnrollmentToken lets one new device join a user's account.
type EnrollmentToken struct {
	Hash       string
	UserID     string
	DeviceName string
	CreatedAt  time.Time
	ExpiresAt  time.Time
	UsedAt     time.Time
}

// CreateEnrollmentToken stores an enrollment token.
func (q *Q) CreateEnrollmentToken(ctx context.Context, t EnrollmentToken) error {
	_, err := q.exec(ctx, `INSERT INTO enrollment_tokens (token_hash, user_id, device_name, created_at, expires_at) VALUES ($1,$2,$3,$4,$5)`,
		t.Hash, t.UserID, t.DeviceName, ms(t.CreatedAt), ms(t.ExpiresAt))
	return err
}

// UseEnrollmentToken marks an unused, unexpired token used and returns it;
// ErrNotFound when there is no such token or it is spent or expired.
func (q *Q) UseEnrollmentToken(ctx context.Context, hash string, now time.Time) (EnrollmentToken, error) {
	var t EnrollmentToken
	var c, e int64
	err := q.queryRow(ctx, `UPDATE enrollment_tokens SET used_at=$2 WHERE token_hash=$1 AND used_at=0 AND expires_at > $2
		RETURNING token_hash, user_id, device_name, created_at, expires_at`, hash, ms(now)).Scan(&t.Hash, &t.UserID, &t.DeviceName, &c, &e)
	if errors.Is(err, sql.ErrNoRows) {
		return t, ErrNotFound
	}
	t.CreatedAt, t.ExpiresAt, t.UsedAt = fromMS(c), fromMS(e), now
	return t, err
}

// CreateDevice inserts a device; ErrConflict when the public key is taken.
func (q *Q) CreateDevice(ctx context.Context, d Device) error {
	_, err := q.exec(ctx, `INSERT INTO devices (`+deviceCols+`) VALUES ($1,$2,$3,$4,$5,$6,$7,$8)`,
		d.ID, d.UserID, d.Name, d.PublicKey, d.TokenHash, ms(d.CreatedAt), ms(d.LastSeen), d.ConfigLocationID)
	if isUnique(err) {
		return ErrConflict
	}
	return err
}

// DeviceByID returns a device.
func (q *Q) DeviceByID(ctx context.Context, id string) (Device, error) {
	return scanDevice(q.queryRow(ctx, `SELECT `+deviceCols+` FROM devices WHERE id=$1`, id))
}

// DeviceByTokenHash returns the device a token belongs to.
func (q *Q) DeviceByTokenHash(ctx context.Context, hash string) (Device, error) {
	return scanDevice(q.queryRow(ctx, `SELECT `+deviceCols+` FROM devices WHERE token_hash=$1`, hash))
}

// TouchDevice records that a device was seen at at, unless a time after
// since is recorded already: however often a device calls, and however
// many replicas it reaches, its row is written at most once per interval.
// It reports whether it wrote.
func (q *Q) TouchDevice(ctx context.Context, id string, at, since time.Time) (bool, error) {
	r, err := q.exec(ctx, `UPDATE devices SET last_seen=$2 WHERE id=$1 AND last_seen < $3`, id, ms(at), ms(since))
	if err != nil {
		return false, err
	}
	return rowsAffected(r) > 0, nil
}

// DevicesOfUser lists a user's devices, oldest first.
func (q *Q) DevicesOfUser(ctx context.Context, userID string) ([]Device, error) {
	return q.devices(ctx, `SELECT `+deviceCols+` FROM devices WHERE user_id=$1 ORDER BY created_at, id`, userID)
}

// ListDevices lists every device.
func (q *Q) ListDevices(ctx context.Context) ([]Device, error) {
	return q.devices(ctx, `SELECT `+deviceCols+` FROM devices ORDER BY created_at, id`)
}

func (q *Q) devices(ctx context.Context, query string, args ...any) ([]Device, error) {
	rows, err := q.query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Device
	for rows.Next() {
		d, err := scanDevice(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

// DeleteDevice removes a device; its addresses are released.
func (q *Q) DeleteDevice(ctx context.Context, id string) error {
	if _, err := q.exec(ctx, `UPDATE addresses SET device_id='' WHERE device_id=$1`, id); err != nil {
		return err
	}
	r, err := q.exec(ctx, `DELETE FROM devices WHERE id=$1`, id)
	if err != nil {
		return err
	}
	if rowsAffected(r) == 0 {
		return ErrNotFound
	}
	return nil
}

// AddressOf returns the device's address in a location, or ErrNotFound.
func (q *Q) AddressOf(ctx context.Context, locationID, deviceID string) (string, error) {
	var a string
	err := q.queryRow(ctx, `SELECT address FROM addresses WHERE location_id=$1 AND device_id=$2`, locationID, deviceID).Scan(&a)
	if errors.Is(err, sql.ErrNoRows) {
		return "", ErrNotFound
	}
	return a, err
}

// AddressesOfLocation returns device id → address for a location.
func (q *Q) AddressesOfLocation(ctx context.Context, locationID string) (map[string]string, error) {
	rows, err := q.query(ctx, `SELECT device_id, address FROM addresses WHERE location_id=$1 AND device_id <> ''`, locationID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var d, a string
		if err := rows.Scan(&d, &a); err != nil {
			return nil, err
		}
		out[d] = a
	}
	return out, rows.Err()
}

// UsedAddresses returns every address ever assigned in a location and whether
// it is held by a device now.
func (q *Q) UsedAddresses(ctx context.Context, locationID string) (map[string]bool, error) {
	rows, err := q.query(ctx, `SELECT address, device_id FROM addresses WHERE location_id=$1`, locationID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]bool{}
	for rows.Next() {
		var a, d string
		if err := rows.Scan(&a, &d); err != nil {
			return nil, err
		}
		out[a] = d != ""
	}
	return out, rows.Err()
}

// AssignAddress gives address to a device. A never-used address is inserted;
// a released one (reuse) is taken only while still released. ErrConflict
// when another replica took it first.
func (q *Q) AssignAddress(ctx context.Context, locationID, address, deviceID string, reuse bool, now time.Time) error {
	if reuse {
		r, err := q.exec(ctx, `UPDATE addresses SET device_id=$3, assigned_at=$4 WHERE location_id=$1 AND address=$2 AND device_id=''`, locationID, address, deviceID, ms(now))
		if err != nil {
			return err
		}
		if rowsAffected(r) == 0 {
			return ErrConflict
		}
		return nil
	}
	_, err := q.exec(ctx, `INSERT INTO addresses (location_id, address, device_id, assigned_at) VALUES ($1,$2,$3,$4)`, locationID, address, deviceID, ms(now))
	if isUnique(err) {
		return ErrConflict
	}
	return err
}
