package store

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// ensureDir makes the data directory, or tightens an existing one, to mode
// 0700: it holds the database, the master key and the TLS key.
func ensureDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create data directory %s: %w", dir, err)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("data directory %s: %w", dir, err)
	}
	if fi.Mode().Perm()&0o077 == 0 {
		return nil
	}
	if fi.Mode()&fs.ModeSticky != 0 {
		// A sticky directory is shared on purpose (like /tmp); taking it
		// away from others would break them.
		return fmt.Errorf("the data directory %s is shared with other users (like /tmp); give --data-dir a directory of its own", dir)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return fmt.Errorf("make the data directory %s private (mode 0700): %w", dir, err)
	}
	return nil
}

// privateFile makes path (creating it empty when missing) mode 0600,
// whatever the umask: the database holds password hashes and sealed secrets.
func privateFile(path string, create bool) error {
	if create {
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
		if err != nil {
			return fmt.Errorf("create database %s: %w", path, err)
		}
		f.Close()
	}
	if err := os.Chmod(path, 0o600); err != nil {
		if !create && errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return fmt.Errorf("make %s private (mode 0600): %w", path, err)
	}
	return nil
}
