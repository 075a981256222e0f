package api_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"

	v1 "github.com/wicket-vpn/wicket/proto/gen/wicket/v1"
	"github.com/wicket-vpn/wicket/server/internal/password"
	"github.com/wicket-vpn/wicket/server/internal/servertest"
)

// A guesser at one account from one address gets ten wrong passwords in
// fifteen minutes; then every try from there is refused with the wait, the
// right password too, until the wait is over. The owner's right password
// afterwards clears the count for their address.
func TestEleventhWrongPasswordThrottled(t *testing.T) {
	s := servertest.New(t)
	ctx := servertest.Ctx(t)
	u := s.CreateUser("erin")
	login := func(pw string) error {
		_, err := s.Account.Login(ctx, servertest.Req("", &v1.LoginRequest{Username: "erin", Password: pw}))
		return err
	}
	for range 10 {
		wantCode(t, login("guess"), connect.CodeUnauthenticated, "Wrong username or password.")
	}
	wantCode(t, login("guess"), connect.CodeResourceExhausted, "Too many wrong passwords from your address. Try again in 15 min.")
	wantCode(t, login(u.Password), connect.CodeResourceExhausted, "Too many wrong passwords from your address. Try again in 15 min.")
	s.Clock.Advance(40 * time.Second)
	wantCode(t, login(u.Password), connect.CodeResourceExhausted, "Too many wrong passwords from your address. Try again in 14 min 20 s.")
	s.Clock.Advance(14*time.Minute + 19*time.Second)
	wantCode(t, login(u.Password), connect.CodeResourceExhausted, "Too many wrong passwords from your address. Try again in 1 s.")

	s.Clock.Advance(time.Second)
	if err := login(u.Password); err != nil {
		t.Fatalf("right password after the wait: %v", err)
	}
	// The right password forgave this address: ten more wrong ones are
	// answered as wrong, not refused.
	for range 10 {
		wantCode(t, login("guess"), connect.CodeUnauthenticated, "Wrong username or password.")
	}
	wantCodeContains(t, login("guess"), connect.CodeResourceExhausted, "Too many wrong passwords")

	// Every refusal is in the audit log, without the password.
	resp, err := s.Admin.ListAuditEvents(ctx, servertest.Req(s.AdminToken(), &v1.ListAuditEventsRequest{Action: "login.throttled", Limit: 100}))
	if err != nil {
		t.Fatal(err)
	}
	if n := len(resp.Msg.Events); n != 5 {
		t.Fatalf("%d login.throttled events, want 5", n)
	}
	for _, e := range resp.Msg.Events {
		if e.Subject != "erin" || e.RemoteAddr != "127.0.0.1" || strings.Contains(e.Detail, u.Password) || strings.Contains(e.Detail, "guess") {
			t.Fatalf("audit event %+v", e)
		}
	}
}

// Unknown usernames count like known ones, so the throttle's answer does
// not tell which exist.
func TestUnknownUsernameThrottledAlike(t *testing.T) {
	s := servertest.New(t)
	ctx := servertest.Ctx(t)
	s.CreateUser("erin")
	for _, name := range []string{"erin", "nobody"} {
		for range 10 {
			_, err := s.Account.Login(ctx, servertest.Req("", &v1.LoginRequest{Username: name, Password: "guess"}))
			wantCode(t, err, connect.CodeUnauthenticated, "Wrong username or password.")
		}
		_, err := s.Account.Login(ctx, servertest.Req("", &v1.LoginRequest{Username: name, Password: "guess"}))
		wantCode(t, err, connect.CodeResourceExhausted, "Too many wrong passwords from your address. Try again in 15 min.")
	}
}

// 64 sign-ins of unknown usernames at once (each an argon2id evaluation of
// 64 MiB) never run more evaluations at once than the bound; those that
// cannot get a turn in time are told the server is busy.
func TestConcurrentUnknownLoginsBounded(t *testing.T) {
	s := servertest.New(t)
	ctx := servertest.Ctx(t)
	var wg sync.WaitGroup
	errs := make([]error, 64)
	for i := range errs {
		wg.Go(func() {
			_, errs[i] = s.Account.Login(ctx, servertest.Req("", &v1.LoginRequest{Username: fmt.Sprintf("nobody%d", i), Password: "guess"}))
		})
	}
	wg.Wait()
	if peak, limit := password.Peak(), password.Limit(); peak > limit {
		t.Fatalf("%d argon2id evaluations ran at once; the bound is %d", peak, limit)
	}
	busy := 0
	for _, err := range errs {
		if connect.CodeOf(err) == connect.CodeUnavailable {
			wantCode(t, err, connect.CodeUnavailable, "The server is busy; try again in a moment.")
			busy++
			continue
		}
		wantCode(t, err, connect.CodeUnauthenticated, "Wrong username or password.")
	}
	t.Logf("peak %d of %d slots; %d of 64 told the server is busy", password.Peak(), password.Limit(), busy)
}
