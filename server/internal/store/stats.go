package store

import (
	"context"
	"database/sql"
	"errors"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5/pgconn"
)

// PeerStats is what a gateway reported about one peer.
type PeerStats struct {
	PublicKey string
	Handshake time.Time // zero before the first
	Rx, Tx    uint64
	Endpoint  string
}

const stateConnected = "2" // StateConnected, in SQL

// Analyze refreshes the engine's statistics about the tables, which its
// planner goes by; after a bulk import, before the statistics catch up,
// it may choose badly.
func (s *Store) Analyze(ctx context.Context) error {
	_, err := s.db.ExecContext(ctx, "ANALYZE")
	return unavailable(err)
}

// lastOfEachKey sorts the report by key and keeps the last entry of each.
func lastOfEachKey(stats []PeerStats) []PeerStats {
	out := slices.Clone(stats)
	slices.SortStableFunc(out, func(a, b PeerStats) int { return strings.Compare(a.PublicKey, b.PublicKey) })
	w := 0
	for i := range out {
		if i+1 < len(out) && out[i+1].PublicKey == out[i].PublicKey {
			continue
		}
		out[w] = out[i]
		out[w].PublicKey, out[w].Endpoint = cleanText(out[i].PublicKey), cleanText(out[i].Endpoint)
		w++
	}
	return out[:w]
}

// cleanText makes v storable as text on both engines: bytes that are not
// UTF-8, and NUL, which PostgreSQL refuses in text, become U+FFFD. One
// odd endpoint must not lose a whole report.
func cleanText(v string) string {
	for i := 0; i < len(v); i++ {
		if v[i] == 0 || v[i] >= utf8.RuneSelf {
			return strings.ReplaceAll(strings.ToValidUTF8(v, "\uFFFD"), "\x00", "\uFFFD")
		}
	}
	return v
}

// appendJSONString appends v, which is UTF-8, as a JSON string.
func appendJSONString(b []byte, v string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(v); i++ {
		switch c := v[i]; {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c < 0x20:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		default:
			b = append(b, c)
		}
	}
	return append(b, '"')
}

// retryDeadlock runs fn again, a few times, when PostgreSQL chose it as
// a deadlock's victim: the rows are changed in key order, but the
// planner may still take them in another.
func retryDeadlock(ctx context.Context, fn func() error) error {
	for try := 0; ; try++ {
		err := fn()
		var pe *pgconn.PgError
		if try == 3 || !errors.As(err, &pe) || pe.Code != "40P01" || ctx.Err() != nil {
			return err
		}
	}
}

// StatsSession is an active session as a gateway's report addresses it:
// where its row is and the values its report changes, as stored.
type StatsSession struct {
	PublicKey string
	// Row is the session's SQLite rowid; 0 on PostgreSQL, which goes by ID.
	Row       int64
	ID        string
	Handshake int64 // ms, 0 before the first
	Activity  int64 // ms
	State     int
	Rx, Tx    uint64
	Endpoint  string
}

// StatsWriter applies reports to sessions found before (see
// StatsSession). Each of its statements stands alone: a report's
// changes to different sessions need not land together.
type StatsWriter struct {
	s       *Store
	q       *Q
	dialect Dialect
}

// StatsWriter returns the store's StatsWriter.
func (s *Store) StatsWriter() StatsWriter { return StatsWriter{s: s, q: s.Q, dialect: s.dialect} }

// SessionsByKey returns the active sessions of a location whose
// devices have the given keys, in no particular order; keys without one
// are left out.
func (t StatsWriter) SessionsByKey(ctx context.Context, locationID string, keys []string) ([]StatsSession, error) {
	q, dialect := t.q, t.dialect
	if len(keys) == 0 {
		return nil, nil
	}
	var rows *sql.Rows
	var err error
	if dialect == Postgres {
		rows, err = q.query(ctx, statsByKeyPostgres, locationID, keys)
	} else {
		b := make([]byte, 0, len(keys)*48)
		b = append(b, '[')
		for i, k := range keys {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, k)
		}
		b = append(b, ']')
		rows, err = q.query(ctx, statsByKeySQLite, locationID, string(b))
	}
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []StatsSession
	for rows.Next() {
		var s StatsSession
		var rx, tx int64
		if err := rows.Scan(&s.PublicKey, &s.Row, &s.ID, &s.Handshake, &s.Activity, &s.State, &rx, &tx, &s.Endpoint); err != nil {
			return nil, unavailable(err)
		}
		s.Rx, s.Tx = uint64(rx), uint64(tx)
		out = append(out, s)
	}
	return out, unavailable(rows.Err())
}

const statsByKeySQLite = `SELECT j.value, s.rowid, s.id, s.latest_handshake, s.last_activity, s.state, s.rx_bytes, s.tx_bytes, s.endpoint
	FROM json_each($2) AS j CROSS JOIN devices AS d CROSS JOIN sessions AS s
	WHERE d.public_key = j.value AND s.location_id = $1 AND s.device_id = d.id AND s.ended_at = 0`

const statsByKeyPostgres = `SELECT r.k, 0, s.id, s.latest_handshake, s.last_activity, s.state, s.rx_bytes, s.tx_bytes, s.endpoint
	FROM unnest($2::text[]) AS r(k)
	CROSS JOIN LATERAL (SELECT d.id FROM devices AS d WHERE d.public_key = r.k LIMIT 1) AS d
	CROSS JOIN LATERAL (SELECT s.* FROM sessions AS s WHERE s.location_id = $1 AND s.device_id = d.id AND s.ended_at = 0 LIMIT 1) AS s`

// StatsWrite is the change a report makes to one session found before
// (see StatsSession): the handshake and the activity only ever move
// forward in the store, whatever they are here.
type StatsWrite struct {
	Row       int64
	ID        string
	Handshake int64 // ms
	Activity  int64 // ms
	Connected bool
	Rx, Tx    uint64
	Endpoint  string
}

// Write applies writes, each to its session if that is still
// active, and returns the indexes of the writes whose session is not.
// With countersOnly, only the byte counters are written: the rest of
// each write is ignored, and no index of the sessions changes.
func (t StatsWriter) Write(ctx context.Context, writes []StatsWrite, countersOnly bool) ([]int, error) {
	q := t.q
	if len(writes) == 0 {
		return nil, nil
	}
	var r sql.Result
	var err error
	var ids []string
	var doc string
	if t.dialect == Postgres {
		ids = make([]string, len(writes))
		eps := make([]string, len(writes))
		hs, la, rx, tx := make([]int64, len(writes)), make([]int64, len(writes)), make([]int64, len(writes)), make([]int64, len(writes))
		c := make([]bool, len(writes))
		for i, w := range writes {
			ids[i], hs[i], la[i], rx[i], tx[i], eps[i], c[i] = w.ID, w.Handshake, w.Activity, int64(w.Rx), int64(w.Tx), w.Endpoint, w.Connected
		}
		// Rows are changed in the order given; two gateways of a location
		// on two replicas may still lock the same rows in another.
		err = retryDeadlock(ctx, func() error {
			var err error
			if countersOnly {
				r, err = q.exec(ctx, writeCountersPostgres, ids, rx, tx)
			} else {
				r, err = q.exec(ctx, writeStatsPostgres, ids, hs, la, rx, tx, eps, c)
			}
			return err
		})
	} else if countersOnly {
		doc = statsWritesJSON(writes, countersOnly)
		r, err = q.exec(ctx, writeCountersSQLite, doc)
	} else {
		// The report's chunks commit together.
		var n int64
		err = t.s.InTx(ctx, func(q *Q) error {
			var err error
			n, err = writeStatsValues(ctx, q, writes)
			return err
		})
		if err == nil && n == int64(len(writes)) {
			return nil, nil
		}
		doc = statsWritesJSON(writes, countersOnly)
	}
	if err != nil {
		return nil, err
	}
	if r != nil && rowsAffected(r) == int64(len(writes)) {
		return nil, nil
	}
	// Some sessions were not active: which is asked only then.
	var rows *sql.Rows
	if t.dialect == Postgres {
		rows, err = q.query(ctx, inactivePostgres, ids)
	} else {
		rows, err = q.query(ctx, inactiveSQLite, doc)
	}
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	gone := map[string]bool{}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, unavailable(err)
		}
		gone[id] = true
	}
	if err := rows.Err(); err != nil {
		return nil, unavailable(err)
	}
	var missed []int
	for i, w := range writes {
		if gone[w.ID] {
			missed = append(missed, i)
		}
	}
	return missed, nil
}

// statsWritesJSON is writes as SQLite's counter and look-up statements
// take them: a JSON array of [rowid, id, rx, tx, handshake, activity,
// endpoint, connected] arrays (the first four with countersOnly). The id
// guards against a rowid that SQLite gave again to another session.
func statsWritesJSON(writes []StatsWrite, countersOnly bool) string {
	b := make([]byte, 0, len(writes)*96)
	b = append(b, '[')
	for i, w := range writes {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '[')
		b = strconv.AppendInt(b, w.Row, 10)
		b = append(b, ',')
		b = appendJSONString(b, w.ID)
		b = append(b, ',')
		b = strconv.AppendInt(b, int64(w.Rx), 10)
		b = append(b, ',')
		b = strconv.AppendInt(b, int64(w.Tx), 10)
		if !countersOnly {
			b = append(b, ',')
			b = strconv.AppendInt(b, w.Handshake, 10)
			b = append(b, ',')
			b = strconv.AppendInt(b, w.Activity, 10)
			b = append(b, ',')
			b = appendJSONString(b, w.Endpoint)
			if w.Connected {
				b = append(b, ",1"...)
			} else {
				b = append(b, ",0"...)
			}
		}
		b = append(b, ']')
	}
	return string(append(b, ']'))
}

const inactiveSQLite = `SELECT j.value->>1 FROM json_each($1) AS j
	WHERE NOT EXISTS (SELECT 1 FROM sessions AS s WHERE s.rowid = j.value->>0 AND s.id = j.value->>1 AND s.ended_at = 0)`

const inactivePostgres = `SELECT v.id FROM unnest($1::text[]) AS v(id)
	WHERE NOT EXISTS (SELECT 1 FROM sessions AS s WHERE s.id = v.id AND s.ended_at = 0)`

const writeCountersSQLite = `WITH v AS MATERIALIZED (SELECT j.value->>0 AS rid, j.value->>1 AS id, j.value->>2 AS rx, j.value->>3 AS tx FROM json_each($1) AS j)
	UPDATE sessions SET rx_bytes = v.rx, tx_bytes = v.tx
	FROM v WHERE sessions.rowid = v.rid AND sessions.id = v.id AND sessions.ended_at = 0`

const writeStatsPostgres = `UPDATE sessions SET latest_handshake = GREATEST(sessions.latest_handshake, v.hs), last_activity = GREATEST(sessions.last_activity, v.la),
		rx_bytes = v.rx, tx_bytes = v.tx, endpoint = v.ep, state = CASE WHEN v.c THEN ` + stateConnected + ` ELSE sessions.state END
	FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::bigint[], $5::bigint[], $6::text[], $7::bool[]) AS v(id, hs, la, rx, tx, ep, c)
	WHERE sessions.id = v.id AND sessions.ended_at = 0`

const writeCountersPostgres = `UPDATE sessions SET rx_bytes = v.rx, tx_bytes = v.tx
	FROM unnest($1::text[], $2::bigint[], $3::bigint[]) AS v(id, rx, tx)
	WHERE sessions.id = v.id AND sessions.ended_at = 0`

// LastOfEachKey returns the report sorted by key with only the last entry
// of each, its texts made storable.
func LastOfEachKey(stats []PeerStats) []PeerStats { return lastOfEachKey(stats) }

// statsValuesRows bounds the rows of one SQLite statement of
// writeStatsValues; a report is written in chunks of powers of two up to
// it, so that a handful of statements stay prepared.
const statsValuesRows = 256

// writeStatsValues is writeStatsSQLite with the writes as bound values
// instead of a JSON document, which SQLite spent as long decoding as
// changing the rows. It returns how many sessions it changed.
func writeStatsValues(ctx context.Context, q *Q, writes []StatsWrite) (int64, error) {
	var n int64
	for len(writes) > 0 {
		size := statsValuesRows
		for size > len(writes) {
			size /= 2
		}
		chunk := writes[:size]
		writes = writes[size:]
		args := make([]any, 0, 8*size)
		for _, w := range chunk {
			c := 0
			if w.Connected {
				c = 1
			}
			args = append(args, w.Row, w.ID, int64(w.Rx), int64(w.Tx), w.Handshake, w.Activity, w.Endpoint, c)
		}
		r, err := q.exec(ctx, statsValuesSQL(size), args...)
		if err != nil {
			return n, err
		}
		n += rowsAffected(r)
	}
	return n, nil
}

var statsValuesText sync.Map // rows → statement

func statsValuesSQL(rows int) string {
	if v, ok := statsValuesText.Load(rows); ok {
		return v.(string)
	}
	var b strings.Builder
	b.WriteString(`WITH v(rid, id, rx, tx, hs, la, ep, c) AS MATERIALIZED (VALUES `)
	for i := range rows {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString("(?,?,?,?,?,?,?,?)")
	}
	b.WriteString(`)
	UPDATE sessions SET latest_handshake = max(sessions.latest_handshake, v.hs), last_activity = max(sessions.last_activity, v.la),
		rx_bytes = v.rx, tx_bytes = v.tx, endpoint = v.ep, state = CASE WHEN v.c = 1 THEN ` + stateConnected + ` ELSE sessions.state END
	FROM v WHERE sessions.rowid = v.rid AND sessions.id = v.id AND sessions.ended_at = 0`)
	statsValuesText.Store(rows, b.String())
	return b.String()
}
