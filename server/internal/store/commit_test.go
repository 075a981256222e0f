package store

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"modernc.org/sqlite"
)

// holdCommitter starts a transaction that writes key "first" and waits;
// the returned function lets it finish with outcome.
func holdCommitter(t *testing.T, s *Store, outcome error) (release func() error) {
	t.Helper()
	started, done := make(chan struct{}), make(chan error, 1)
	hold := make(chan struct{})
	go func() {
		done <- s.InTx(context.Background(), func(q *Q) error {
			if err := q.SetMeta(context.Background(), "first", "1"); err != nil {
				return err
			}
			close(started)
			<-hold
			return outcome
		})
	}()
	<-started
	return func() error {
		close(hold)
		return <-done
	}
}

// waitQueued returns once n transactions wait for the committer.
func waitQueued(s *Store, n int) {
	for len(s.commits.queue) < n {
		runtime.Gosched()
	}
}

// TestGroupedTransactionsSucceedOrFailAlone: transactions that queue while
// another runs share its commit, and each still keeps or loses its own
// changes: a refused one (its function's error) and one that panics leave
// nothing behind, the others are all kept, and the panic reaches its own
// caller only.
func TestGroupedTransactionsSucceedOrFailAlone(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, filepath.Join(t.TempDir(), "wicket.db"))
	release := holdCommitter(t, s, nil)
	commits0, txs0 := s.Commits()

	const n = 12
	errRefused := errors.New("refused")
	results := make([]error, n)
	panics := make([]any, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { panics[i] = recover() }()
			results[i] = s.InTx(ctx, func(q *Q) error {
				if err := q.SetMeta(ctx, fmt.Sprintf("key%d", i), "written"); err != nil {
					return err
				}
				if err := q.AddAuditEvent(ctx, AuditEvent{Action: "test.wrote", Subject: fmt.Sprintf("key%d", i)}); err != nil {
					return err
				}
				switch i % 3 {
				case 0:
					return errRefused
				case 1:
					panic(fmt.Sprintf("panic %d", i))
				}
				return nil
			})
		}()
	}
	waitQueued(s, n)
	if err := release(); err != nil {
		t.Fatalf("the first transaction: %v", err)
	}
	wg.Wait()

	kept := 0
	for i := range n {
		v, err := s.Meta(ctx, fmt.Sprintf("key%d", i))
		if err != nil {
			t.Fatal(err)
		}
		switch i % 3 {
		case 0:
			if !errors.Is(results[i], errRefused) || v != "" {
				t.Errorf("refused transaction %d: error %v, its write %q; want its error and nothing written", i, results[i], v)
			}
		case 1:
			if panics[i] != fmt.Sprintf("panic %d", i) || v != "" {
				t.Errorf("panicking transaction %d: caller recovered %v, its write %q; want its own panic and nothing written", i, panics[i], v)
			}
		default:
			kept++
			if results[i] != nil || panics[i] != nil || v != "written" {
				t.Errorf("transaction %d: error %v, panic %v, its write %q; want it kept", i, results[i], panics[i], v)
			}
		}
	}
	if v, _ := s.Meta(ctx, "first"); v != "1" {
		t.Errorf("the first transaction's write = %q, want kept", v)
	}
	// The audit events of the kept transactions only, in their order.
	events, err := s.ListAuditEvents(ctx, AuditFilter{Action: "test.wrote", Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	var subjects []string
	for _, e := range events {
		subjects = append(subjects, e.Subject)
	}
	if len(subjects) != kept {
		t.Errorf("audit events %v; want only the %d kept transactions'", subjects, kept)
	}
	for _, sub := range subjects {
		var i int
		fmt.Sscanf(sub, "key%d", &i)
		if i%3 != 2 {
			t.Errorf("audit event of the undone transaction %s was written", sub)
		}
	}
	commits, txs := s.Commits()
	if commits-commits0 != 1 || txs-txs0 != int64(1+kept) {
		t.Errorf("%d commits held %d transactions; want 1 commit holding the first and the %d that succeeded", commits-commits0, txs-txs0, kept)
	}
}

// TestQueuedTransactionWhoseCallerGaveUp: a transaction whose context ends
// while it waits its turn does not run, and its caller hears why.
func TestQueuedTransactionWhoseCallerGaveUp(t *testing.T) {
	s := openTest(t, filepath.Join(t.TempDir(), "wicket.db"))
	release := holdCommitter(t, s, nil)
	ctx, cancel := context.WithCancel(context.Background())
	ran := false
	done := make(chan error, 1)
	go func() {
		done <- s.InTx(ctx, func(q *Q) error {
			ran = true
			return q.SetMeta(ctx, "late", "1")
		})
	}()
	waitQueued(s, 1)
	cancel()
	if err := release(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; !errors.Is(err, context.Canceled) || ran {
		t.Errorf("InTx = %v, ran %v; want context.Canceled without running", err, ran)
	}
	if v, _ := s.Meta(context.Background(), "late"); v != "" {
		t.Errorf("the abandoned transaction wrote %q", v)
	}
}

// TestTransactionAfterClose is refused with words, not a hang.
func TestTransactionAfterClose(t *testing.T) {
	s, err := OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "wicket.db"))
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	err = s.InTx(context.Background(), func(q *Q) error { return nil })
	if !errors.Is(err, errStoreClosed) {
		t.Errorf("InTx after Close = %v, want %v", err, errStoreClosed)
	}
}

// TestGroupAfterAFailedFirst: the transaction that opened a group fails;
// the ones queued behind it still run, and its write is undone.
func TestGroupAfterAFailedFirst(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, filepath.Join(t.TempDir(), "wicket.db"))
	errRefused := errors.New("refused")
	release := holdCommitter(t, s, errRefused)
	const n = 4
	results := make(chan error, n)
	for i := range n {
		go func() {
			results <- s.InTx(ctx, func(q *Q) error { return q.SetMeta(ctx, fmt.Sprintf("key%d", i), "written") })
		}()
	}
	waitQueued(s, n)
	if err := release(); !errors.Is(err, errRefused) {
		t.Fatalf("the first transaction = %v, want its own error", err)
	}
	for range n {
		if err := <-results; err != nil {
			t.Errorf("a transaction queued behind a failed one: %v", err)
		}
	}
	if v, _ := s.Meta(ctx, "first"); v != "" {
		t.Errorf("the failed first transaction's write = %q, want undone", v)
	}
	for i := range n {
		if v, _ := s.Meta(ctx, fmt.Sprintf("key%d", i)); v != "written" {
			t.Errorf("key%d = %q, want written", i, v)
		}
	}
}

// TestCheckpointsBesideTheWriter: commits wake the checkpointer, whose
// passive checkpoints on its own connection succeed while the writer
// goes on.
func TestCheckpointsBesideTheWriter(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, filepath.Join(t.TempDir(), "wicket.db"))
	k := s.commits.checkpoints
	for i := range 3 * checkpointEvery {
		if err := s.InTx(ctx, func(q *Q) error { return q.SetMeta(ctx, fmt.Sprintf("key%d", i), "written") }); err != nil {
			t.Fatal(err)
		}
	}
	wait, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	for k.runs.Load() == 0 && wait.Err() == nil {
		runtime.Gosched()
	}
	if k.runs.Load() == 0 || k.failures.Load() != 0 {
		t.Fatalf("after %d commits: %d checkpoints, %d failed; want some, none failed", 3*checkpointEvery, k.runs.Load(), k.failures.Load())
	}
	if v, _ := s.Meta(ctx, fmt.Sprintf("key%d", 3*checkpointEvery-1)); v != "written" {
		t.Errorf("the last write = %q", v)
	}
}

// giveUp is called by the SQL function give_up(), which tests call in the
// middle of a statement.
var giveUp atomic.Pointer[context.CancelFunc]

func init() {
	sqlite.MustRegisterScalarFunction("give_up", 0, func(*sqlite.FunctionContext, []driver.Value) (driver.Value, error) {
		if f := giveUp.Load(); f != nil {
			(*f)()
		}
		return int64(1), nil
	})
}

// TestCallerGivingUpMidStatementSparesTheGroup: a caller's context ends
// while its transaction runs a write in a group. SQLite answers an
// interrupted write inside a transaction by rolling back the whole
// transaction; the statement must run to its end instead, so that the
// transactions before it in the group keep their changes.
func TestCallerGivingUpMidStatementSparesTheGroup(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, filepath.Join(t.TempDir(), "wicket.db"))
	release := holdCommitter(t, s, nil)

	before := make(chan error, 1)
	go func() {
		before <- s.InTx(ctx, func(q *Q) error { return q.SetMeta(ctx, "before", "kept") })
	}()
	waitQueued(s, 1)
	gaveUp, cancel := context.WithCancel(ctx)
	defer cancel()
	giveUp.Store(&cancel)
	defer giveUp.Store(nil)
	slow := make(chan error, 1)
	go func() {
		slow <- s.InTx(gaveUp, func(q *Q) error {
			// The caller gives up as the write starts, which then takes a
			// while to compute its condition.
			_, err := q.exec(gaveUp, `UPDATE meta SET value = value WHERE key = 'before' AND give_up() AND
				(WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 300000) SELECT count(*) FROM c) > 0`)
			return err
		})
	}()
	waitQueued(s, 2)
	if err := release(); err != nil {
		t.Fatal(err)
	}
	if err := <-before; err != nil {
		t.Fatalf("the transaction before the one whose caller gave up: %v", err)
	}
	<-slow
	for _, k := range []string{"first", "before"} {
		if v, _ := s.Meta(ctx, k); v == "" {
			t.Errorf("%s's write was lost with the interrupted transaction", k)
		}
	}
}

// TestReadsDoNotWaitForTheWriter: while a transaction holds SQLite's
// writing connection, a read outside it is answered from the last commit
// (a writer's half-done change unseen), and once the transaction commits
// a read sees it.
func TestReadsDoNotWaitForTheWriter(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, filepath.Join(t.TempDir(), "wicket.db"))
	if err := s.SetMeta(ctx, "first", "0"); err != nil {
		t.Fatal(err)
	}
	release := holdCommitter(t, s, nil) // writes first=1 and waits
	read, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	v, err := s.Meta(read, "first")
	if err != nil || v != "0" {
		t.Errorf("a read during a transaction = %q, %v; want the committed %q at once", v, err, "0")
	}
	if err := release(); err != nil {
		t.Fatal(err)
	}
	if v, _ := s.Meta(ctx, "first"); v != "1" {
		t.Errorf("a read after the commit = %q, want %q", v, "1")
	}
}
