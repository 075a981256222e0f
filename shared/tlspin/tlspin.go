// Package tlspin makes the TLS client configuration Wicket's programs use to
// reach a Wicket server: TLS 1.3 with the hybrid post-quantum key exchange
// X25519MLKEM768 required, and the server's certificate optionally pinned by
// its SHA-256 fingerprint (as enrollment codes carry it).
package tlspin

import (
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// Config returns a client TLS configuration for reaching a Wicket server.
// Both variants require TLS 1.3 and X25519MLKEM768, so the pre-shared keys
// that travel inside the channel are protected against a future quantum
// adversary recording it today.
//
// With a non-empty fingerprint (lowercase or uppercase hex, optionally
// colon-separated) the usual chain and host name verification is replaced
// by a check that the server's leaf certificate has exactly that SHA-256
// fingerprint, which is how clients trust a self-signed server. With an
// empty fingerprint the server certificate is verified normally against
// the system roots.
func Config(fingerprint string) *tls.Config {
	cfg := &tls.Config{
		MinVersion:       tls.VersionTLS13,
		CurvePreferences: []tls.CurveID{tls.X25519MLKEM768},
	}
	if fingerprint == "" {
		return cfg
	}
	want, pinErr := decodeFingerprint(fingerprint)
	// Chain and host name verification are skipped on purpose: the pin
	// below, checked for full and resumed handshakes alike, is stricter.
	cfg.InsecureSkipVerify = true
	cfg.VerifyConnection = func(cs tls.ConnectionState) error {
		if pinErr != nil {
			return pinErr
		}
		if len(cs.PeerCertificates) == 0 {
			return errors.New("server sent no TLS certificate")
		}
		got := sha256.Sum256(cs.PeerCertificates[0].Raw)
		if subtle.ConstantTimeCompare(got[:], want) != 1 {
			return fmt.Errorf("server certificate does not match the enrollment code's fingerprint (server has %s, code has %s); ask your admin for a new enrollment code",
				hex.EncodeToString(got[:]), hex.EncodeToString(want))
		}
		return nil
	}
	return cfg
}

func decodeFingerprint(fp string) ([]byte, error) {
	s := strings.ReplaceAll(strings.TrimSpace(fp), ":", "")
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != sha256.Size {
		return nil, fmt.Errorf("certificate fingerprint %q is not 64 hex characters; ask your admin for a new enrollment code", fp)
	}
	return b, nil
}
