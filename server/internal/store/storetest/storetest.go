// Package storetest gives tests a fresh PostgreSQL database of their own,
// so that every store-touching test can run on both engines.
//
// With WICKET_TEST_POSTGRES set (the URL of a server where tests may
// CREATE DATABASE) the databases are made there. Otherwise the first test
// asking starts a throwaway cluster for the whole test binary: initdb in a
// temporary directory and a server listening on loopback only, stopped and
// removed when the test binary exits. Without either, tests on PostgreSQL
// are skipped outside CI and fail in CI (CI=true).
package storetest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"sync"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver
)

// Engine names a database engine a test runs on.
type Engine string

// The engines.
const (
	SQLite   Engine = "sqlite"
	Postgres Engine = "postgres"
)

// Engines are the engines every store-touching test runs on.
var Engines = []Engine{SQLite, Postgres}

// EnvURL names the variable with a PostgreSQL server URL for tests.
const EnvURL = "WICKET_TEST_POSTGRES"

// Howto says how to run the PostgreSQL half of the tests.
const Howto = "install Debian's postgresql package (initdb under /usr/lib/postgresql/*/bin) or set " + EnvURL + " to the URL of a server where tests may CREATE DATABASE"

var (
	once     sync.Once
	adminURL string // a database on the server to CREATE DATABASE from
	startErr error  // the server could not be had
	missing  bool   // no PostgreSQL on this machine: skip outside CI
)

// URL returns the URL of a new, empty PostgreSQL database, dropped when the
// test ends. It skips the test when no PostgreSQL is available (and fails
// it in CI).
func URL(t testing.TB) string {
	t.Helper()
	once.Do(func() {
		if u := os.Getenv(EnvURL); u != "" {
			adminURL = u
			return
		}
		adminURL, startErr = startCluster()
	})
	if startErr != nil {
		if missing && os.Getenv("CI") != "true" {
			t.Skipf("no PostgreSQL (%v): %s", startErr, Howto)
		}
		t.Fatalf("PostgreSQL for tests: %v; %s", startErr, Howto)
	}
	admin, err := sql.Open("pgx", adminURL)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	b := make([]byte, 6)
	rand.Read(b)
	name := "wicket_test_" + hex.EncodeToString(b)
	if _, err := admin.ExecContext(context.Background(), "CREATE DATABASE "+name); err != nil {
		t.Fatalf("create a test database: %v", err)
	}
	t.Cleanup(func() {
		a, err := sql.Open("pgx", adminURL)
		if err != nil {
			t.Error(err)
			return
		}
		defer a.Close()
		if _, err := a.ExecContext(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("drop the test database: %v", err)
		}
	})
	u, err := url.Parse(adminURL)
	if err != nil {
		t.Fatalf("%s: %v", EnvURL, err)
	}
	u.Path = "/" + name
	return u.String()
}

// Admin opens the test cluster's administrative database, to do to a
// test's database what an outage would; it closes when the test ends.
func Admin(t testing.TB) *sql.DB {
	t.Helper()
	URL(t) // starts the cluster when needed
	db, err := sql.Open("pgx", adminURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// findBin finds a PostgreSQL server program on PATH or where Debian puts it.
func findBin(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/" + name)
	if len(matches) == 0 {
		return "", fmt.Errorf("%s not found on PATH or in /usr/lib/postgresql/*/bin", name)
	}
	return matches[len(matches)-1], nil
}

// startCluster makes and starts a cluster on loopback for this test binary
// and returns the URL of its postgres database.
func startCluster() (string, error) {
	initdb, err := findBin("initdb")
	if err != nil {
		missing = true
		return "", err
	}
	pgctl := filepath.Join(filepath.Dir(initdb), "pg_ctl")
	if _, err := os.Stat(pgctl); err != nil {
		if pgctl, err = findBin("pg_ctl"); err != nil {
			missing = true
			return "", err
		}
	}
	dir, err := os.MkdirTemp("", "wicket-pg-")
	if err != nil {
		return "", err
	}
	// PostgreSQL refuses to run as root: run it as the postgres user on a
	// directory it owns.
	var runAs []string
	if os.Geteuid() == 0 {
		pu, err := user.Lookup("postgres")
		if err != nil {
			os.RemoveAll(dir)
			return "", fmt.Errorf("running as root needs a postgres user to run the server as: %w", err)
		}
		uid, _ := strconv.Atoi(pu.Uid)
		gid, _ := strconv.Atoi(pu.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			os.RemoveAll(dir)
			return "", err
		}
		runAs = []string{"runuser", "-u", "postgres", "--"}
	}
	run := func(args ...string) error {
		args = append(runAs, args...)
		out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
		if err != nil {
			return fmt.Errorf("%s: %v\n%s", filepath.Base(args[len(runAs)]), err, out)
		}
		return nil
	}
	data := filepath.Join(dir, "data")
	if err := run(initdb, "-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync", "--no-instructions"); err != nil {
		os.RemoveAll(dir)
		return "", err
	}
	port, err := freePort()
	if err != nil {
		os.RemoveAll(dir)
		return "", err
	}
	// Durability is of no use to a throwaway cluster.
	opts := fmt.Sprintf("-k %s -c listen_addresses=127.0.0.1 -p %d -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=400", dir, port)
	if err := run(pgctl, "start", "-w", "-s", "-D", data, "-l", filepath.Join(dir, "log"), "-o", opts); err != nil {
		os.RemoveAll(dir)
		return "", err
	}
	if err := stopAtExit(runAs, pgctl, data, dir); err != nil {
		run(pgctl, "stop", "-s", "-m", "immediate", "-D", data)
		os.RemoveAll(dir)
		return "", err
	}
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", port), nil
}

// stopAtExit starts a watcher that stops the cluster and removes its
// directory once this process has exited, however it exits: the watcher
// waits on a pipe only this process holds open.
func stopAtExit(runAs []string, pgctl, data, dir string) error {
	r, w, err := os.Pipe()
	if err != nil {
		return err
	}
	stop := ""
	for _, a := range append(runAs, pgctl, "stop", "-s", "-m", "immediate", "-D", data) {
		stop += strconv.Quote(a) + " "
	}
	script := "read _; " + stop + ">/dev/null 2>&1; rm -rf " + strconv.Quote(dir)
	cmd := exec.Command("sh", "-c", script)
	cmd.Stdin = r
	cmd.SysProcAttr = ownProcessGroup() // not stopped by a ^C meant for the tests
	if err := cmd.Start(); err != nil {
		r.Close()
		w.Close()
		return err
	}
	r.Close()
	// w is held, never written, until this process exits.
	go func() {
		cmd.Wait()
		w.Close()
	}()
	return nil
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}
