package demo

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/godbus/dbus/v5"
)

// Keyring modes: where the demo's client keeps its secrets.
const (
	// KeyringAuto uses the desktop's keyring when there is a D-Bus session
	// and a private one otherwise.
	KeyringAuto = "auto"
	// KeyringSession uses the desktop's keyring (the Secret Service on the
	// session bus), as the installed client does.
	KeyringSession = "session"
	// KeyringPrivate starts a D-Bus session and gnome-keyring of the demo's
	// own, with a keyring file in the data directory.
	KeyringPrivate = "private"
)

// privateKeyringPassword unlocks the demo's private keyring. It is no
// secret: the keyring only ever holds the demo device's keys, in the
// demo's own directory.
const privateKeyringPassword = "wicket-demo"

// hasSessionBus reports whether a D-Bus session bus is reachable the way
// go-keyring looks for one.
func hasSessionBus() bool {
	if os.Getenv("DBUS_SESSION_BUS_ADDRESS") != "" {
		return true
	}
	if dir := os.Getenv("XDG_RUNTIME_DIR"); dir != "" {
		if _, err := os.Stat(filepath.Join(dir, "bus")); err == nil {
			return true
		}
	}
	return false
}

// privateKeyring is a D-Bus session with gnome-keyring unlocked on it: the
// Secret Service for a machine without a desktop, as
// client/internal/secrets/testdata/run-with-keyring.sh makes for the tests.
// The keyring file lives in dir, so a second run finds the device's keys.
type privateKeyring struct {
	busAddr string
	bus     *exec.Cmd
	keyring *exec.Cmd
	runtime string
}

// Env is what the client needs to find the private keyring.
func (k *privateKeyring) Env() []string {
	return []string{"DBUS_SESSION_BUS_ADDRESS=" + k.busAddr}
}

// startPrivateKeyring starts dbus-daemon and gnome-keyring-daemon. Stop
// ends both.
func startPrivateKeyring(ctx context.Context, dir string) (*privateKeyring, error) {
	var missing []string
	for _, cmd := range []string{"dbus-daemon", "gnome-keyring-daemon"} {
		if _, err := exec.LookPath(cmd); err != nil {
			missing = append(missing, cmd)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("the client keeps its keys in a keyring, and without a desktop session the demo starts its own: %s is missing; install it with `apt-get install dbus gnome-keyring` (as root)",
			strings.Join(missing, " and "))
	}
	data := filepath.Join(dir, "data")
	if err := os.MkdirAll(data, 0o700); err != nil {
		return nil, err
	}
	// gnome-keyring puts its control socket in XDG_RUNTIME_DIR; a short
	// private path keeps it under the socket path limit and out of ~/.cache.
	runtime, err := os.MkdirTemp("", "wicket-demo-run-")
	if err != nil {
		return nil, err
	}
	k := &privateKeyring{runtime: runtime}
	fail := func(err error) (*privateKeyring, error) {
		k.Stop()
		return nil, err
	}

	k.bus = exec.Command("dbus-daemon", "--session", "--nofork", "--nopidfile", "--print-address=1")
	k.bus.Env = append(os.Environ(), "XDG_RUNTIME_DIR="+runtime)
	// Its stderr is left out: it warns about file limits it may not raise.
	detach(k.bus)
	out, err := k.bus.StdoutPipe()
	if err != nil {
		return fail(err)
	}
	if err := k.bus.Start(); err != nil {
		return fail(fmt.Errorf("start dbus-daemon: %w", err))
	}
	addr := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(out).ReadString('\n')
		addr <- strings.TrimSpace(line)
	}()
	select {
	case k.busAddr = <-addr:
	case <-time.After(10 * time.Second):
	}
	if k.busAddr == "" {
		return fail(errors.New("dbus-daemon did not say where it listens"))
	}

	k.keyring = exec.Command("gnome-keyring-daemon", "--unlock", "--components=secrets", "--foreground")
	k.keyring.Env = append(os.Environ(), "DBUS_SESSION_BUS_ADDRESS="+k.busAddr, "XDG_DATA_HOME="+data, "XDG_RUNTIME_DIR="+runtime)
	k.keyring.Stdin = strings.NewReader(privateKeyringPassword)
	detach(k.keyring)
	if err := k.keyring.Start(); err != nil {
		return fail(fmt.Errorf("start gnome-keyring-daemon: %w", err))
	}
	// The client must find the unlocked keyring, not one the bus would
	// start on demand, locked; so wait until it owns the name.
	if err := waitForName(ctx, k.busAddr, "org.freedesktop.secrets", 15*time.Second); err != nil {
		return fail(fmt.Errorf("gnome-keyring did not come up on the demo's D-Bus session: %w", err))
	}
	return k, nil
}

func waitForName(ctx context.Context, addr, name string, timeout time.Duration) error {
	conn, err := dbus.Connect(addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	deadline := time.Now().Add(timeout)
	for {
		var owned bool
		err := conn.BusObject().CallWithContext(ctx, "org.freedesktop.DBus.NameHasOwner", 0, name).Store(&owned)
		if err == nil && owned {
			return nil
		}
		if time.Now().After(deadline) {
			if err == nil {
				err = fmt.Errorf("nobody owns %s after %s", name, timeout)
			}
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Stop ends gnome-keyring and the bus.
func (k *privateKeyring) Stop() {
	for _, c := range []*exec.Cmd{k.keyring, k.bus} {
		if c != nil && c.Process != nil {
			c.Process.Signal(os.Interrupt)
			done := make(chan struct{})
			go func() { c.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(3 * time.Second):
				c.Process.Kill()
				<-done
			}
		}
	}
	if k.runtime != "" {
		os.RemoveAll(k.runtime)
	}
}
