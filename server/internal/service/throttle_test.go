package service_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/wicket-vpn/wicket/server/internal/fault"
	"github.com/wicket-vpn/wicket/server/internal/password"
	"github.com/wicket-vpn/wicket/server/internal/servertest"
	"github.com/wicket-vpn/wicket/server/internal/service"
)

// throttleServer starts the harness with cheap password hashes, since these
// tests send hundreds of passwords, and makes the given users.
func throttleServer(t *testing.T, users ...string) *servertest.Server {
	t.Helper()
	old := password.Params
	password.Params = password.Parameters{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}
	t.Cleanup(func() { password.Params = old })
	s := servertest.New(t)
	for _, u := range users {
		if _, err := s.Svc.CreateUser(servertest.Ctx(t), service.Actor{Username: "test", Admin: true}, service.NewUser{Username: u, Email: u + "@example.com", Password: u + "-password"}); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

func login(t *testing.T, s *servertest.Server, user, pw, remote string) error {
	t.Helper()
	_, err := s.Svc.Login(servertest.Ctx(t), user, pw, "", remote)
	return err
}

func wantWrong(t *testing.T, err error) {
	t.Helper()
	var fe *fault.Error
	if !errors.As(err, &fe) || fe.Kind != fault.Unauthenticated || fe.Msg != "Wrong username or password." {
		t.Fatalf("want a wrong password, got %v", err)
	}
}

func wantRefused(t *testing.T, err error, msg string) {
	t.Helper()
	var fe *fault.Error
	if !errors.As(err, &fe) || fe.Kind != fault.Exhausted || fe.Msg != msg {
		t.Fatalf("want refused with %q, got %v", msg, err)
	}
}

// The throttle on one account from one address leaves the owner, at their
// own address, alone; an IPv6 guesser counts by the /64 they hold, not by
// each of its addresses.
func TestAccountAddressThrottleLeavesOtherAddresses(t *testing.T) {
	s := throttleServer(t, "olga", "piet")
	const fromAddr = "Too many wrong passwords from your address. Try again in 15 min."
	for range 10 {
		wantWrong(t, login(t, s, "olga", "guess", "198.51.100.7"))
	}
	wantRefused(t, login(t, s, "olga", "olga-password", "198.51.100.7"), fromAddr)

	if err := login(t, s, "olga", "olga-password", "192.0.2.7"); err != nil {
		t.Fatalf("the owner at another address: %v", err)
	}
	wantWrong(t, login(t, s, "olga", "typo", "192.0.2.7"))
	// Signing in elsewhere forgives nothing at the guesser's address.
	wantRefused(t, login(t, s, "olga", "olga-password", "198.51.100.7"), fromAddr)

	for i := range 10 {
		wantWrong(t, login(t, s, "piet", "guess", fmt.Sprintf("2001:db8:1:2::%x", i+1)))
	}
	wantRefused(t, login(t, s, "piet", "guess", "2001:db8:1:2:ffff:ffff:ffff:ffff"), fromAddr)
	if err := login(t, s, "piet", "piet-password", "2001:db8:1:3::1"); err != nil {
		t.Fatalf("the owner in the next /64: %v", err)
	}
}

// A guesser at one account from many addresses is slowed by a wait that
// doubles with each further wrong password, but the wait never passes five
// minutes, so the owner is never kept out for longer.
func TestAccountDelayAcrossAddressesCapped(t *testing.T) {
	s := throttleServer(t, "olga")
	const most = 5 * time.Minute
	addr := 0
	guess := func() error {
		addr++
		return login(t, s, "olga", "guess", fmt.Sprintf("203.0.113.%d", addr))
	}
	for range 20 {
		wantWrong(t, guess())
	}
	for _, wait := range []time.Duration{30 * time.Second, time.Minute, 2 * time.Minute, 4 * time.Minute, 5 * time.Minute} {
		if wait > most {
			t.Fatalf("wait %s passes the cap", wait)
		}
		msg := fmt.Sprintf("Too many wrong passwords for this account. Try again in %s.", fmtWait(wait))
		wantRefused(t, guess(), msg)
		wantRefused(t, login(t, s, "olga", "olga-password", "192.0.2.7"), msg)
		s.Clock.Advance(wait - time.Second)
		wantRefused(t, guess(), "Too many wrong passwords for this account. Try again in 1 s.")
		s.Clock.Advance(time.Second)
		wantWrong(t, guess()) // the guesser's next try, as soon as allowed
	}
	// However long the guessing went on, the owner waits at most the cap.
	wantRefused(t, login(t, s, "olga", "olga-password", "192.0.2.7"), "Too many wrong passwords for this account. Try again in 5 min.")
	s.Clock.Advance(most)
	if err := login(t, s, "olga", "olga-password", "192.0.2.7"); err != nil {
		t.Fatalf("the owner after the cap: %v", err)
	}
}

func fmtWait(d time.Duration) string {
	if d < time.Minute {
		return fmt.Sprintf("%d s", int(d.Seconds()))
	}
	return fmt.Sprintf("%d min", int(d.Minutes()))
}

// One address guessing across many accounts is stopped after 100 wrong
// passwords; fewer, as from an office sharing one address, stop no one.
func TestAddressThrottleAcrossAccounts(t *testing.T) {
	users := make([]string, 21)
	for i := range users {
		users[i] = fmt.Sprintf("user%d", i)
	}
	s := throttleServer(t, users...)
	const office = "198.51.100.9"
	for i := range 99 {
		wantWrong(t, login(t, s, users[i%20], "guess", office))
	}
	if err := login(t, s, "user20", "user20-password", office); err != nil {
		t.Fatalf("a colleague after 99 wrong passwords from the office: %v", err)
	}
	wantWrong(t, login(t, s, "nobody", "guess", office)) // unknown usernames count too
	wantRefused(t, login(t, s, "user20", "user20-password", office), "Too many wrong passwords from your address. Try again in 15 min.")
	if err := login(t, s, "user20", "user20-password", "192.0.2.7"); err != nil {
		t.Fatalf("from another address: %v", err)
	}
}

// Many wrong passwords sent at once for one account from one address get
// no more than ten checked: each is counted before its password is.
func TestConcurrentWrongPasswordsCountedFirst(t *testing.T) {
	s := throttleServer(t, "olga")
	var wg sync.WaitGroup
	errs := make([]error, 40)
	for i := range errs {
		wg.Go(func() {
			_, errs[i] = s.Svc.Login(context.Background(), "olga", "guess", "", "198.51.100.7")
		})
	}
	wg.Wait()
	checked := 0
	for _, err := range errs {
		switch fault.KindOf(err) {
		case fault.Unauthenticated:
			checked++
		case fault.Exhausted, fault.Unavailable:
		default:
			t.Fatalf("unexpected answer: %v", err)
		}
	}
	if checked > 10 {
		t.Fatalf("%d of 40 concurrent wrong passwords were checked; the limit is 10", checked)
	}
	if checked == 0 {
		t.Fatal("no password was checked at all")
	}
}

// Wrong passwords are deleted once no rule looks at them any more.
func TestOldWrongPasswordsCleanedUp(t *testing.T) {
	s := throttleServer(t, "olga")
	ctx := servertest.Ctx(t)
	for range 10 {
		wantWrong(t, login(t, s, "olga", "guess", "198.51.100.7"))
	}
	st := s.Store()
	if n, err := st.DeleteOldPasswordFailures(ctx, s.Clock.Now()); err != nil || n != 0 {
		t.Fatalf("cleaned up %d current rows (%v)", n, err)
	}
	s.Clock.Advance(time.Hour + time.Millisecond)
	// 10 wrong passwords and the lock rows of the account and the address.
	if n, err := st.DeleteOldPasswordFailures(ctx, s.Clock.Now()); err != nil || n != 12 {
		t.Fatalf("cleaned up %d old rows (%v), want 12", n, err)
	}
	if err := login(t, s, "olga", "olga-password", "198.51.100.7"); err != nil {
		t.Fatal(err)
	}
}
