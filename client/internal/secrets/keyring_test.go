package secrets_test

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/wicket-vpn/wicket/client/internal/secrets"
)

// realKeyring returns the OS keyring under a service name of its own, or
// skips the test when no keyring answers. CI sets WICKET_REQUIRE_KEYRING=1
// (testdata/run-with-keyring.sh does) so a missing keyring fails there.
func realKeyring(t *testing.T) secrets.Keyring {
	t.Helper()
	k := secrets.Keyring{Service: fmt.Sprintf("wicket-test-%d-%d", os.Getpid(), time.Now().UnixNano())}
	if err := k.Check(); err != nil {
		if os.Getenv("WICKET_REQUIRE_KEYRING") != "" {
			t.Fatalf("WICKET_REQUIRE_KEYRING is set but the keyring is unusable: %v", err)
		}
		t.Skipf("no Secret Service to test against (%v); run client/internal/secrets/testdata/run-with-keyring.sh", err)
	}
	return k
}

func TestKeyringRoundTrip(t *testing.T) {
	k := realKeyring(t)
	const key = "instance/test/device-token"
	t.Cleanup(func() { k.Delete(key) })

	if _, err := k.Get(key); !errors.Is(err, secrets.ErrNotFound) {
		t.Fatalf("Get before Set = %v, want ErrNotFound", err)
	}
	if err := k.Set(key, "wdt_first"); err != nil {
		t.Fatal(err)
	}
	if err := k.Set(key, "wdt_second"); err != nil { // replaces
		t.Fatal(err)
	}
	got, err := k.Get(key)
	if err != nil || got != "wdt_second" {
		t.Fatalf("Get = %q, %v", got, err)
	}
	// Another service name is another namespace.
	other := secrets.Keyring{Service: k.Service + "-other"}
	if _, err := other.Get(key); !errors.Is(err, secrets.ErrNotFound) {
		t.Fatalf("other service sees the secret: %v", err)
	}
	if err := k.Delete(key); err != nil {
		t.Fatal(err)
	}
	if _, err := k.Get(key); !errors.Is(err, secrets.ErrNotFound) {
		t.Fatalf("Get after Delete = %v", err)
	}
	if err := k.Delete(key); err != nil {
		t.Fatalf("deleting a missing key: %v", err)
	}
}

func TestKeyringStoresAWireGuardKey(t *testing.T) {
	k := realKeyring(t)
	const key = "instance/test/private-key"
	t.Cleanup(func() { k.Delete(key) })
	const priv = "yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk="
	if err := k.Set(key, priv); err != nil {
		t.Fatal(err)
	}
	if got, err := k.Get(key); err != nil || got != priv {
		t.Fatalf("Get = %q, %v", got, err)
	}
}

func TestKeyringUnavailableSaysWhatToInstall(t *testing.T) {
	if os.Getenv("WICKET_REQUIRE_KEYRING") != "" {
		t.Skip("a keyring is running")
	}
	// With no session bus the Secret Service cannot be reached at all.
	t.Setenv("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent/wicket-test-bus")
	k := secrets.Keyring{Service: "wicket-test-unavailable"}
	err := k.Check()
	if runtimeHasNoDBus() {
		if !errors.Is(err, secrets.ErrUnavailable) {
			t.Fatalf("Check = %v, want ErrUnavailable", err)
		}
		for _, want := range []string{"No keyring is available", "gnome-keyring"} {
			if !containsFold(err.Error(), want) {
				t.Fatalf("error %q does not mention %q", err, want)
			}
		}
	}
}

func TestMemoryStore(t *testing.T) {
	var m secrets.Memory
	if _, err := m.Get("a"); !errors.Is(err, secrets.ErrNotFound) {
		t.Fatal(err)
	}
	m.Set("a", "1")
	if v, _ := m.Get("a"); v != "1" || m.Len() != 1 {
		t.Fatal(v)
	}
	m.Delete("a")
	m.Delete("a")
	if m.Len() != 0 {
		t.Fatal(m.Len())
	}
}

func runtimeHasNoDBus() bool { return runtime.GOOS == "linux" }

func containsFold(s, sub string) bool {
	return strings.Contains(strings.ToLower(s), strings.ToLower(sub))
}
