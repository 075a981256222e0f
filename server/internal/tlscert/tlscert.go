// Package tlscert provides the Wicket server's HTTPS certificate and the
// client-side TLS configuration used to reach it.
//
// A server either uses a certificate supplied by the admin (for example
// one signed by a public CA) or a self-signed certificate that is created
// once in the data directory. Clients of a self-signed server pin the
// certificate by the SHA-256 fingerprint carried in the enrollment code.
package tlscert

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/wicket-vpn/wicket/shared/hostname"
	"github.com/wicket-vpn/wicket/shared/tlspin"
)

// File names of the generated certificate and key inside the data
// directory.
const (
	CertFileName = "tls.crt"
	KeyFileName  = "tls.key"
)

// Properties of generated certificates.
const (
	CommonName = "Wicket server"
	// Validity is how long a generated certificate is valid, counted from
	// one hour before creation.
	Validity = 10 * 365 * 24 * time.Hour
)

// LoadOrCreate returns the server's TLS certificate.
//
// If certFile and keyFile are given, the PEM certificate chain and key are
// loaded from them. Otherwise dataDir/tls.crt and dataDir/tls.key are
// used; if they do not exist yet, a self-signed ECDSA P-256 certificate is
// created there (key file mode 0600) and reused on later starts, so its
// fingerprint stays stable. The certificate is valid from now-1h for ten
// years and names "localhost", 127.0.0.1, ::1, the machine's host name and
// every entry of hosts. Entries of hosts may be IP addresses, DNS names,
// host:port pairs or URLs; ports are stripped and unspecified addresses
// ("", "0.0.0.0", "::", "*") are skipped. hosts only matter when the
// certificate is created.
//
// The returned certificate has Leaf set.
func LoadOrCreate(dataDir, certFile, keyFile string, hosts []string, now time.Time) (tls.Certificate, error) {
	if certFile != "" || keyFile != "" {
		if certFile == "" || keyFile == "" {
			return tls.Certificate{}, fmt.Errorf("TLS certificate and key files must be given together (certificate %q, key %q)", certFile, keyFile)
		}
		return load(certFile, keyFile)
	}
	if dataDir == "" {
		return tls.Certificate{}, errors.New("no data directory for the TLS certificate and no certificate files given")
	}
	certPath := filepath.Join(dataDir, CertFileName)
	keyPath := filepath.Join(dataDir, KeyFileName)

	certExists, err := exists(certPath)
	if err != nil {
		return tls.Certificate{}, err
	}
	keyExists, err := exists(keyPath)
	if err != nil {
		return tls.Certificate{}, err
	}
	switch {
	case certExists && keyExists:
		return load(certPath, keyPath)
	case certExists && !keyExists:
		return tls.Certificate{}, fmt.Errorf("TLS certificate %s exists but its key %s is missing; restore the key from backup, or delete %s to create a new certificate (enrolled clients will then need new enrollment codes)", certPath, keyPath, certPath)
	}
	// A key without a certificate is left over from an interrupted
	// creation (the certificate is written last); it is replaced.
	dns, ips, err := sans(hosts, machineName())
	if err != nil {
		return tls.Certificate{}, err
	}
	certPEM, keyPEM, err := generate(dns, ips, now)
	if err != nil {
		return tls.Certificate{}, err
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return tls.Certificate{}, fmt.Errorf("create data directory for the TLS certificate: %w", err)
	}
	if err := writeAtomic(keyPath, keyPEM, 0o600); err != nil {
		return tls.Certificate{}, fmt.Errorf("write TLS key: %w", err)
	}
	if err := writeAtomic(certPath, certPEM, 0o644); err != nil {
		return tls.Certificate{}, fmt.Errorf("write TLS certificate: %w", err)
	}
	return load(certPath, keyPath)
}

func load(certFile, keyFile string) (tls.Certificate, error) {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("load TLS certificate %s and key %s: %w", certFile, keyFile, err)
	}
	if cert.Leaf == nil {
		leaf, err := x509.ParseCertificate(cert.Certificate[0])
		if err != nil {
			return tls.Certificate{}, fmt.Errorf("parse TLS certificate %s: %w", certFile, err)
		}
		cert.Leaf = leaf
	}
	return cert, nil
}

func exists(path string) (bool, error) {
	_, err := os.Stat(path)
	if err == nil {
		return true, nil
	}
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	return false, fmt.Errorf("check TLS file: %w", err)
}

func machineName() string {
	h, err := os.Hostname()
	if err != nil {
		return ""
	}
	return h
}

// generate creates a self-signed certificate and returns it and its key in
// PEM form.
func generate(dns []string, ips []net.IP, now time.Time) (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("generate TLS key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, nil, fmt.Errorf("generate certificate serial number: %w", err)
	}
	serial.Add(serial, big.NewInt(1)) // serial numbers must be positive
	notBefore := now.Add(-time.Hour)
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: CommonName},
		NotBefore:             notBefore,
		NotAfter:              notBefore.Add(Validity),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		DNSNames:              dns,
		IPAddresses:           ips,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, fmt.Errorf("create TLS certificate: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, fmt.Errorf("encode TLS key: %w", err)
	}
	certPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM = pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
	return certPEM, keyPEM, nil
}

// sans returns the subject alternative names for a generated certificate:
// localhost, the loopback addresses, host (the machine's name, skipped if
// empty or unusable) and every entry of hosts.
func sans(hosts []string, host string) (dns []string, ips []net.IP, err error) {
	seenDNS := map[string]bool{}
	seenIP := map[netip.Addr]bool{}
	addDNS := func(name string) {
		if !seenDNS[name] {
			seenDNS[name] = true
			dns = append(dns, name)
		}
	}
	addIP := func(a netip.Addr) {
		if !seenIP[a] {
			seenIP[a] = true
			ips = append(ips, net.IP(a.AsSlice()))
		}
	}
	addDNS("localhost")
	addIP(netip.MustParseAddr("127.0.0.1"))
	addIP(netip.IPv6Loopback())

	if h, ok := cleanHost(host); ok {
		if a, err := netip.ParseAddr(h); err == nil {
			addIP(a.WithZone("").Unmap())
		} else if validDNSName(h) {
			addDNS(h)
		}
	}
	for _, entry := range hosts {
		h, ok := cleanHost(entry)
		if !ok {
			continue
		}
		if a, err := netip.ParseAddr(h); err == nil {
			addIP(a.WithZone("").Unmap())
			continue
		}
		if !validDNSName(h) {
			return nil, nil, fmt.Errorf("cannot put %q in the TLS certificate: it is not a valid host name or IP address", entry)
		}
		addDNS(h)
	}
	return dns, ips, nil
}

// cleanHost reduces a host, host:port or URL to a lowercase host name or
// IP address. It reports false for empty and unspecified hosts.
func cleanHost(s string) (string, bool) {
	s = strings.TrimSpace(s)
	if strings.Contains(s, "://") {
		if u, err := url.Parse(s); err == nil {
			s = u.Host
		}
	}
	if h, _, err := net.SplitHostPort(s); err == nil {
		s = h
	}
	s = strings.TrimSuffix(strings.TrimPrefix(s, "["), "]")
	s = strings.TrimSuffix(strings.ToLower(s), ".")
	if s == "" || s == "*" {
		return "", false
	}
	if a, err := netip.ParseAddr(s); err == nil && a.IsUnspecified() {
		return "", false
	}
	return s, true
}

// validDNSName reports whether s can go in the certificate as a DNS name:
// a host name, optionally under a leading "*." wildcard label.
func validDNSName(s string) bool {
	return hostname.Valid(strings.TrimPrefix(s, "*."))
}

// writeAtomic writes data to a temporary file next to path and renames it
// into place.
func writeAtomic(path string, data []byte, mode os.FileMode) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // no-op after a successful rename
	err = tmp.Chmod(mode)
	if err == nil {
		_, err = tmp.Write(data)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// Fingerprint returns the lowercase hex SHA-256 of the DER encoding of
// cert's leaf certificate, or "" if cert has no certificate.
func Fingerprint(cert tls.Certificate) string {
	var der []byte
	switch {
	case cert.Leaf != nil:
		der = cert.Leaf.Raw
	case len(cert.Certificate) > 0:
		der = cert.Certificate[0]
	default:
		return ""
	}
	sum := sha256.Sum256(der)
	return hex.EncodeToString(sum[:])
}

// PinnedConfig returns a client TLS configuration for reaching a Wicket
// server. Both variants require TLS 1.3 and the hybrid post-quantum key
// exchange X25519MLKEM768.
//
// With a non-empty fingerprint (lowercase or uppercase hex, optionally
// colon-separated) the usual chain and host name verification is replaced
// by a check that the server's leaf certificate has exactly that SHA-256
// fingerprint, which is how clients trust a self-signed server. With an
// empty fingerprint the server certificate is verified normally against
// the system roots.
func PinnedConfig(fingerprint string) *tls.Config { return tlspin.Config(fingerprint) }
