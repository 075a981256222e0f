// Package store keeps Wicket's state: users, devices, locations, MFA
// challenges, sessions, audit events and settings. It is the single source of
// truth every server replica shares. Queries use only SQL that SQLite and
// PostgreSQL both accept ($N placeholders, ON CONFLICT, RETURNING), so one
// implementation serves both engines.
package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// ErrNotFound is returned when a row does not exist.
var ErrNotFound = errors.New("not found")

// ErrConflict is returned when a unique value is already taken.
var ErrConflict = errors.New("already exists")

// Dialect names the SQL engine behind a Store.
type Dialect string

// The engines Wicket runs on.
const (
	SQLite   Dialect = "sqlite"
	Postgres Dialect = "postgres"
)

//go:embed migrations/*.sql
var migrations embed.FS

// querier is what both *sql.DB and *sql.Tx offer.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// Q runs queries on the database or inside a transaction.
type Q struct {
	x     querier
	tx    *sql.Tx
	cache *stmtCache
	// serial: transactions run one after another (SQLite's one writer),
	// so no row needs locking.
	serial bool
	// detached: statements run to their end whatever their caller's
	// context says (see committer).
	detached bool
	// audit holds the events the transaction added, to write as it
	// commits.
	audit []AuditEvent
	// reads, when set, runs q's SELECTs outside transactions (SQLite's
	// reading connections).
	reads *Q
}

// Store is an open database.
type Store struct {
	*Q
	db      *sql.DB
	dialect Dialect
	// pgConfig is the PostgreSQL connection's configuration, for the
	// connections that listen for other replicas' notifications.
	pgConfig *pgx.ConnConfig
	// commits runs InTx's transactions on SQLite.
	commits *committer
	// readers are SQLite's reading connections (see OpenSQLite).
	readers *sql.DB
}

// readConns is how many connections SQLite's reads outside transactions
// share.
const readConns = 4

// OpenSQLite opens (creating when needed) the SQLite database at path in WAL
// mode and brings its schema up to date.
func OpenSQLite(ctx context.Context, path string) (*Store, error) {
	if err := ensureDir(filepath.Dir(path)); err != nil {
		return nil, err
	}
	// SQLite would create the file 0644 less the umask; made first, it
	// starts private. SQLite gives the -wal and -shm files it creates the
	// database file's mode.
	if err := privateFile(path, true); err != nil {
		return nil, err
	}
	// The writer checkpoints by itself only should the checkpointer fall
	// far behind (16,000 pages, 64 MiB of WAL).
	dsn := "file:" + path + "?_pragma=journal_mode(WAL)&_pragma=busy_timeout(10000)&_pragma=foreign_keys(1)&_pragma=synchronous(NORMAL)&_pragma=cache_size(-65536)&_pragma=temp_store(MEMORY)&_pragma=wal_autocheckpoint(16000)&_txlock=immediate"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	// One connection: SQLite allows one writer at a time, and with several
	// connections writers wait in SQLite's busy handler, which sleeps while
	// holding a pooled connection; queueing in Go is fairer and faster.
	// Nothing may use the Store while holding a transaction from InTx.
	db.SetMaxOpenConns(1)
	s, err := open(ctx, db, SQLite)
	if err != nil {
		return nil, err
	}
	// Reads outside transactions go to connections of their own: in WAL
	// mode they see the last commit and wait for no writer, so they run
	// on another core while the writer commits.
	readers, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)&_pragma=query_only(1)&_pragma=cache_size(-16384)&_pragma=temp_store(MEMORY)")
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	readers.SetMaxOpenConns(readConns)
	readers.SetMaxIdleConns(readConns)
	s.readers = readers
	s.Q.reads = &Q{x: readers, cache: newStmtCache(readers)}
	ckpt, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)")
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	s.commits.checkpoints = newCheckpointer(ckpt)
	// The -wal and -shm files of an older install may have been left
	// readable by others.
	for _, f := range []string{path + "-wal", path + "-shm"} {
		if err := privateFile(f, false); err != nil {
			s.Close()
			return nil, err
		}
	}
	return s, nil
}

// OpenPostgres connects to the PostgreSQL database at url (postgres://…)
// and brings its schema up to date. Several replicas may share it; they
// migrate one after the other.
func OpenPostgres(ctx context.Context, url string) (*Store, error) {
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("database URL: %w", err)
	}
	db := stdlib.OpenDB(*cfg)
	// PostgreSQL runs transactions side by side; row locks (LockUser,
	// LockPasswordAttempt) order the ones that must not.
	db.SetMaxOpenConns(10)
	db.SetMaxIdleConns(10)
	db.SetConnMaxIdleTime(5 * time.Minute)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("connect to database %s: %w", redactURL(cfg), err)
	}
	s, err := open(ctx, db, Postgres)
	if err != nil {
		return nil, err
	}
	s.pgConfig = cfg
	return s, nil
}

// redactURL names the database without its password.
func redactURL(cfg *pgx.ConnConfig) string {
	return fmt.Sprintf("%s@%s:%d/%s", cfg.User, cfg.Host, cfg.Port, cfg.Database)
}

// IsPostgresURL reports whether a --database value selects PostgreSQL.
func IsPostgresURL(s string) bool {
	return strings.HasPrefix(s, "postgres://") || strings.HasPrefix(s, "postgresql://")
}

// OpenDB wraps an already opened database of the given dialect and migrates it.
func OpenDB(ctx context.Context, db *sql.DB, d Dialect) (*Store, error) {
	return open(ctx, db, d)
}

func open(ctx context.Context, db *sql.DB, d Dialect) (*Store, error) {
	s := &Store{Q: &Q{x: db}, db: db, dialect: d}
	if err := s.migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	// Statements are prepared only once the schema is final. The cache is
	// for SQLite's single connection; pgx prepares and caches statements
	// per connection itself.
	if d == SQLite {
		s.Q.cache = newStmtCache(db)
		s.commits = newCommitter(db, s.Q.cache)
	}
	return s, nil
}

// Close closes the database.
func (s *Store) Close() error {
	if s.commits != nil {
		s.commits.close()
		if s.commits.checkpoints != nil {
			s.commits.checkpoints.close()
		}
	}
	if s.Q.cache != nil {
		s.Q.cache.close()
	}
	if s.readers != nil {
		s.Q.reads.cache.close()
		s.readers.Close()
	}
	return s.db.Close()
}

// Dialect reports the engine.
func (s *Store) Dialect() Dialect { return s.dialect }

// InTx runs fn in one transaction, committing when it returns nil. fn may
// run on another goroutine and, on SQLite, share its commit with other
// calls' transactions (see committer); InTx returns once the commit is
// done.
func (s *Store) InTx(ctx context.Context, fn func(q *Q) error) error {
	if s.commits != nil {
		return s.commits.inTx(ctx, fn)
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return unavailable(fmt.Errorf("begin transaction: %w", err))
	}
	q := &Q{x: tx, tx: tx, cache: s.Q.cache, serial: s.dialect == SQLite}
	if err := fn(q); err != nil {
		tx.Rollback()
		return unavailable(err)
	}
	if err := q.flushAudit(ctx); err != nil {
		tx.Rollback()
		return unavailable(fmt.Errorf("write audit events: %w", err))
	}
	if err := tx.Commit(); err != nil {
		return unavailable(fmt.Errorf("commit: %w", err))
	}
	if s.Q.cache != nil {
		s.Q.cache.prepareWanted(ctx)
	}
	return nil
}

// migrationLock is the PostgreSQL advisory lock key that replicas migrating
// one database take in turn ("wicket" in ASCII).
const migrationLock = 0x7769636b6574

// migrationTx runs fn in a transaction that, on PostgreSQL, first takes the
// migration lock: replicas starting together on an empty database then
// create and migrate the schema one after the other, each seeing what the
// one before committed.
func (s *Store) migrationTx(ctx context.Context, fn func(q *Q) error) error {
	return s.InTx(ctx, func(q *Q) error {
		if s.dialect == Postgres {
			if _, err := q.x.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(migrationLock)); err != nil {
				return fmt.Errorf("take the migration lock: %w", err)
			}
		}
		return fn(q)
	})
}

func (s *Store) migrate(ctx context.Context) error {
	err := s.migrationTx(ctx, func(q *Q) error {
		_, err := q.x.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (name TEXT PRIMARY KEY, applied_at BIGINT NOT NULL)`)
		return err
	})
	if err != nil {
		return fmt.Errorf("prepare migrations: %w", err)
	}
	names, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return err
	}
	sort.Strings(names)
	for _, name := range names {
		base := filepath.Base(name)
		err := s.migrationTx(ctx, func(q *Q) error {
			var n int
			if err := q.x.QueryRowContext(ctx, `SELECT COUNT(*) FROM schema_migrations WHERE name = $1`, base).Scan(&n); err != nil {
				return err
			}
			if n > 0 {
				return nil
			}
			body, err := migrations.ReadFile(name)
			if err != nil {
				return err
			}
			for _, stmt := range splitStatements(s.spell(string(body))) {
				if _, err := q.x.ExecContext(ctx, stmt); err != nil {
					return fmt.Errorf("%s: %w", base, err)
				}
			}
			_, err = q.x.ExecContext(ctx, `INSERT INTO schema_migrations (name, applied_at) VALUES ($1, $2)`, base, time.Now().UnixMilli())
			return err
		})
		if err != nil {
			return fmt.Errorf("migrate database: %w", err)
		}
	}
	return nil
}

// spell replaces the words migrations spell per engine.
func (s *Store) spell(body string) string {
	autoID := "INTEGER PRIMARY KEY AUTOINCREMENT"
	if s.dialect == Postgres {
		autoID = "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY"
	}
	return strings.ReplaceAll(body, "AUTO_ID", autoID)
}

// splitStatements splits a migration on semicolons at line ends, dropping comments.
func splitStatements(body string) []string {
	var out []string
	var cur strings.Builder
	for _, line := range strings.Split(body, "\n") {
		t := strings.TrimSpace(line)
		if t == "" || strings.HasPrefix(t, "--") {
			continue
		}
		cur.WriteString(line)
		cur.WriteString("\n")
		if strings.HasSuffix(t, ";") {
			out = append(out, strings.TrimSpace(cur.String()))
			cur.Reset()
		}
	}
	if s := strings.TrimSpace(cur.String()); s != "" {
		out = append(out, s)
	}
	return out
}

// isUnique reports whether err is a violated unique constraint or primary key.
func isUnique(err error) bool {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code == "23505" // unique_violation
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		return se.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || se.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
	}
	return false
}

func ms(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

func fromMS(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.UnixMilli(v).UTC()
}

func joinList(v []string) string { return strings.Join(v, ",") }

func splitList(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
}

func joinInts(v []int) string {
	parts := make([]string, len(v))
	for i, n := range v {
		parts[i] = strconv.Itoa(n)
	}
	return strings.Join(parts, ",")
}

// splitInts reads what joinInts wrote; a damaged item is left out.
func splitInts(s string) []int {
	var out []int
	for _, part := range splitList(s) {
		if n, err := strconv.Atoi(part); err == nil {
			out = append(out, n)
		}
	}
	return out
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

func rowsAffected(r sql.Result) int64 {
	n, err := r.RowsAffected()
	if err != nil {
		return 0
	}
	return n
}
