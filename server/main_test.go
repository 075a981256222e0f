package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/wicket-vpn/wicket/server/internal/daemon"
	"github.com/wicket-vpn/wicket/server/internal/gateway"
	"github.com/wicket-vpn/wicket/server/internal/tlscert"
	"github.com/wicket-vpn/wicket/server/internal/web"
)

// TestServeUserAddHealthMetricsShutdown runs the real server on a data
// directory, adds a user with the command line while it runs, checks
// /healthz and /readyz over TLS 1.3 with the pinned certificate, that
// /metrics is served on the metrics listener and not on the public port,
// and stops it gracefully.
func TestServeUserAddHealthMetricsShutdown(t *testing.T) {
	dir := t.TempDir()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	mln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	d, err := daemon.Open(ctx, daemon.Options{DataDir: dir, URL: "https://" + ln.Addr().String(), Gateway: gateway.Off, MetricsListener: mln})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	done := make(chan error, 1)
	pages := web.New(d.Service, nil, web.WithServer(d.Opts.URL, d.Fingerprint))
	go func() { done <- d.Serve(ctx, ln, pages) }()

	cmd := userCmd()
	var out bytes.Buffer
	cmd.SetArgs([]string{"add", "root", "--data-dir", dir, "--email", "root@example.com", "--admin", "--groups", "ops,staff"})
	cmd.SetIn(strings.NewReader("a long enough password\n"))
	cmd.SetOut(&out)
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "created admin root") {
		t.Fatalf("user add printed %q", out.String())
	}
	u, err := d.Store.UserByUsername(ctx, "root")
	if err != nil || !u.Admin || strings.Join(u.Groups, ",") != "ops,staff" {
		t.Fatalf("the running server does not see the new user: %+v, %v", u, err)
	}

	cfg := tlscert.PinnedConfig(d.Fingerprint)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}}
	api := "https://" + ln.Addr().String()
	for path, want := range map[string]string{"/healthz": "ok", "/readyz": "ready", "/metrics": "Page not found"} {
		resp, err := client.Get(api + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		wantStatus := 200
		if path == "/metrics" {
			wantStatus = 404
		}
		if resp.StatusCode != wantStatus || !strings.Contains(string(body), want) {
			t.Fatalf("%s: %d %q", path, resp.StatusCode, body)
		}
		if resp.TLS.Version != tls.VersionTLS13 || resp.TLS.CurveID != tls.X25519MLKEM768 {
			t.Fatalf("%s: TLS %x curve %v", path, resp.TLS.Version, resp.TLS.CurveID)
		}
	}
	resp, err := http.Get("http://" + mln.Addr().String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), "wicket_sessions_active") {
		t.Fatalf("metrics listener: %d %q", resp.StatusCode, body)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("shutdown: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("the server did not stop")
	}
}

func TestUserAddNeedsPassword(t *testing.T) {
	cmd := userCmd()
	cmd.SetArgs([]string{"add", "x", "--data-dir", t.TempDir(), "--email", "x@example.com"})
	cmd.SetIn(strings.NewReader(""))
	cmd.SetOut(io.Discard)
	cmd.SetErr(io.Discard)
	err := cmd.Execute()
	if err == nil || !strings.Contains(err.Error(), "standard input") {
		t.Fatalf("err = %v", err)
	}
}

func TestFlagsFromEnvironment(t *testing.T) {
	t.Setenv("WICKET_DATA_DIR", "/srv/wicket")
	t.Setenv("WICKET_MIN_PEER_DISCONNECT_THRESHOLD", "5s")
	cmd := serveCmd()
	if err := bindEnv(cmd.Flags()); err != nil {
		t.Fatal(err)
	}
	if v, _ := cmd.Flags().GetString("data-dir"); v != "/srv/wicket" {
		t.Fatalf("data-dir = %q", v)
	}
	if v, _ := cmd.Flags().GetDuration("min-peer-disconnect-threshold"); v != 5*time.Second {
		t.Fatalf("threshold = %v", v)
	}
	if v, _ := cmd.Flags().GetString("metrics-listen"); v != "127.0.0.1:9464" {
		t.Fatalf("metrics are served on %q by default, want loopback", v)
	}
	t.Setenv("WICKET_METRICS_LISTEN", "") // empty turns metrics off
	cmd = serveCmd()
	if err := bindEnv(cmd.Flags()); err != nil {
		t.Fatal(err)
	}
	if v, _ := cmd.Flags().GetString("metrics-listen"); v != "" {
		t.Fatalf("metrics-listen = %q", v)
	}
	t.Setenv("WICKET_LISTEN_PORT_TYPO", "x") // unknown variables are ignored
	t.Setenv("WICKET_IDLE_CHECK_INTERVAL", "soon")
	if err := bindEnv(serveCmd().Flags()); err == nil || !strings.Contains(err.Error(), "WICKET_IDLE_CHECK_INTERVAL") {
		t.Fatalf("a bad value was accepted: %v", err)
	}
}

// TestPublicURLFlag: --public-url is the server's address, also given as
// WICKET_PUBLIC_URL or under its former name --url (WICKET_URL); two
// different values, or an address clients could not use safely, are
// refused with what to do instead.
func TestPublicURLFlag(t *testing.T) {
	parse := func(args ...string) (string, []string, error) {
		t.Helper()
		cmd := serveCmd()
		f := cmd.Flags()
		if err := f.Parse(args); err != nil {
			t.Fatal(err)
		}
		if err := bindEnv(f); err != nil {
			return "", nil, err
		}
		u, _ := f.GetString("public-url")
		old, _ := f.GetString("url")
		err := resolvePublicURL(f, &u, old)
		replicas, _ := f.GetStringSlice("replica-url")
		return u, replicas, err
	}
	if u, _, err := parse("--public-url", "https://vpn1.example.com:8443"); err != nil || u != "https://vpn1.example.com:8443" {
		t.Fatalf("--public-url: %q, %v", u, err)
	}
	if u, _, err := parse("--url", "https://vpn1.example.com:8443"); err != nil || u != "https://vpn1.example.com:8443" {
		t.Fatalf("--url: %q, %v", u, err)
	}
	if _, _, err := parse("--url", "https://a.example.com", "--public-url", "https://b.example.com"); err == nil || !strings.Contains(err.Error(), "give --public-url alone") {
		t.Fatalf("two different addresses: %v", err)
	}
	if _, _, err := parse("--public-url", "http://vpn.example.com"); err == nil || !strings.Contains(err.Error(), "https://") {
		t.Fatalf("a plain http address: %v", err)
	}
	_, replicas, err := parse("--replica-url", "https://lb.example.com:8443,https://vpn.example.net", "--replica-url", "https://vpn.example.org")
	if err != nil || strings.Join(replicas, " ") != "https://lb.example.com:8443 https://vpn.example.net https://vpn.example.org" {
		t.Fatalf("--replica-url: %v, %v", replicas, err)
	}
	t.Setenv("WICKET_PUBLIC_URL", "https://vpn2.example.com:8443")
	if u, _, err := parse(); err != nil || u != "https://vpn2.example.com:8443" {
		t.Fatalf("WICKET_PUBLIC_URL: %q, %v", u, err)
	}
	t.Setenv("WICKET_PUBLIC_URL", "")
	t.Setenv("WICKET_URL", "https://vpn3.example.com:8443")
	if u, _, err := parse(); err != nil || u != "https://vpn3.example.com:8443" {
		t.Fatalf("WICKET_URL: %q, %v", u, err)
	}
}

// TestReplicaURLChecked: a fixed address that clients could not use is
// refused when the server starts.
func TestReplicaURLChecked(t *testing.T) {
	_, err := daemon.Open(context.Background(), daemon.Options{DataDir: t.TempDir(), URL: "https://127.0.0.1:1", Gateway: gateway.Off, ReplicaURLs: []string{"vpn.example.com:8443"}})
	if err == nil || !strings.Contains(err.Error(), "--replica-url") || !strings.Contains(err.Error(), "https://") {
		t.Fatalf("err = %v", err)
	}
}
