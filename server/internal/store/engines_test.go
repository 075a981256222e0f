package store

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"

	"github.com/wicket-vpn/wicket/server/internal/store/storetest"
)

// testDB is a database a test opens, perhaps more than once: a file on
// SQLite, a database of its own on PostgreSQL.
type testDB struct {
	dialect Dialect
	loc     string // the file, or the URL
}

// eachEngine runs fn as a subtest on each engine with an empty database.
func eachEngine(t *testing.T, fn func(t *testing.T, db testDB)) {
	for _, e := range storetest.Engines {
		t.Run(string(e), func(t *testing.T) {
			db := testDB{dialect: Dialect(e)}
			if db.dialect == SQLite {
				db.loc = filepath.Join(t.TempDir(), "wicket.db")
			} else {
				db.loc = storetest.URL(t)
			}
			fn(t, db)
		})
	}
}

// open opens the store, closed when the test ends.
func (d testDB) open(t *testing.T) *Store {
	t.Helper()
	if d.dialect == SQLite {
		return openTest(t, d.loc)
	}
	s, err := OpenPostgres(context.Background(), d.loc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// raw opens the database bare, without migrating it.
func (d testDB) raw(t *testing.T) *sql.DB {
	t.Helper()
	var db *sql.DB
	var err error
	if d.dialect == SQLite {
		db, err = sql.Open("sqlite", "file:"+d.loc+"?_pragma=foreign_keys(1)")
	} else {
		db, err = sql.Open("pgx", d.loc)
	}
	if err != nil {
		t.Fatal(err)
	}
	return db
}
