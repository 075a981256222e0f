package tlscert

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
)

var testNow = time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)

func mustCreate(t *testing.T, dir string, hosts ...string) tls.Certificate {
	t.Helper()
	cert, err := LoadOrCreate(dir, "", "", hosts, testNow)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

func ipStrings(ips []net.IP) []string {
	var out []string
	for _, ip := range ips {
		out = append(out, ip.String())
	}
	return out
}

func TestSANs(t *testing.T) {
	tests := []struct {
		name     string
		hosts    []string
		hostname string
		wantDNS  []string
		wantIPs  []string
		wantErr  string
	}{
		{
			name:    "defaults only",
			wantDNS: []string{"localhost"},
			wantIPs: []string{"127.0.0.1", "::1"},
		},
		{
			name:     "hostname added",
			hostname: "Gateway-1",
			wantDNS:  []string{"localhost", "gateway-1"},
			wantIPs:  []string{"127.0.0.1", "::1"},
		},
		{
			name:     "unusable hostname skipped",
			hostname: "my laptop",
			wantDNS:  []string{"localhost"},
			wantIPs:  []string{"127.0.0.1", "::1"},
		},
		{
			name: "mixed hosts",
			hosts: []string{
				"vpn.example.com", "vpn.example.com:8443", "VPN.Example.com.",
				"203.0.113.7", "203.0.113.7:443", "[2001:db8::1]:8443", "2001:db8::2",
				"[2001:db8::3]", "fe80::1%eth0", "::ffff:198.51.100.1",
				"https://portal.example.org:8443/path", "*.example.net",
				"", " ", "0.0.0.0", "::", "[::]:8443", ":8443", "0.0.0.0:443", "*", "localhost", "127.0.0.1",
			},
			hostname: "vpn.example.com",
			wantDNS:  []string{"localhost", "vpn.example.com", "portal.example.org", "*.example.net"},
			wantIPs:  []string{"127.0.0.1", "::1", "203.0.113.7", "2001:db8::1", "2001:db8::2", "2001:db8::3", "fe80::1", "198.51.100.1"},
		},
		{
			name:    "invalid host",
			hosts:   []string{"bad host!"},
			wantErr: `cannot put "bad host!" in the TLS certificate`,
		},
		{
			name:    "invalid label",
			hosts:   []string{"-bad.example.com"},
			wantErr: "not a valid host name or IP address",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dns, ips, err := sans(tt.hosts, tt.hostname)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("sans() error = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(dns, tt.wantDNS) {
				t.Errorf("DNS = %q, want %q", dns, tt.wantDNS)
			}
			if got := ipStrings(ips); !slices.Equal(got, tt.wantIPs) {
				t.Errorf("IPs = %q, want %q", got, tt.wantIPs)
			}
		})
	}
}

func TestCreateThenReload(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	cert := mustCreate(t, dir, "vpn.example.com:8443", "203.0.113.7")
	leaf := cert.Leaf
	if leaf == nil {
		t.Fatal("Leaf not set")
	}

	checks := []struct {
		name string
		ok   bool
	}{
		{"common name", leaf.Subject.CommonName == "Wicket server"},
		{"self-signed", bytes.Equal(leaf.RawIssuer, leaf.RawSubject) && leaf.CheckSignature(leaf.SignatureAlgorithm, leaf.RawTBSCertificate, leaf.Signature) == nil},
		{"not before", leaf.NotBefore.Equal(testNow.Add(-time.Hour))},
		{"not after", leaf.NotAfter.Equal(testNow.Add(-time.Hour).Add(Validity))},
		{"ten years", leaf.NotAfter.Sub(leaf.NotBefore) >= 10*365*24*time.Hour},
		{"key usage", leaf.KeyUsage == x509.KeyUsageDigitalSignature},
		{"ext key usage", slices.Equal(leaf.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth})},
		{"not a CA", !leaf.IsCA},
		{"serial positive", leaf.SerialNumber.Sign() > 0 && leaf.SerialNumber.BitLen() > 64},
		{"localhost SAN", slices.Contains(leaf.DNSNames, "localhost")},
		{"host SAN", slices.Contains(leaf.DNSNames, "vpn.example.com")},
		{"ip SAN", slices.Contains(ipStrings(leaf.IPAddresses), "203.0.113.7")},
		{"loopback SANs", slices.Contains(ipStrings(leaf.IPAddresses), "127.0.0.1") && slices.Contains(ipStrings(leaf.IPAddresses), "::1")},
		{"verifies for host", leaf.VerifyHostname("vpn.example.com") == nil},
	}
	for _, c := range checks {
		if !c.ok {
			t.Errorf("generated certificate: %s check failed", c.name)
		}
	}
	pub, ok := leaf.PublicKey.(*ecdsa.PublicKey)
	if !ok || pub.Curve != elliptic.P256() {
		t.Errorf("public key is %T, want ECDSA P-256", leaf.PublicKey)
	}

	if runtime.GOOS != "windows" {
		fi, err := os.Stat(filepath.Join(dir, KeyFileName))
		if err != nil {
			t.Fatal(err)
		}
		if mode := fi.Mode().Perm(); mode != 0o600 {
			t.Errorf("key file mode = %o, want 600", mode)
		}
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 2 {
		t.Errorf("data dir has %d entries, want 2 (temp files left behind?)", len(entries))
	}

	// Reloading, even with other hosts and a later time, returns the same
	// certificate.
	again, err := LoadOrCreate(dir, "", "", []string{"other.example.com"}, testNow.Add(48*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(again.Certificate[0], cert.Certificate[0]) {
		t.Fatal("reload returned a different certificate")
	}
	if Fingerprint(again) != Fingerprint(cert) {
		t.Fatal("fingerprint changed across reload")
	}
}

func TestGivenFiles(t *testing.T) {
	src := t.TempDir()
	want := mustCreate(t, src)
	certFile := filepath.Join(src, CertFileName)
	keyFile := filepath.Join(src, KeyFileName)

	dataDir := t.TempDir()
	got, err := LoadOrCreate(dataDir, certFile, keyFile, nil, testNow)
	if err != nil {
		t.Fatal(err)
	}
	if Fingerprint(got) != Fingerprint(want) {
		t.Fatal("given files not used")
	}
	if entries, _ := os.ReadDir(dataDir); len(entries) != 0 {
		t.Fatalf("data dir was written to: %v", entries)
	}

	garbage := filepath.Join(src, "garbage.pem")
	if err := os.WriteFile(garbage, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(src, "missing.crt")
	tests := []struct {
		name     string
		certFile string
		keyFile  string
		wantErr  []string
	}{
		{name: "missing cert", certFile: missing, keyFile: keyFile, wantErr: []string{missing, keyFile}},
		{name: "garbage cert", certFile: garbage, keyFile: keyFile, wantErr: []string{garbage, keyFile}},
		{name: "cert as key", certFile: certFile, keyFile: certFile, wantErr: []string{"load TLS certificate"}},
		{name: "only cert", certFile: certFile, wantErr: []string{"must be given together"}},
		{name: "only key", keyFile: keyFile, wantErr: []string{"must be given together"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := LoadOrCreate(dataDir, tt.certFile, tt.keyFile, nil, testNow)
			if err == nil {
				t.Fatal("want error")
			}
			for _, w := range tt.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestPartialFiles(t *testing.T) {
	t.Run("orphan key replaced", func(t *testing.T) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, KeyFileName), []byte("half-written"), 0o600); err != nil {
			t.Fatal(err)
		}
		mustCreate(t, dir)
	})
	t.Run("cert without key refused", func(t *testing.T) {
		dir := t.TempDir()
		mustCreate(t, dir)
		if err := os.Remove(filepath.Join(dir, KeyFileName)); err != nil {
			t.Fatal(err)
		}
		_, err := LoadOrCreate(dir, "", "", nil, testNow)
		if err == nil || !strings.Contains(err.Error(), "its key") || !strings.Contains(err.Error(), "is missing") {
			t.Fatalf("error = %v, want missing key error", err)
		}
	})
}

func TestFingerprint(t *testing.T) {
	cert := mustCreate(t, t.TempDir())
	sum := sha256.Sum256(cert.Certificate[0])
	want := hex.EncodeToString(sum[:])

	noLeaf := cert
	noLeaf.Leaf = nil
	tests := []struct {
		name string
		cert tls.Certificate
		want string
	}{
		{name: "with leaf", cert: cert, want: want},
		{name: "without leaf", cert: noLeaf, want: want},
		{name: "empty", cert: tls.Certificate{}, want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Fingerprint(tt.cert); got != tt.want {
				t.Fatalf("Fingerprint() = %q, want %q", got, tt.want)
			}
		})
	}
	if len(want) != 64 || strings.ToLower(want) != want {
		t.Fatalf("fingerprint %q is not 64 lowercase hex", want)
	}
}

// handshake runs a TLS handshake over a loopback TCP connection (whose
// kernel buffers, unlike net.Pipe, let either side send an alert while the
// other is still writing) and returns the client's connection state and
// error.
func handshake(t *testing.T, server *tls.Config, client *tls.Config) (tls.ConnectionState, error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	deadline := time.Now().Add(10 * time.Second)

	done := make(chan struct{})
	go func() {
		defer close(done)
		s, err := ln.Accept()
		if err != nil {
			return
		}
		defer s.Close()
		_ = s.SetDeadline(deadline)
		_ = tls.Server(s, server).Handshake()
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(deadline)
	cl := tls.Client(c, client)
	err = cl.Handshake()
	_ = c.Close()
	<-done
	return cl.ConnectionState(), err
}

func TestPinnedHandshake(t *testing.T) {
	cert := mustCreate(t, t.TempDir())
	other := mustCreate(t, t.TempDir())
	fp := Fingerprint(cert)
	colon := strings.ToUpper(fp[0:2])
	for i := 2; i < len(fp); i += 2 {
		colon += ":" + strings.ToUpper(fp[i:i+2])
	}

	defaultServer := &tls.Config{Certificates: []tls.Certificate{cert}}
	classicServer := &tls.Config{
		Certificates:     []tls.Certificate{cert},
		CurvePreferences: []tls.CurveID{tls.X25519, tls.CurveP256},
	}
	tls12Server := &tls.Config{
		Certificates: []tls.Certificate{cert},
		MaxVersion:   tls.VersionTLS12,
	}

	tests := []struct {
		name    string
		server  *tls.Config
		pin     string
		wantErr string
	}{
		{name: "right pin", server: defaultServer, pin: fp},
		{name: "right pin, uppercase with colons", server: defaultServer, pin: colon},
		{name: "wrong pin", server: defaultServer, pin: Fingerprint(other), wantErr: "server certificate does not match the enrollment code's fingerprint"},
		{name: "malformed pin", server: defaultServer, pin: "abcd", wantErr: "is not 64 hex characters"},
		{name: "no pin, self-signed", server: defaultServer, pin: "", wantErr: "certificate"},
		{name: "server without ML-KEM", server: classicServer, pin: fp, wantErr: "handshake failure"},
		{name: "server limited to TLS 1.2", server: tls12Server, pin: fp, wantErr: "protocol version"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := PinnedConfig(tt.pin)
			cfg.ServerName = "localhost"
			cs, err := handshake(t, tt.server, cfg)
			if tt.wantErr != "" {
				if err == nil {
					t.Fatal("handshake succeeded, want error")
				}
				t.Logf("error: %v", err)
				if !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %q, want it to contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("handshake: %v", err)
			}
			if cs.Version != tls.VersionTLS13 {
				t.Errorf("version = %x, want TLS 1.3", cs.Version)
			}
			if cs.CurveID != tls.X25519MLKEM768 {
				t.Errorf("key exchange = %v, want X25519MLKEM768", cs.CurveID)
			}
		})
	}
}

func TestPinnedConfigFields(t *testing.T) {
	tests := []struct {
		name       string
		pin        string
		wantSkip   bool
		wantVerify bool
	}{
		{name: "pinned", pin: strings.Repeat("ab", 32), wantSkip: true, wantVerify: true},
		{name: "system roots", pin: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := PinnedConfig(tt.pin)
			if cfg.MinVersion != tls.VersionTLS13 {
				t.Errorf("MinVersion = %x", cfg.MinVersion)
			}
			if !slices.Equal(cfg.CurvePreferences, []tls.CurveID{tls.X25519MLKEM768}) {
				t.Errorf("CurvePreferences = %v", cfg.CurvePreferences)
			}
			if cfg.InsecureSkipVerify != tt.wantSkip {
				t.Errorf("InsecureSkipVerify = %v", cfg.InsecureSkipVerify)
			}
			if (cfg.VerifyConnection != nil) != tt.wantVerify {
				t.Errorf("VerifyConnection set = %v", cfg.VerifyConnection != nil)
			}
		})
	}
}
