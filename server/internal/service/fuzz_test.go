package service_test

import (
	"errors"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/wicket-vpn/wicket/server/internal/fault"
	"github.com/wicket-vpn/wicket/server/internal/service"
)

// FuzzParsePrefixes checks that whatever ParsePrefixes accepts is a list of
// distinct, canonical, masked CIDRs that parse back to themselves, and that
// what it refuses is an invalid-input error naming the field. The fuzzed
// string is split on commas into the list, as an admin types it.
func FuzzParsePrefixes(f *testing.F) {
	for _, s := range []string{
		"",
		"10.0.0.0/8",
		"10.1.2.3/8, 10.0.0.0/8",
		"192.168.1.7",
		"fd00::1/64,fd00::/64,::/0,0.0.0.0/0",
		" 2001:db8::1 , ,",
		"::ffff:10.0.0.1/128",
		"fe80::1%eth0/64",
		"10.0.0.0/33",
		"10.0.0.0/-1",
		"010.0.0.0/8",
		"10.0.0.0/08",
		"not a network",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		list := strings.Split(in, ",")
		out, err := service.ParsePrefixes("allowed_ips", list)
		if err != nil {
			var fe *fault.Error
			if !errors.As(err, &fe) || fe.Kind != fault.Invalid || fe.Field != "allowed_ips" || !strings.HasPrefix(fe.Msg, "allowed_ips: ") {
				t.Fatalf("ParsePrefixes(%q): error %#v is not an invalid-input error naming the field", list, err)
			}
			if out != nil {
				t.Fatalf("ParsePrefixes(%q) returned %q with its error", list, out)
			}
			return
		}
		nonEmpty := 0
		for _, v := range list {
			if strings.TrimSpace(v) != "" {
				nonEmpty++
			}
		}
		if len(out) > nonEmpty {
			t.Fatalf("ParsePrefixes(%q) = %q: more prefixes than it was given", list, out)
		}
		if nonEmpty > 0 && len(out) == 0 {
			t.Fatalf("ParsePrefixes(%q) accepted %d entries but returned none", list, nonEmpty)
		}
		for i, s := range out {
			p, err := netip.ParsePrefix(s)
			if err != nil {
				t.Fatalf("ParsePrefixes(%q) returned %q, which does not parse: %v", list, s, err)
			}
			if p != p.Masked() || p.String() != s {
				t.Fatalf("ParsePrefixes(%q) returned %q, not canonical (%q)", list, s, p.Masked())
			}
			if p.Addr().Zone() != "" {
				t.Fatalf("ParsePrefixes(%q) returned %q with a zone", list, s)
			}
			if slices.Contains(out[:i], s) {
				t.Fatalf("ParsePrefixes(%q) returned %q twice: %q", list, s, out)
			}
		}
		again, err := service.ParsePrefixes("allowed_ips", out)
		if err != nil || !slices.Equal(again, out) {
			t.Fatalf("ParsePrefixes(%q) = %q, but parsing that again gives %q, %v", list, out, again, err)
		}
	})
}

// FuzzParseEndpoint checks that ParseEndpoint never panics, refuses with an
// invalid-input error naming the endpoint field, and accepts only a host
// (an IP address or a DNS name) with a port from 1 to 65535, returned as
// given apart from surrounding space.
func FuzzParseEndpoint(f *testing.F) {
	for _, s := range []string{
		"",
		"vpn.example.com:51820",
		" vpn.example.com:51820 \n",
		"127.0.0.1:51820",
		"[2001:db8::1]:51820",
		"[fe80::1%eth0]:51820",
		"2001:db8::1:51820",
		"vpn.example.com",
		"vpn.example.com:0",
		"vpn.example.com:65536",
		"vpn.example.com:http",
		"-bad-.example.com:1",
		"a..b:1",
		"example.com.:1",
		":51820",
		"[]:1",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		out, err := service.ParseEndpoint(in)
		if err != nil {
			var fe *fault.Error
			if !errors.As(err, &fe) || fe.Kind != fault.Invalid || fe.Field != "endpoint" || !strings.HasPrefix(fe.Msg, "endpoint: ") {
				t.Fatalf("ParseEndpoint(%q): error %#v is not an invalid-input error naming the field", in, err)
			}
			return
		}
		if out != strings.TrimSpace(in) {
			t.Fatalf("ParseEndpoint(%q) = %q, want the input without surrounding space", in, out)
		}
		host, port, err := net.SplitHostPort(out)
		if err != nil {
			t.Fatalf("ParseEndpoint(%q) accepted %q, which has no host and port: %v", in, out, err)
		}
		if host == "" {
			t.Fatalf("ParseEndpoint(%q) accepted an empty host", in)
		}
		// The port is what a UDP socket can dial.
		if _, err := net.ResolveUDPAddr("udp", net.JoinHostPort("127.0.0.1", port)); err != nil {
			t.Fatalf("ParseEndpoint(%q) accepted port %q, which does not resolve: %v", in, port, err)
		}
		if addr, err := netip.ParseAddr(host); err == nil {
			if _, err := net.ResolveUDPAddr("udp", net.JoinHostPort(addr.String(), port)); err != nil {
				t.Fatalf("ParseEndpoint(%q) accepted %q, which does not resolve: %v", in, out, err)
			}
		} else if strings.ContainsAny(host, " \t\r\n/:[]%@") {
			t.Fatalf("ParseEndpoint(%q) accepted host %q, which is neither an IP address nor a DNS name", in, host)
		}
		if again, err := service.ParseEndpoint(out); err != nil || again != out {
			t.Fatalf("ParseEndpoint(%q) = %q, but parsing that again gives %q, %v", in, out, again, err)
		}
	})
}
