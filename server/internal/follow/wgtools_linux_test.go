package follow_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"

	v1 "github.com/wicket-vpn/wicket/proto/gen/wicket/v1"
	"github.com/wicket-vpn/wicket/server/internal/follow"
	"github.com/wicket-vpn/wicket/server/internal/gateway"
	"github.com/wicket-vpn/wicket/server/internal/gateway/gatewaytest"
	"github.com/wicket-vpn/wicket/server/internal/peers"
	"github.com/wicket-vpn/wicket/server/internal/servertest"
	"github.com/wicket-vpn/wicket/shared/wgquick"
)

// needWireGuardTools skips a test that runs Debian's WireGuard tools on a
// kernel TUN interface where it cannot run; in CI it fails instead, so the
// test is never lost to a missing package.
func needWireGuardTools(t *testing.T) {
	t.Helper()
	var why string
	if os.Geteuid() != 0 {
		why = "needs root (CAP_NET_ADMIN) for a TUN interface"
	} else if f, err := os.OpenFile("/dev/net/tun", os.O_RDWR, 0); err != nil {
		why = fmt.Sprintf("needs /dev/net/tun (%v)", err)
	} else {
		f.Close()
		for _, tool := range []string{"wg", "wireguard-go", "ip", "ping"} {
			if _, err := exec.LookPath(tool); err != nil {
				why = fmt.Sprintf("needs %s: apt-get install -y wireguard-tools wireguard-go iproute2 iputils-ping", tool)
				break
			}
		}
	}
	if why == "" {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("the standard WireGuard config test %s; CI must run it", why)
	}
	t.Skipf("the standard WireGuard config test %s; it runs in CI", why)
}

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// wireguardGo starts `wireguard-go -f iface` and waits for its UAPI socket.
func wireguardGo(t *testing.T, iface string) {
	t.Helper()
	cmd := exec.Command("wireguard-go", "-f", iface)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
		exec.Command("ip", "link", "del", iface).Run() // gone with the process, normally
	})
	sock := filepath.Join("/var/run/wireguard", iface+".sock")
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(15 * time.Second)
	for {
		if _, err := os.Stat(sock); err == nil {
			return
		}
		select {
		case err := <-exited:
			t.Fatalf("wireguard-go exited (%v):\n%s", err, out.String())
		case <-deadline:
			t.Fatalf("wireguard-go made no %s:\n%s", sock, out.String())
		case <-tick.C:
		}
	}
}

// pingUntil pings addr once a second until it answers or ctx ends.
func pingUntil(ctx context.Context, addr string) error {
	for {
		err := exec.CommandContext(ctx, "ping", "-n", "-c", "1", "-W", "1", addr).Run()
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("no answer from %s: %w", addr, err)
		}
	}
}

// TestStandardConfigTunnelWithWireGuardTools: the .conf made on the
// profile, given to Debian's wireguard-go and wg as a phone's app would
// take it, brings a tunnel up to wicketd's gateway and pings the gateway's
// address. When the location turns MFA on the static peer leaves the
// gateway and the tunnel carries nothing; a config for an MFA location is
// refused.
func TestStandardConfigTunnelWithWireGuardTools(t *testing.T) {
	needWireGuardTools(t)
	s := servertest.New(t)
	s.Clock.Set(time.Now())
	ctx := servertest.Ctx(t)
	port := gatewaytest.FreeUDPPort(t)
	// A network no other test of this repository routes on the host.
	loc := s.CreateLocation(&v1.Location{Name: "Home", Address: "10.231.77.1/24", ListenPort: uint32(port),
		Endpoint: "127.0.0.1:" + strconv.Itoa(port), KeepaliveIntervalSeconds: 5})
	ap := newApplied()
	emb := follow.NewEmbedded(s.Svc, gateway.Options{Mode: gateway.Netstack, Log: gatewaytest.Log(t), OnApplied: ap.hook}, time.Hour)
	runCtx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { emb.Run(runCtx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })

	u := s.CreateUser("alice")
	made, err := s.Account.CreateConfigDevice(ctx, servertest.Req(u.Token, &v1.CreateConfigDeviceRequest{Name: "Phone", LocationId: loc.Id}))
	if err != nil {
		t.Fatal(err)
	}
	conf := made.Msg.Config
	t.Logf("the config:\n%s", regexp.MustCompile(`PrivateKey = .*`).ReplaceAllString(conf, "PrivateKey = (hidden)"))
	addr := regexp.MustCompile(`(?m)^Address = (.*)$`).FindStringSubmatch(conf)
	routes := regexp.MustCompile(`(?m)^AllowedIPs = (.*)$`).FindStringSubmatch(conf)
	if addr == nil || routes == nil {
		t.Fatalf("no Address or AllowedIPs in the config:\n%s", conf)
	}

	iface := fmt.Sprintf("wkc%d", os.Getpid()%100000)
	wireguardGo(t, iface)
	file := filepath.Join(t.TempDir(), "home-phone.conf")
	if err := os.WriteFile(file, []byte(wgquick.Strip(conf)), 0o600); err != nil {
		t.Fatal(err)
	}
	run(t, "wg", "setconf", iface, file)
	run(t, "ip", "address", "add", addr[1], "dev", iface)
	run(t, "ip", "link", "set", "up", "dev", iface)
	for _, r := range strings.Split(routes[1], ",") {
		run(t, "ip", "route", "add", strings.TrimSpace(r), "dev", iface)
	}
	if err := pingUntil(pingCtx(t, 20*time.Second), "10.231.77.1"); err != nil {
		t.Fatalf("the tunnel from the standard config did not come up: %v\n%s", err, run(t, "wg", "show", iface))
	}
	if hs := run(t, "wg", "show", iface, "latest-handshakes"); strings.HasSuffix(strings.TrimSpace(hs), "\t0") {
		t.Fatalf("ping answered without a handshake: %q", hs)
	}

	// MFA on: the static peer leaves the gateway, and the tunnel is dead.
	loc.MfaMode = v1.LocationMfaMode_LOCATION_MFA_MODE_INTERNAL
	if _, err := s.Admin.UpdateLocation(ctx, servertest.Req(s.AdminToken(), &v1.UpdateLocationRequest{Location: loc})); err != nil {
		t.Fatal(err)
	}
	ap.waitFor(t, "the config device's removal", func(peers.Change) bool {
		g := emb.Gateway(loc.Id)
		return g != nil && len(g.Peers()) == 0
	})
	if err := exec.Command("ping", "-n", "-c", "2", "-W", "1", "10.231.77.1").Run(); err == nil {
		t.Fatal("the gateway still answers the config device while Home asks for MFA")
	}
	_, err = s.Account.CreateConfigDevice(ctx, servertest.Req(u.Token, &v1.CreateConfigDeviceRequest{Name: "Tablet", LocationId: loc.Id}))
	var ce *connect.Error
	if !errors.As(err, &ce) || ce.Code() != connect.CodeFailedPrecondition {
		t.Fatalf("a config for the MFA location = %v, want FailedPrecondition", err)
	}
}
