package storetest

import (
	"context"
	"database/sql"
	"testing"
)

func TestURL(t *testing.T) {
	u := URL(t)
	db, err := sql.Open("pgx", u)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var v string
	if err := db.QueryRowContext(context.Background(), "SELECT current_database()").Scan(&v); err != nil {
		t.Fatal(err)
	}
	t.Log(u, v)
}
