package store

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
	"sync/atomic"
)

// maxGroup is how many transactions of InTx at most share one commit on
// SQLite.
const maxGroup = 64

// committer runs InTx's transactions on SQLite, whose one connection
// takes one writer at a time, and lets the ones that queued meanwhile
// share a commit: each runs in its own savepoint of one transaction, so
// that each still succeeds or fails alone, and the transaction commits
// once for all of them. A commit writes every page it changed to the WAL;
// transactions that change the same pages (the new rows' end of a table
// and its indexes) write them once between them, and the commit's fixed
// cost is paid once. Under no load a transaction runs at once, alone, as
// before. A transaction's answer comes only once its commit is done.
//
// A transaction's statements run to their end even when its caller's
// context ends meanwhile: SQLite answers an interrupted write inside a
// transaction by rolling back the whole transaction, which would take the
// group's other transactions with it. A caller that gave up before its
// turn is skipped, and the statements are short.
type committer struct {
	db    *sql.DB
	cache *stmtCache
	queue chan *txRequest
	stop  chan struct{}
	once  sync.Once
	// exited is closed once run has returned.
	exited chan struct{}
	// groups and grouped count commits and the transactions they held.
	groups, grouped atomic.Int64
	// checkpoints, when set, is woken every checkpointEvery commits.
	checkpoints *checkpointer
}

// txRequest is one InTx call waiting for its turn and its commit.
type txRequest struct {
	ctx    context.Context
	fn     func(q *Q) error
	answer chan txAnswer
}

type txAnswer struct {
	err error
	// panicked holds what fn panicked with, to panic again in the caller.
	panicked any
}

func newCommitter(db *sql.DB, cache *stmtCache) *committer {
	c := &committer{db: db, cache: cache, queue: make(chan *txRequest, maxGroup), stop: make(chan struct{}), exited: make(chan struct{})}
	go c.run()
	return c
}

// close stops the committer once the transactions it runs are answered;
// the ones still queued are answered errStoreClosed.
func (c *committer) close() {
	c.once.Do(func() { close(c.stop) })
	<-c.exited
}

var errStoreClosed = fmt.Errorf("the database is closed")

// inTx queues fn and waits for its outcome.
func (c *committer) inTx(ctx context.Context, fn func(q *Q) error) error {
	r := &txRequest{ctx: ctx, fn: fn, answer: make(chan txAnswer, 1)}
	select {
	case c.queue <- r:
	case <-ctx.Done():
		return ctx.Err()
	case <-c.stop:
		return errStoreClosed
	}
	var a txAnswer
	select {
	case a = <-r.answer:
	case <-c.exited:
		// Queued as the committer stopped: answered, or never to be.
		select {
		case a = <-r.answer:
		default:
			return errStoreClosed
		}
	}
	if a.panicked != nil {
		panic(a.panicked)
	}
	return a.err
}

func (c *committer) run() {
	defer close(c.exited)
	for {
		var first *txRequest
		select {
		case first = <-c.queue:
		case <-c.stop:
			for {
				select {
				case r := <-c.queue:
					r.answer <- txAnswer{err: errStoreClosed}
				default:
					return
				}
			}
		}
		c.group(first)
	}
}

// group runs first and whatever queues behind it, up to maxGroup, in one
// transaction, and answers each. first needs no savepoint: when it fails,
// the transaction holds nothing else and is rolled back.
func (c *committer) group(first *txRequest) {
	if err := first.ctx.Err(); err != nil {
		first.answer <- txAnswer{err: err}
		return
	}
	// The transaction outlives any one caller's context; each caller's
	// own statements still run under its context.
	tx, err := c.db.BeginTx(context.Background(), nil)
	if err != nil {
		first.answer <- txAnswer{err: unavailable(fmt.Errorf("begin transaction: %w", err))}
		return
	}
	q := &Q{x: tx, tx: tx, cache: c.cache, serial: true, detached: true}
	if panicked, fnErr := call(q, first.fn); fnErr != nil || panicked != nil {
		tx.Rollback()
		first.answer <- txAnswer{err: unavailable(fnErr), panicked: panicked}
		return
	}
	ok := []*txRequest{first} // answered after the commit
	var broken error
	for len(ok) < maxGroup && broken == nil {
		var r *txRequest
		select {
		case r = <-c.queue:
		default:
		}
		if r == nil {
			break
		}
		var keep bool
		// broken: the transaction itself is gone (SQLite undid it after
		// an I/O error, a full disk…), and the ones before fail with it.
		if keep, broken = c.one(q, r); keep {
			ok = append(ok, r)
		}
	}
	// The group's audit events, in one statement for up to 16.
	if broken == nil {
		if err := q.flushAudit(context.Background()); err != nil {
			broken = unavailable(fmt.Errorf("write audit events: %w", err))
		}
	}
	if broken != nil {
		tx.Rollback()
		for _, r := range ok {
			r.answer <- txAnswer{err: broken}
		}
		return
	}
	if err := tx.Commit(); err != nil {
		err = unavailable(fmt.Errorf("commit: %w", err))
		for _, r := range ok {
			r.answer <- txAnswer{err: err}
		}
		return
	}
	// Counted before the answers, so that a caller sees its own commit.
	c.grouped.Add(int64(len(ok)))
	n := c.groups.Add(1)
	for _, r := range ok {
		r.answer <- txAnswer{}
	}
	if n%checkpointEvery == 0 && c.checkpoints != nil {
		c.checkpoints.wake()
	}
	if c.cache != nil {
		c.cache.prepareWanted(context.Background())
	}
}

// one runs r in a savepoint of q's transaction. It answers r at once when
// r failed (its changes undone) and reports keep when r succeeded and
// waits for the commit. err is set when the transaction no longer exists.
func (c *committer) one(q *Q, r *txRequest) (keep bool, err error) {
	if err := r.ctx.Err(); err != nil {
		r.answer <- txAnswer{err: err}
		return false, nil
	}
	if _, err := q.exec(r.ctx, "SAVEPOINT grouped"); err != nil {
		err = unavailable(fmt.Errorf("begin transaction: %w", err))
		r.answer <- txAnswer{err: err}
		return false, err
	}
	kept := len(q.audit)
	panicked, fnErr := call(q, r.fn)
	if fnErr == nil && panicked == nil {
		if _, err := q.exec(context.Background(), "RELEASE grouped"); err != nil {
			err = unavailable(fmt.Errorf("commit: %w", err))
			r.answer <- txAnswer{err: err}
			return false, err
		}
		return true, nil
	}
	q.audit = q.audit[:kept]
	_, undoErr := q.exec(context.Background(), "ROLLBACK TO grouped")
	if undoErr == nil {
		_, undoErr = q.exec(context.Background(), "RELEASE grouped")
	}
	r.answer <- txAnswer{err: unavailable(fnErr), panicked: panicked}
	if undoErr != nil {
		return false, unavailable(fmt.Errorf("undo a failed transaction: %w", undoErr))
	}
	return false, nil
}

// call runs fn, catching a panic so that it reaches fn's caller and not
// the committer.
func call(q *Q, fn func(q *Q) error) (panicked any, err error) {
	defer func() {
		if p := recover(); p != nil {
			panicked = p
		}
	}()
	return nil, fn(q)
}

// checkpointEvery is how many commits the checkpointer lets pass: with
// the MFA path's ten to twenty pages per commit, a WAL of one to two
// thousand pages between checkpoints.
const checkpointEvery = 100

// checkpointer copies the WAL's pages into the database file on a
// connection of its own, beside the writer, rather than in the commit
// that fills the WAL, where the copy and its fsync held up every
// transaction queued behind it. A passive checkpoint takes no lock the
// writer needs. The writer's own automatic checkpoint stays as a bound
// on the WAL's size should this one fall behind.
type checkpointer struct {
	db     *sql.DB
	woken  chan struct{}
	stop   chan struct{}
	once   sync.Once
	exited chan struct{}
	// runs counts the checkpoints made, failures the ones that failed.
	runs, failures atomic.Int64
}

func newCheckpointer(db *sql.DB) *checkpointer {
	db.SetMaxOpenConns(1)
	k := &checkpointer{db: db, woken: make(chan struct{}, 1), stop: make(chan struct{}), exited: make(chan struct{})}
	go k.run()
	return k
}

func (k *checkpointer) wake() {
	select {
	case k.woken <- struct{}{}:
	default:
	}
}

func (k *checkpointer) run() {
	defer close(k.exited)
	for {
		select {
		case <-k.woken:
		case <-k.stop:
			return
		}
		if _, err := k.db.Exec("PRAGMA wal_checkpoint(PASSIVE)"); err != nil {
			k.failures.Add(1)
		}
		k.runs.Add(1)
	}
}

func (k *checkpointer) close() {
	k.once.Do(func() {
		close(k.stop)
		<-k.exited
		k.db.Close()
	})
}

// Commits reports how many commits InTx's transactions made on SQLite and
// how many transactions they held; zero on PostgreSQL.
func (s *Store) Commits() (commits, transactions int64) {
	if s.commits == nil {
		return 0, 0
	}
	return s.commits.groups.Load(), s.commits.grouped.Load()
}
