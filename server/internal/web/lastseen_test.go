package web_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	v1 "github.com/wicket-vpn/wicket/proto/gen/wicket/v1"
	"github.com/wicket-vpn/wicket/server/internal/servertest"
)

// TestDeviceLastSeen uses a device's token and reads its last use back on
// the owner's profile and on the admin's user pages: written when the token
// is used, at most once a minute, shown as "N min ago" with the exact time
// on hover.
func TestDeviceLastSeen(t *testing.T) {
	s := newServer(t)
	ctx := servertest.Ctx(t)
	u := s.CreateUser("dora")
	admin := newClient(t, s)
	admin.signIn("admin", "admin-password") // moves the clock: sign in first
	user := newClient(t, s)
	user.signIn("dora", "dora-password")
	d := s.Enroll(u, "laptop")
	st := s.Store()
	seen := func() time.Time {
		t.Helper()
		dev, err := st.DeviceByID(ctx, d.ID)
		if err != nil {
			t.Fatal(err)
		}
		return dev.LastSeen
	}
	use := func() {
		t.Helper()
		if _, err := s.Client.GetInstance(ctx, servertest.Req("", &v1.GetInstanceRequest{DeviceToken: d.Token})); err != nil {
			t.Fatal(err)
		}
	}
	if enrolled := seen(); !enrolled.Equal(s.Clock.Now()) {
		t.Fatalf("last seen at enrollment = %v, want %v", enrolled, s.Clock.Now())
	}

	s.Clock.Advance(10 * time.Minute)
	use()
	first := s.Clock.Now()
	if got := seen(); !got.Equal(first) {
		t.Fatalf("after a use, last seen = %v, want %v", got, first)
	}
	// Uses within the minute are not written.
	s.Clock.Advance(30 * time.Second)
	use()
	s.Clock.Advance(30 * time.Second)
	use()
	if got := seen(); !got.Equal(first) {
		t.Fatalf("a use within a minute moved last seen to %v", got)
	}
	s.Clock.Advance(time.Second)
	use()
	second := s.Clock.Now()
	if got := seen(); !got.Equal(second) {
		t.Fatalf("a use after a minute: last seen = %v, want %v", got, second)
	}
	// An unknown token changes nothing.
	if _, err := s.Client.GetInstance(ctx, servertest.Req("", &v1.GetInstanceRequest{DeviceToken: "wdt_not-a-token"})); err == nil {
		t.Fatal("an unknown device token was accepted")
	}

	s.Clock.Advance(2*time.Minute + 10*time.Second)
	exact := `title="` + second.UTC().Format("2 Jan 2006 15:04 UTC") + `"`
	stamp := `datetime="` + second.UTC().Format(time.RFC3339) + `"`

	code, body := user.get("/profile")
	if code != http.StatusOK {
		t.Fatalf("profile: %d", code)
	}
	row := between(body, `<table class="table stack" id="device-list">`, `</table>`)
	mustContain(t, row, "laptop", "2 min ago", exact, stamp)

	code, body = admin.get("/users")
	if code != http.StatusOK {
		t.Fatalf("users: %d", code)
	}
	table := between(body, `<table class="table stack" id="users">`, `</table>`)
	row = rowOf(t, table, ">dora</a>")
	mustContain(t, row, `<td data-label="Devices">1</td>`, "2 min ago", exact)
	if row := rowOf(t, table, ">admin</a>"); !strings.Contains(row, `<td data-label="Devices"><span class="muted">none</span></td>`) {
		t.Fatalf("the admin's row (no devices):\n%s", row)
	}

	code, body = admin.get("/users/" + u.ID)
	if code != http.StatusOK {
		t.Fatalf("user page: %d", code)
	}
	row = between(body, `<section class="card" id="devices">`, `</section>`)
	mustContain(t, row, "laptop", d.PublicKey, "2 min ago", exact, stamp)
}

// rowOf is the table row of body that contains marker.
func rowOf(t *testing.T, body, marker string) string {
	t.Helper()
	i := strings.Index(body, marker)
	if i < 0 {
		t.Fatalf("no %q on the page:\n%s", marker, body)
	}
	start := strings.LastIndex(body[:i], "<tr>")
	end := strings.Index(body[i:], "</tr>")
	if start < 0 || end < 0 {
		t.Fatalf("%q is not in a table row", marker)
	}
	return body[start : i+end]
}
