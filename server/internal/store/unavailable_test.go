package store

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wicket-vpn/wicket/server/internal/fault"
)

func openTest(t *testing.T, path string) *Store {
	t.Helper()
	s, err := OpenSQLite(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestFullDiskIsUnavailable fills the database as a full disk does: with
// max_page_count at the current size, SQLite answers SQLITE_FULL to a write
// that needs a new page, and the store says so in words for people.
func TestFullDiskIsUnavailable(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, filepath.Join(t.TempDir(), "wicket.db"))
	var pages int64
	if err := s.db.QueryRowContext(ctx, "PRAGMA page_count").Scan(&pages); err != nil {
		t.Fatal(err)
	}
	if _, err := s.db.ExecContext(ctx, "PRAGMA max_page_count = "+strconv.FormatInt(pages, 10)); err != nil {
		t.Fatal(err)
	}
	// A megabyte needs hundreds of new pages, in a plain write and in a
	// transaction alike.
	big := strings.Repeat("x", 1<<20)
	err := s.SetMeta(ctx, "big", big)
	wantUnavailable(t, err, "database or disk is full")
	err = s.InTx(ctx, func(q *Q) error { return q.SetMeta(ctx, "big", big) })
	wantUnavailable(t, err, "database or disk is full")
}

// TestReadOnlyIsUnavailable: a database that refuses writes (a read-only
// file) makes every write, and readiness's probe, unavailable until it
// accepts them again; reads keep working meanwhile.
func TestReadOnlyIsUnavailable(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, filepath.Join(t.TempDir(), "wicket.db"))
	if err := s.RefuseWrites(ctx, true); err != nil {
		t.Fatal(err)
	}
	wantUnavailable(t, s.SetMeta(ctx, "k", "v"), "readonly")
	wantUnavailable(t, s.CheckWritable(ctx, time.Now()), "readonly")
	if _, err := s.BumpConfigVersion(ctx); !IsUnavailable(err) {
		t.Fatalf("UPDATE … RETURNING: %v", err)
	}
	if _, err := s.ConfigVersion(ctx); err != nil {
		t.Fatalf("a read failed while writes were refused: %v", err)
	}
	if err := s.RefuseWrites(ctx, false); err != nil {
		t.Fatal(err)
	}
	if err := s.CheckWritable(ctx, time.Now()); err != nil {
		t.Fatalf("writes accepted again, but: %v", err)
	}
	// A constraint violation stays what it was.
	if err := s.SetMeta(ctx, "k", "v"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.db.ExecContext(ctx, `INSERT INTO meta (key, value) VALUES ('k', 'w')`); err == nil || IsUnavailable(unavailable(err)) {
		t.Fatalf("a duplicate key was classified as unavailable: %v", err)
	}
}

func wantUnavailable(t *testing.T, err error, cause string) {
	t.Helper()
	var fe *fault.Error
	if !errors.As(err, &fe) || fe.Kind != fault.Unavailable || fe.Msg != UnavailableMsg || !IsUnavailable(err) {
		t.Fatalf("err = %v (%T), want fault.Unavailable %q", err, err, UnavailableMsg)
	}
	if !strings.Contains(fe.Err.Error(), cause) {
		t.Fatalf("cause %q does not say %q", fe.Err, cause)
	}
}

// TestDatabaseFilesPrivate opens a database with the most permissive umask,
// and again over an older install whose files and directory others could
// read: the database and its -wal and -shm files end up 0600, the data
// directory 0700.
func TestDatabaseFilesPrivate(t *testing.T) {
	old := syscall.Umask(0)
	defer syscall.Umask(old)

	fresh := filepath.Join(t.TempDir(), "data")
	openTest(t, filepath.Join(fresh, "wicket.db"))
	checkModes(t, fresh)

	older := filepath.Join(t.TempDir(), "data")
	if err := os.Mkdir(older, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"wicket.db", "wicket.db-wal", "wicket.db-shm"} {
		if err := os.WriteFile(filepath.Join(older, f), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	openTest(t, filepath.Join(older, "wicket.db"))
	checkModes(t, older)
}

func checkModes(t *testing.T, dir string) {
	t.Helper()
	want := map[string]fs.FileMode{"": 0o700, "wicket.db": 0o600, "wicket.db-wal": 0o600, "wicket.db-shm": 0o600}
	for name, mode := range want {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != mode {
			t.Errorf("%s: mode %04o, want %04o", filepath.Join(dir, name), fi.Mode().Perm(), mode)
		}
	}
}

func TestSharedDataDirRefused(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "shared")
	if err := os.Mkdir(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o777|fs.ModeSticky); err != nil {
		t.Fatal(err)
	}
	_, err := OpenSQLite(context.Background(), filepath.Join(dir, "wicket.db"))
	if err == nil || !strings.Contains(err.Error(), "directory of its own") {
		t.Fatalf("err = %v", err)
	}
	fi, _ := os.Stat(dir)
	if fi.Mode().Perm() != 0o777 {
		t.Fatalf("a shared directory was changed to %v", fi.Mode())
	}
}
