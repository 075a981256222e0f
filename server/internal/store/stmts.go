package store

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"sync"
)

// stmtCache keeps every query prepared once per database. Wicket runs a
// small fixed set of statements very often (a pair of MFA calls runs about
// twenty), and parsing them again on each call was the largest single cost
// of the MFA path.
type stmtCache struct {
	db   *sql.DB
	mu   sync.Mutex
	m    map[string]*sql.Stmt
	want map[string]bool // met inside a transaction, to prepare after it
}

// get returns the prepared statement; inside a transaction (which holds the
// database's only connection) a new query cannot be prepared, so it is
// noted and prepared after the transaction ends.
func (c *stmtCache) get(ctx context.Context, query string, inTx bool) (*sql.Stmt, error) {
	c.mu.Lock()
	if st, ok := c.m[query]; ok {
		c.mu.Unlock()
		return st, nil
	}
	if inTx {
		c.want[query] = true
		c.mu.Unlock()
		return nil, errNotPrepared
	}
	c.mu.Unlock()
	// Preparing waits for the connection; holding mu meanwhile would
	// deadlock with a transaction that holds the connection and wants mu.
	st, err := c.db.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if prev, ok := c.m[query]; ok {
		st.Close()
		return prev, nil
	}
	c.m[query] = st
	return st, nil
}

var errNotPrepared = errors.New("not prepared yet")

func newStmtCache(db *sql.DB) *stmtCache {
	return &stmtCache{db: db, m: map[string]*sql.Stmt{}, want: map[string]bool{}}
}

// reader is the Q that runs query: q's reading connections for a SELECT
// outside a transaction, else q.
func (q *Q) reader(query string) *Q {
	if q.reads != nil && q.tx == nil && strings.HasPrefix(query, "SELECT") {
		return q.reads
	}
	return q
}

// prepareWanted prepares the queries transactions met.
func (c *stmtCache) prepareWanted(ctx context.Context) {
	c.mu.Lock()
	want := c.want
	c.want = map[string]bool{}
	c.mu.Unlock()
	for q := range want {
		c.get(ctx, q, false)
	}
}

func (c *stmtCache) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, st := range c.m {
		st.Close()
	}
	c.m = map[string]*sql.Stmt{}
}

// stmt returns the prepared statement for query, bound to q's transaction
// when there is one; nil when preparing failed (the caller then runs the
// query unprepared, which reports the same error).
func (q *Q) stmt(ctx context.Context, query string) *sql.Stmt {
	if q.cache == nil {
		return nil
	}
	st, err := q.cache.get(ctx, query, q.tx != nil)
	if err != nil {
		return nil
	}
	if q.tx != nil {
		return q.tx.StmtContext(ctx, st)
	}
	return st
}

// context is the context q's statements run under.
func (q *Q) context(ctx context.Context) context.Context {
	if q.detached {
		return context.WithoutCancel(ctx)
	}
	return ctx
}

func (q *Q) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	ctx = q.context(ctx)
	if st := q.stmt(ctx, query); st != nil {
		r, err := st.ExecContext(ctx, args...)
		return r, unavailable(err)
	}
	r, err := q.x.ExecContext(ctx, query, args...)
	return r, unavailable(err)
}

func (q *Q) query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	ctx = q.context(ctx)
	q = q.reader(query)
	if st := q.stmt(ctx, query); st != nil {
		rows, err := st.QueryContext(ctx, args...)
		return rows, unavailable(err)
	}
	rows, err := q.x.QueryContext(ctx, query, args...)
	return rows, unavailable(err)
}

// row is a *sql.Row whose Scan reports storage failures as unavailable.
type row struct{ r *sql.Row }

func (r row) Scan(dest ...any) error { return unavailable(r.r.Scan(dest...)) }

func (q *Q) queryRow(ctx context.Context, query string, args ...any) row {
	ctx = q.context(ctx)
	q = q.reader(query)
	if st := q.stmt(ctx, query); st != nil {
		return row{st.QueryRowContext(ctx, args...)}
	}
	return row{q.x.QueryRowContext(ctx, query, args...)}
}
