package hostname

import (
	"strings"
	"testing"
)

func TestValid(t *testing.T) {
	label63 := strings.Repeat("a", 63)
	// 4 labels of 63 and one of 1, joined by dots: 253 characters.
	name253 := strings.Join([]string{label63, label63, label63, label63[:61]}, ".")
	for _, tt := range []struct {
		name string
		ok   bool
	}{
		{"localhost", true},
		{"vpn.example.com", true},
		{"VPN.Example.COM", true},
		{"vpn.example.com.", true},
		{"a", true},
		{"a-b.c-d", true},
		{"xn--bcher-kva.example", true},
		{"_sip._tcp.example.com", true},
		{"host_1.corp.example", true},
		{"1.example.com", true},
		{"123abc", true},
		{"a.b2", true},
		{label63 + ".example", true},
		{name253, true},
		{name253 + ".", true},

		{"", false},
		{".", false},
		{"..", false},
		{".example.com", false},
		{"a..b", false},
		{"example.com..", false},
		{"-bad.example.com", false},
		{"bad-.example.com", false},
		{"a.-b", false},
		{label63 + "a.example", false},
		{name253 + "a", false},
		{"has space.example", false},
		{"tab\t.example", false},
		{"exa mple", false},
		{"host:80", false},
		{"user@host", false},
		{"a/b", false},
		{"[::1]", false},
		{"*.example.com", false},
		{"bücher.example", false},
		{"10.0.0.256", false},
		{"1.2.3.4", false},
		{"1234", false},
		{"example.123", false},
		{"percent%20", false},
	} {
		if got := Valid(tt.name); got != tt.ok {
			t.Errorf("Valid(%q) = %v, want %v", tt.name, got, tt.ok)
		}
	}
	if len(name253) != MaxLen {
		t.Fatalf("the longest name in the table has %d characters, want %d", len(name253), MaxLen)
	}
}
