// Package seal encrypts secrets stored at rest (for example TOTP seeds and
// WireGuard private keys in the database) with AES-256-GCM under a master
// key.
//
// A sealed value is laid out as
//
//	version (1 byte, currently 1) || nonce (12 bytes) || ciphertext+tag
//
// Every Seal and Open call takes additional authenticated data (aad) that
// binds the secret to where it is stored, e.g. "totp:"+userID, so a sealed
// value copied into another row fails to open.
package seal

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// KeyLen is the length of the master key in bytes.
const KeyLen = 32

// KeyFileName is the name of the master key file inside the data directory.
const KeyFileName = "master.key"

const (
	version1  = 1
	nonceLen  = 12
	tagLen    = 16
	headerLen = 1 + nonceLen
)

// ErrOpen is returned (wrapped) by Open when a sealed value cannot be
// decrypted: the key or aad is wrong, or the data was altered.
var ErrOpen = errors.New("cannot open sealed secret: wrong master key, wrong context, or corrupted data")

// Sealer seals and opens secrets with one master key. It is safe for
// concurrent use.
type Sealer struct {
	aead cipher.AEAD
	key  []byte
}

// New returns a Sealer using key, which must be KeyLen (32) bytes.
func New(key []byte) (*Sealer, error) {
	if len(key) != KeyLen {
		return nil, fmt.Errorf("master key must be %d bytes, got %d", KeyLen, len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("master key: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("master key: %w", err)
	}
	return &Sealer{aead: aead, key: bytes.Clone(key)}, nil
}

// Derive returns a 32-byte key for one purpose, derived from the master
// key with HKDF-SHA256: every process holding the master key (the
// replicas of a database) derives the same one, and it tells nothing of
// the master key or of keys for other purposes.
func (s *Sealer) Derive(purpose string) []byte {
	k, err := hkdf.Key(sha256.New, s.key, nil, "wicket "+purpose, KeyLen)
	if err != nil {
		panic(err) // only for lengths HKDF-SHA256 cannot give
	}
	return k
}

// LoadOrCreate returns a Sealer for the server's master key.
//
// If envKey is non-empty it is used as the key: base64 of 32 bytes, as
// taken by the caller from an environment variable. Otherwise the key is
// read from dataDir/master.key (base64 text). If that file does not exist,
// a new random key is generated and written there with mode 0600,
// atomically, so a crash never leaves a partial key file behind.
func LoadOrCreate(dataDir string, envKey string) (*Sealer, error) {
	if strings.TrimSpace(envKey) != "" {
		key, err := decodeKey(envKey)
		if err != nil {
			return nil, fmt.Errorf("master key from the environment %v; it must be base64 of %d random bytes (generate one with: openssl rand -base64 %d)", err, KeyLen, KeyLen)
		}
		return New(key)
	}
	if dataDir == "" {
		return nil, errors.New("no data directory given for the master key file")
	}
	path := filepath.Join(dataDir, KeyFileName)
	key, err := readKeyFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		key, err = createKeyFile(dataDir, path)
	}
	if err != nil {
		return nil, err
	}
	return New(key)
}

// decodeKey decodes base64 (padded or not) text holding a KeyLen-byte key.
// Its errors complete a sentence starting with the key's source.
func decodeKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	key, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		key, err = base64.RawStdEncoding.DecodeString(s)
	}
	if err != nil {
		return nil, errors.New("is not valid base64")
	}
	if len(key) != KeyLen {
		return nil, fmt.Errorf("has wrong length (%d bytes, want %d)", len(key), KeyLen)
	}
	return key, nil
}

func readKeyFile(path string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		return nil, fmt.Errorf("read master key file: %w", err)
	}
	key, err := decodeKey(string(data))
	if err != nil {
		return nil, fmt.Errorf("master key file %s %v; restore it from backup — sealed secrets cannot be read without it", path, err)
	}
	return key, nil
}

// createKeyFile writes a new random key to path. It writes a temporary
// file in the same directory and then moves it into place. If another
// process created the key file in the meantime, that key is used instead.
func createKeyFile(dir, path string) ([]byte, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create data directory for the master key: %w", err)
	}
	key := make([]byte, KeyLen)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("generate master key: %w", err)
	}
	tmp, err := os.CreateTemp(dir, "."+KeyFileName+".tmp-*")
	if err != nil {
		return nil, fmt.Errorf("create master key file: %w", err)
	}
	tmpName := tmp.Name()
	defer os.Remove(tmpName) // no-op once linked/renamed away

	// CreateTemp uses 0600 already; Chmod makes that explicit and
	// independent of the umask.
	err = tmp.Chmod(0o600)
	if err == nil {
		_, err = tmp.WriteString(base64.StdEncoding.EncodeToString(key) + "\n")
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("write master key file: %w", err)
	}

	// Link refuses to replace an existing file, so two servers starting at
	// once cannot overwrite each other's key. Fall back to rename where
	// hard links are not supported.
	if err := os.Link(tmpName, path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return readKeyFile(path)
		}
		if err := os.Rename(tmpName, path); err != nil {
			return nil, fmt.Errorf("install master key file: %w", err)
		}
	}
	syncDir(dir)
	return key, nil
}

// syncDir flushes directory metadata so the new file survives a crash.
// Failure is ignored: not every platform supports syncing directories.
func syncDir(dir string) {
	d, err := os.Open(dir)
	if err != nil {
		return
	}
	_ = d.Sync()
	_ = d.Close()
}

// additionalData authenticates the format version along with the caller's
// aad.
func additionalData(version byte, aad []byte) []byte {
	ad := make([]byte, 0, 1+len(aad))
	ad = append(ad, version)
	return append(ad, aad...)
}

// Seal encrypts plaintext and returns the sealed value. aad is not stored
// but must be passed unchanged to Open.
func (s *Sealer) Seal(plaintext, aad []byte) []byte {
	out := make([]byte, headerLen, headerLen+len(plaintext)+tagLen)
	out[0] = version1
	// crypto/rand.Read never returns an error (it crashes the program if
	// the system's random source fails).
	_, _ = rand.Read(out[1:headerLen])
	return s.aead.Seal(out, out[1:headerLen], plaintext, additionalData(version1, aad))
}

// Open decrypts a value produced by Seal with the same aad. Authentication
// failures wrap ErrOpen.
func (s *Sealer) Open(sealed, aad []byte) ([]byte, error) {
	if len(sealed) == 0 {
		return nil, errors.New("sealed secret is empty")
	}
	if sealed[0] != version1 {
		return nil, fmt.Errorf("sealed secret has unknown format version %d", sealed[0])
	}
	if len(sealed) < headerLen+tagLen {
		return nil, fmt.Errorf("sealed secret is truncated (%d bytes, at least %d expected)", len(sealed), headerLen+tagLen)
	}
	pt, err := s.aead.Open(nil, sealed[1:headerLen], sealed[headerLen:], additionalData(version1, aad))
	if err != nil {
		return nil, ErrOpen
	}
	if pt == nil {
		pt = []byte{}
	}
	return pt, nil
}
