package mail_test

import (
	"strings"
	"testing"

	"github.com/wicket-vpn/wicket/server/internal/mail"
)

func TestValidate(t *testing.T) {
	good := mail.Settings{Host: "smtp.example.com", Port: 587, From: "Wicket <wicket@example.com>", TLS: mail.TLSStartTLS}
	if err := good.Validate(); err != nil {
		t.Fatalf("valid settings: %v", err)
	}
	ipv6 := good
	ipv6.Host = "::1"
	if err := ipv6.Validate(); err != nil {
		t.Errorf("IPv6 host: %v", err)
	}

	for _, tc := range []struct {
		name string
		edit func(*mail.Settings)
		want string
	}{
		{"no host", func(s *mail.Settings) { s.Host = "" }, "SMTP host is not set"},
		{"host with port", func(s *mail.Settings) { s.Host = "smtp.example.com:587" }, "includes a port"},
		{"host with space", func(s *mail.Settings) { s.Host = "smtp example.com" }, "SMTP host"},
		{"host URL", func(s *mail.Settings) { s.Host = "smtp://smtp.example.com" }, "SMTP host"},
		{"port 0", func(s *mail.Settings) { s.Port = 0 }, "SMTP port 0 is out of range"},
		{"port too big", func(s *mail.Settings) { s.Port = 65536 }, "SMTP port 65536 is out of range"},
		{"no from", func(s *mail.Settings) { s.From = "" }, "From address is not set"},
		{"bad from", func(s *mail.Settings) { s.From = "wicket" }, "From address \"wicket\" is not valid"},
		{"from CRLF", func(s *mail.Settings) { s.From = "a@example.com\r\nBcc: b@example.com" }, "From address contains a line break"},
		{"tls mode", func(s *mail.Settings) { s.TLS = 7 }, "SMTP TLS mode 7 is not valid"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := good
			tc.edit(&s)
			err := s.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Validate() = %v, want an error containing %q", err, tc.want)
			}
		})
	}

	err := mail.Settings{}.Validate()
	for _, want := range []string{"SMTP host", "SMTP port", "From address"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("empty settings: error %v does not mention %q", err, want)
		}
	}
}

func TestConfigured(t *testing.T) {
	for _, tc := range []struct {
		s    mail.Settings
		want bool
	}{
		{mail.Settings{}, false},
		{mail.Settings{Host: "smtp.example.com"}, false},
		{mail.Settings{From: "a@example.com"}, false},
		{mail.Settings{Host: " ", From: "a@example.com"}, false},
		{mail.Settings{Host: "smtp.example.com", From: "a@example.com"}, true},
	} {
		if got := tc.s.Configured(); got != tc.want {
			t.Errorf("%+v.Configured() = %v, want %v", tc.s, got, tc.want)
		}
	}
}

func TestTLSMode(t *testing.T) {
	for _, m := range []mail.TLSMode{mail.TLSNone, mail.TLSStartTLS, mail.TLSImplicit} {
		got, err := mail.ParseTLSMode(strings.ToUpper(m.String()))
		if err != nil || got != m {
			t.Errorf("ParseTLSMode(%q) = %v, %v", m.String(), got, err)
		}
	}
	if s := mail.TLSMode(9).String(); s != "TLSMode(9)" {
		t.Errorf("String() = %q", s)
	}
	if _, err := mail.ParseTLSMode("sometimes"); err == nil {
		t.Error("ParseTLSMode accepted nonsense")
	}
}

func TestMaskAddress(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"alice@example.com", "a***e@e******.com"},
		{"bob@example.org", "b*b@e******.org"},
		{"al@example.com", "a*@e******.com"},
		{"a@example.com", "a*@e******.com"},
		{"alice@mail.example.co.uk", "a***e@m**************.uk"},
		{"alice@x.io", "a***e@x*.io"},
		{"root@localhost", "r**t@l********"},
		{"Alice Example <alice@example.com>", "a***e@e******.com"},
		{"jörg@bücher.de", "j**g@b*****.de"},
		{"  alice@example.com ", "a***e@e******.com"},
		{"", ""},
		{"nonsense", "n******e"},
	} {
		if got := mail.MaskAddress(tc.in); got != tc.want {
			t.Errorf("MaskAddress(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
