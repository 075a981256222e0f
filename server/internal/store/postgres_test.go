package store

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

// TestReplicasMigrateTogether: replicas starting at once on an empty
// PostgreSQL database take turns under the migration lock; each opens,
// and every migration is applied once.
func TestReplicasMigrateTogether(t *testing.T) {
	eachEngine(t, func(t *testing.T, db testDB) {
		if db.dialect != Postgres {
			t.Skip("SQLite has one process per database file")
		}
		ctx := context.Background()
		const replicas = 6
		var wg sync.WaitGroup
		errs := make([]error, replicas)
		stores := make([]*Store, replicas)
		for i := range replicas {
			wg.Go(func() { stores[i], errs[i] = OpenPostgres(ctx, db.loc) })
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("replica %d: %v", i, err)
			}
			defer stores[i].Close()
		}
		names, _ := migrations.ReadDir("migrations")
		var n int
		if err := stores[0].db.QueryRowContext(ctx, `SELECT COUNT(*) FROM schema_migrations`).Scan(&n); err != nil || n != len(names) {
			t.Fatalf("%d migrations recorded, want %d (%v)", n, len(names), err)
		}
	})
}

// TestUniqueIsConflict: a taken unique value is ErrConflict on each engine.
func TestUniqueIsConflict(t *testing.T) {
	eachEngine(t, func(t *testing.T, db testDB) {
		ctx := context.Background()
		s := db.open(t)
		now := time.Now()
		if err := s.CreateUser(ctx, User{ID: "u1", Username: "alice", CreatedAt: now}); err != nil {
			t.Fatal(err)
		}
		if err := s.CreateUser(ctx, User{ID: "u2", Username: "alice", CreatedAt: now}); !errors.Is(err, ErrConflict) {
			t.Fatalf("same username: %v, want ErrConflict", err)
		}
		if err := s.CreateUser(ctx, User{ID: "u1", Username: "bob", CreatedAt: now}); !errors.Is(err, ErrConflict) {
			t.Fatalf("same id: %v, want ErrConflict", err)
		}
		if err := s.CreateUser(ctx, User{ID: "u3", Username: "bob", CreatedAt: now}); err != nil {
			t.Fatal(err)
		}
		if err := s.UpdateUser(ctx, User{ID: "u3", Username: "alice"}); !errors.Is(err, ErrConflict) {
			t.Fatalf("renamed to a taken username: %v, want ErrConflict", err)
		}
	})
}
