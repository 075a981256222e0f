package store

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"time"
)

// Location is one VPN location with its gateway interface.
type Location struct {
	ID                             string
	Name                           string
	Address                        string
	ListenPort                     int
	Endpoint                       string
	AllowedIPs                     []string
	DNS                            []string
	KeepaliveSeconds               int
	MFA                            bool
	PeerDisconnectThresholdSeconds int
	PrivateKey                     string // sealed
	PublicKey                      string
	AllowedGroups                  []string
	ConfigVersion                  uint64
	MTU                            int
	MaxSessionSeconds              int
	CreatedAt                      time.Time
	// AllowedMFAMethods are the MfaMethod numbers the location accepts;
	// empty accepts every method.
	AllowedMFAMethods []int
}

const locationCols = `id, name, address, listen_port, endpoint, allowed_ips, dns, keepalive_seconds, mfa_mode, peer_disconnect_threshold_seconds, private_key, public_key, allowed_groups, config_version, mtu, max_session_seconds, created_at, allowed_mfa_methods`

func scanLocation(sc interface{ Scan(...any) error }) (Location, error) {
	var l Location
	var allowed, dns, groups, methods string
	var mfa int
	var version, created int64
	err := sc.Scan(&l.ID, &l.Name, &l.Address, &l.ListenPort, &l.Endpoint, &allowed, &dns, &l.KeepaliveSeconds, &mfa, &l.PeerDisconnectThresholdSeconds, &l.PrivateKey, &l.PublicKey, &groups, &version, &l.MTU, &l.MaxSessionSeconds, &created, &methods)
	if errors.Is(err, sql.ErrNoRows) {
		return l, ErrNotFound
	}
	l.AllowedIPs, l.DNS, l.AllowedGroups = splitList(allowed), splitList(dns), splitList(groups)
	l.MFA = mfa == 2
	l.AllowedMFAMethods = splitInts(methods)
	l.ConfigVersion = uint64(version)
	l.CreatedAt = fromMS(created)
	return l, err
}

func mfaMode(b bool) int {
	if b {
		return 2
	}
	return 1
}

// CreateLocation inserts a location; ErrConflict when the name is taken.
func (q *Q) CreateLocation(ctx context.Context, l Location) error {
	_, err := q.exec(ctx, `INSERT INTO locations (`+locationCols+`) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18)`,
		l.ID, l.Name, l.Address, l.ListenPort, l.Endpoint, joinList(l.AllowedIPs), joinList(l.DNS), l.KeepaliveSeconds, mfaMode(l.MFA), l.PeerDisconnectThresholdSeconds,
		l.PrivateKey, l.PublicKey, joinList(l.AllowedGroups), int64(l.ConfigVersion), l.MTU, l.MaxSessionSeconds, ms(l.CreatedAt), joinInts(l.AllowedMFAMethods))
	if isUnique(err) {
		return ErrConflict
	}
	return err
}

// UpdateLocation writes the editable columns and the new config version.
func (q *Q) UpdateLocation(ctx context.Context, l Location) error {
	r, err := q.exec(ctx, `UPDATE locations SET name=$2, address=$3, listen_port=$4, endpoint=$5, allowed_ips=$6, dns=$7, keepalive_seconds=$8, mfa_mode=$9,
		peer_disconnect_threshold_seconds=$10, allowed_groups=$11, config_version=$12, mtu=$13, max_session_seconds=$14, allowed_mfa_methods=$15 WHERE id=$1`,
		l.ID, l.Name, l.Address, l.ListenPort, l.Endpoint, joinList(l.AllowedIPs), joinList(l.DNS), l.KeepaliveSeconds, mfaMode(l.MFA),
		l.PeerDisconnectThresholdSeconds, joinList(l.AllowedGroups), int64(l.ConfigVersion), l.MTU, l.MaxSessionSeconds, joinInts(l.AllowedMFAMethods))
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

// LocationByID returns a location.
func (q *Q) LocationByID(ctx context.Context, id string) (Location, error) {
	return scanLocation(q.queryRow(ctx, `SELECT `+locationCols+` FROM locations WHERE id=$1`, id))
}

// LocationAndAddress returns the location and the device's address in it,
// "" when the device has none yet, in one statement.
func (q *Q) LocationAndAddress(ctx context.Context, id, deviceID string) (Location, string, error) {
	var addr string
	l, err := scanLocation(withMore{q.queryRow(ctx, locationAndAddress, id, deviceID), []any{&addr}})
	return l, addr, err
}

var locationAndAddress = `SELECT l.` + strings.ReplaceAll(locationCols, ", ", ", l.") + `, COALESCE(a.address, '')
	FROM locations AS l LEFT JOIN addresses AS a ON a.location_id = l.id AND a.device_id = $2 AND a.device_id <> ''
	WHERE l.id = $1`

// withMore scans a row's first columns into what its caller asks and the
// rest into more.
type withMore struct {
	sc   interface{ Scan(...any) error }
	more []any
}

func (w withMore) Scan(dest ...any) error { return w.sc.Scan(append(dest, w.more...)...) }

// LocationByPublicKey returns the location whose gateway has the public key.
func (q *Q) LocationByPublicKey(ctx context.Context, key string) (Location, error) {
	return scanLocation(q.queryRow(ctx, `SELECT `+locationCols+` FROM locations WHERE public_key=$1`, key))
}

// ListLocations returns every location by name.
func (q *Q) ListLocations(ctx context.Context) ([]Location, error) {
	rows, err := q.query(ctx, `SELECT `+locationCols+` FROM locations ORDER BY name`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Location
	for rows.Next() {
		l, err := scanLocation(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, l)
	}
	return out, rows.Err()
}

// DeleteLocation removes a location with its addresses and gateway tokens.
func (q *Q) DeleteLocation(ctx context.Context, id string) error {
	r, err := q.exec(ctx, `DELETE FROM locations WHERE id=$1`, id)
	if err != nil {
		return err
	}
	if rowsAffected(r) == 0 {
		return ErrNotFound
	}
	return nil
}

// Meta returns a setting, "" when unset.
func (q *Q) Meta(ctx context.Context, key string) (string, error) {
	var v string
	err := q.queryRow(ctx, `SELECT value FROM meta WHERE key=$1`, key).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	return v, err
}

// SetMeta stores a setting.
func (q *Q) SetMeta(ctx context.Context, key, value string) error {
	_, err := q.exec(ctx, `INSERT INTO meta (key, value) VALUES ($1,$2) ON CONFLICT (key) DO UPDATE SET value=excluded.value`, key, value)
	return err
}

// InitMeta stores a setting unless it exists and returns the stored value.
func (q *Q) InitMeta(ctx context.Context, key, value string) (string, error) {
	if _, err := q.exec(ctx, `INSERT INTO meta (key, value) VALUES ($1,$2) ON CONFLICT (key) DO NOTHING`, key, value); err != nil {
		return "", err
	}
	return q.Meta(ctx, key)
}

// BumpConfigVersion raises the instance's configuration version and returns it.
func (q *Q) BumpConfigVersion(ctx context.Context) (uint64, error) {
	if _, err := q.exec(ctx, `INSERT INTO meta (key, value) VALUES ('config_version', '0') ON CONFLICT (key) DO NOTHING`); err != nil {
		return 0, err
	}
	var v int64
	// CAST keeps the arithmetic numeric on both engines.
	err := q.queryRow(ctx, `UPDATE meta SET value = CAST(CAST(value AS BIGINT) + 1 AS TEXT) WHERE key='config_version' RETURNING CAST(value AS BIGINT)`).Scan(&v)
	return uint64(v), err
}

// ConfigVersion returns the instance's configuration version.
func (q *Q) ConfigVersion(ctx context.Context) (uint64, error) {
	var v int64
	err := q.queryRow(ctx, `SELECT CAST(value AS BIGINT) FROM meta WHERE key='config_version'`).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	return uint64(v), err
}
