package seal

import (
	"bytes"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

func testKey(b byte) []byte {
	return bytes.Repeat([]byte{b}, KeyLen)
}

func mustNew(t *testing.T, key []byte) *Sealer {
	t.Helper()
	s, err := New(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestNewKeyLength(t *testing.T) {
	tests := []struct {
		name string
		key  []byte
		ok   bool
	}{
		{name: "32 bytes", key: testKey(1), ok: true},
		{name: "nil", key: nil},
		{name: "16 bytes", key: make([]byte, 16)},
		{name: "33 bytes", key: make([]byte, 33)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.key)
			if (err == nil) != tt.ok {
				t.Fatalf("New() error = %v, want ok=%v", err, tt.ok)
			}
		})
	}
}

func TestRoundTrip(t *testing.T) {
	s := mustNew(t, testKey(7))
	tests := []struct {
		name      string
		plaintext []byte
		aad       []byte
	}{
		{name: "empty", plaintext: nil, aad: nil},
		{name: "short", plaintext: []byte("JBSWY3DPEHPK3PXP"), aad: []byte("totp:42")},
		{name: "binary", plaintext: []byte{0, 1, 2, 255}, aad: []byte("wgkey:device-1")},
		{name: "large", plaintext: bytes.Repeat([]byte("x"), 1<<16), aad: []byte("blob")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sealed := s.Seal(tt.plaintext, tt.aad)
			if len(sealed) != 1+12+len(tt.plaintext)+16 || sealed[0] != 1 {
				t.Fatalf("unexpected sealed layout: len %d, version %d", len(sealed), sealed[0])
			}
			if len(tt.plaintext) >= 4 && bytes.Contains(sealed, tt.plaintext) {
				t.Fatal("plaintext visible in sealed value")
			}
			got, err := s.Open(sealed, tt.aad)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, tt.plaintext) {
				t.Fatalf("Open() = %q, want %q", got, tt.plaintext)
			}
			if again := s.Seal(tt.plaintext, tt.aad); bytes.Equal(again, sealed) {
				t.Fatal("two seals of the same plaintext are identical; nonce not random")
			}
		})
	}
}

func TestOpenFailures(t *testing.T) {
	s := mustNew(t, testKey(7))
	other := mustNew(t, testKey(8))
	sealed := s.Seal([]byte("secret seed"), []byte("totp:1"))

	flip := func(i int) []byte {
		b := bytes.Clone(sealed)
		b[i] ^= 0x01
		return b
	}
	tests := []struct {
		name    string
		sealer  *Sealer
		sealed  []byte
		aad     string
		wantErr string
	}{
		{name: "wrong aad (row swap)", sealer: s, sealed: sealed, aad: "totp:2", wantErr: ErrOpen.Error()},
		{name: "empty aad", sealer: s, sealed: sealed, aad: "", wantErr: ErrOpen.Error()},
		{name: "wrong key", sealer: other, sealed: sealed, aad: "totp:1", wantErr: ErrOpen.Error()},
		{name: "tampered nonce", sealer: s, sealed: flip(3), aad: "totp:1", wantErr: ErrOpen.Error()},
		{name: "tampered ciphertext", sealer: s, sealed: flip(14), aad: "totp:1", wantErr: ErrOpen.Error()},
		{name: "tampered tag", sealer: s, sealed: flip(len(sealed) - 1), aad: "totp:1", wantErr: ErrOpen.Error()},
		{name: "tampered version", sealer: s, sealed: flip(0), aad: "totp:1", wantErr: "unknown format version 0"},
		{name: "appended byte", sealer: s, sealed: append(bytes.Clone(sealed), 0), aad: "totp:1", wantErr: ErrOpen.Error()},
		{name: "truncated", sealer: s, sealed: sealed[:20], aad: "totp:1", wantErr: "truncated"},
		{name: "empty", sealer: s, sealed: nil, aad: "totp:1", wantErr: "empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.sealer.Open(tt.sealed, []byte(tt.aad))
			if err == nil {
				t.Fatalf("Open() = %q, want error", got)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Open() error = %q, want it to contain %q", err, tt.wantErr)
			}
		})
	}
	if _, err := s.Open(flip(14), []byte("totp:1")); !errors.Is(err, ErrOpen) {
		t.Fatalf("tamper error %v is not ErrOpen", err)
	}
}

func TestLoadOrCreatePersists(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data") // does not exist yet
	s1, err := LoadOrCreate(dir, "")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, KeyFileName)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if runtime.GOOS != "windows" {
		if mode := fi.Mode().Perm(); mode != 0o600 {
			t.Fatalf("key file mode = %o, want 600", mode)
		}
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if key, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(data))); err != nil || len(key) != KeyLen {
		t.Fatalf("key file content %q is not base64 of %d bytes", data, KeyLen)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Fatalf("data dir has %d entries, want only %s (temp file left behind?)", len(entries), KeyFileName)
	}

	sealed := s1.Seal([]byte("hello"), []byte("row:1"))
	s2, err := LoadOrCreate(dir, "")
	if err != nil {
		t.Fatal(err)
	}
	got, err := s2.Open(sealed, []byte("row:1"))
	if err != nil || string(got) != "hello" {
		t.Fatalf("reloaded sealer Open() = %q, %v", got, err)
	}
	data2, _ := os.ReadFile(path)
	if !bytes.Equal(data, data2) {
		t.Fatal("key file rewritten on second load")
	}
}

func TestLoadOrCreateEnvKeyWins(t *testing.T) {
	dir := t.TempDir()
	fileSealer, err := LoadOrCreate(dir, "")
	if err != nil {
		t.Fatal(err)
	}
	envKey := testKey(9)
	tests := []struct {
		name string
		env  string
	}{
		{name: "padded", env: base64.StdEncoding.EncodeToString(envKey)},
		{name: "unpadded", env: base64.RawStdEncoding.EncodeToString(envKey)},
		{name: "with whitespace", env: " " + base64.StdEncoding.EncodeToString(envKey) + "\n"},
	}
	want := mustNew(t, envKey).Seal([]byte("x"), nil)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := LoadOrCreate(dir, tt.env)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := s.Open(want, nil); err != nil {
				t.Fatalf("env sealer cannot open value sealed with env key: %v", err)
			}
			if _, err := fileSealer.Open(s.Seal([]byte("x"), nil), nil); err == nil {
				t.Fatal("file key opened a value sealed with the env key")
			}
		})
	}
	// The env key must not touch the data directory.
	empty := t.TempDir()
	if _, err := LoadOrCreate(empty, base64.StdEncoding.EncodeToString(envKey)); err != nil {
		t.Fatal(err)
	}
	if entries, _ := os.ReadDir(empty); len(entries) != 0 {
		t.Fatalf("env key created files in data dir: %v", entries)
	}
}

func TestLoadOrCreateErrors(t *testing.T) {
	tests := []struct {
		name    string
		file    string // content of master.key; "" means no file
		env     string
		wantErr string
	}{
		{name: "env not base64", env: "not base64!", wantErr: "master key from the environment is not valid base64; it must be base64 of 32 random bytes"},
		{name: "env wrong length", env: base64.StdEncoding.EncodeToString(make([]byte, 16)), wantErr: "has wrong length (16 bytes, want 32)"},
		{name: "file wrong length", file: base64.StdEncoding.EncodeToString(make([]byte, 31)), wantErr: "has wrong length (31 bytes, want 32); restore it from backup — sealed secrets cannot be read without it"},
		{name: "file not base64", file: "%%%%", wantErr: "is not valid base64; restore it from backup"},
		{name: "file empty", file: "\n", wantErr: "has wrong length (0 bytes, want 32)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if tt.file != "" {
				if err := os.WriteFile(filepath.Join(dir, KeyFileName), []byte(tt.file), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			_, err := LoadOrCreate(dir, tt.env)
			if err == nil {
				t.Fatal("LoadOrCreate() succeeded, want error")
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error = %q, want it to contain %q", err, tt.wantErr)
			}
			if tt.file != "" {
				data, _ := os.ReadFile(filepath.Join(dir, KeyFileName))
				if string(data) != tt.file {
					t.Fatal("bad key file was overwritten")
				}
			}
		})
	}
}

func TestLoadOrCreateConcurrent(t *testing.T) {
	dir := t.TempDir()
	const n = 8
	sealers := make(chan *Sealer, n)
	errs := make(chan error, n)
	for range n {
		go func() {
			s, err := LoadOrCreate(dir, "")
			if err != nil {
				errs <- err
				return
			}
			sealers <- s
		}()
	}
	var all []*Sealer
	for range n {
		select {
		case err := <-errs:
			t.Fatal(err)
		case s := <-sealers:
			all = append(all, s)
		}
	}
	sealed := all[0].Seal([]byte("x"), nil)
	for i, s := range all {
		if _, err := s.Open(sealed, nil); err != nil {
			t.Fatalf("sealer %d has a different key: %v", i, err)
		}
	}
}
