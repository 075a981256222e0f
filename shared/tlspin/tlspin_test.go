package tlspin

import (
	"crypto/tls"
	"crypto/x509"
	"strings"
	"testing"
)

func TestConfigRequiresTLS13AndMLKEM(t *testing.T) {
	for _, fp := range []string{"", strings.Repeat("ab", 32)} {
		c := Config(fp)
		if c.MinVersion != tls.VersionTLS13 || len(c.CurvePreferences) != 1 || c.CurvePreferences[0] != tls.X25519MLKEM768 {
			t.Fatalf("Config(%q) = %+v", fp, c)
		}
		if (fp != "") != (c.VerifyConnection != nil) {
			t.Fatalf("Config(%q): pin check present = %v", fp, c.VerifyConnection != nil)
		}
	}
}

func TestPinRefusesOtherCertificates(t *testing.T) {
	cert := &x509.Certificate{Raw: []byte("a certificate")}
	c := Config("AB:" + strings.Repeat("00", 31))
	err := c.VerifyConnection(tls.ConnectionState{PeerCertificates: []*x509.Certificate{cert}})
	if err == nil || !strings.Contains(err.Error(), "does not match") {
		t.Fatalf("wrong pin = %v", err)
	}
	if err := Config("xyz").VerifyConnection(tls.ConnectionState{PeerCertificates: []*x509.Certificate{cert}}); err == nil || !strings.Contains(err.Error(), "64 hex") {
		t.Fatalf("malformed pin = %v", err)
	}
}
