package store

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/wicket-vpn/wicket/server/internal/fault"
)

// UnavailableMsg is what a person is told when the database cannot save.
const UnavailableMsg = "The server cannot save right now (is the disk full?); try again shortly."

// UnreachableMsg is what a person is told when the server cannot reach
// its PostgreSQL database (down, restarting, failing over, out of
// connections).
const UnreachableMsg = "The server cannot reach its database right now; try again shortly."

// unavailable classifies a failure of the database's storage — a full
// disk, a read-only or unopenable file, an I/O error — as fault.Unavailable
// with UnavailableMsg, keeping the cause for the log: the request was fine
// and may succeed once an admin frees space. Other errors pass unchanged.
func unavailable(err error) error {
	if err == nil {
		return nil
	}
	var fe *fault.Error
	if errors.As(err, &fe) {
		return err // a domain error, or classified already
	}
	if msg := postgresUnavailable(err); msg != "" {
		return fault.Wrap(fault.Unavailable, err, "%s", msg)
	}
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return err
	}
	// Extended codes (SQLITE_IOERR_WRITE, SQLITE_READONLY_DBMOVED, …) keep
	// their primary code in the low byte.
	switch se.Code() & 0xff {
	case sqlite3.SQLITE_FULL, sqlite3.SQLITE_IOERR, sqlite3.SQLITE_READONLY, sqlite3.SQLITE_CANTOPEN:
		return fault.Wrap(fault.Unavailable, err, UnavailableMsg)
	}
	return err
}

// IsUnavailable reports whether err is a storage failure of the database.
func IsUnavailable(err error) bool {
	var fe *fault.Error
	return errors.As(err, &fe) && fe.Kind == fault.Unavailable && (fe.Msg == UnavailableMsg || fe.Msg == UnreachableMsg)
}

// postgresUnavailable says which message fits a PostgreSQL failure that
// is the database's state rather than the request's, "" for others.
func postgresUnavailable(err error) string {
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) {
		return UnreachableMsg // whatever the server said while connecting
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch {
		case pe.Code == "53100", pe.Code == "25006": // disk full; read-only (a standby)
			return UnavailableMsg
		case strings.HasPrefix(pe.Code, "08"), strings.HasPrefix(pe.Code, "53"), strings.HasPrefix(pe.Code, "57P"):
			// connection failures; out of memory or connections; shutting
			// down or starting up
			return UnreachableMsg
		}
		return ""
	}
	if errors.Is(err, driver.ErrBadConn) || pgconn.SafeToRetry(err) || pgconn.Timeout(err) && !errors.Is(err, context.Canceled) {
		return UnreachableMsg
	}
	var ne net.Error
	if errors.As(err, &ne) || errors.Is(err, io.ErrUnexpectedEOF) {
		return UnreachableMsg
	}
	return ""
}

// CheckWritable saves a row of the meta table and reports why it could not.
//
// Readiness asks for a real write rather than remembering how the last
// requests fared: it needs no traffic to notice a full disk (a quiet server
// at night, or one a load balancer has stopped sending to), nor to notice
// that space was freed, and it sees exactly what the next write would. It
// costs one small transaction per probe.
func (s *Store) CheckWritable(ctx context.Context, now time.Time) error {
	return s.SetMeta(ctx, "ready_probe_at", strconv.FormatInt(now.UnixMilli(), 10))
}

// RefuseWrites makes SQLite refuse every write (PRAGMA query_only) as it
// does for a read-only database file, or, with on false, accept them
// again. It is for tests and drills of how the server behaves when it cannot
// save; the setting belongs to the store's one writing connection (its
// reading connections never write).
func (s *Store) RefuseWrites(ctx context.Context, on bool) error {
	if s.dialect != SQLite {
		return fmt.Errorf("refusing writes needs SQLite, not %s", s.dialect)
	}
	_, err := s.db.ExecContext(ctx, "PRAGMA query_only = "+strconv.FormatBool(on))
	return err
}
