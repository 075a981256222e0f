package password

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

// fillSlots takes every slot until the test ends, as that many slow
// evaluations would.
func fillSlots(t *testing.T) {
	t.Helper()
	for range Limit() {
		if err := acquire(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		for range Limit() {
			release()
		}
	})
}

// An attacker who sends more sign-ins at once than the server has slots
// gets "busy" answers instead of one 64 MiB hash each.
func TestBusyWhenEverySlotIsTaken(t *testing.T) {
	lowCost(t)
	old := MaxWait
	MaxWait = 20 * time.Millisecond
	t.Cleanup(func() { MaxWait = old })
	h, err := Hash(t.Context(), "password")
	if err != nil {
		t.Fatal(err)
	}
	fillSlots(t)

	if _, err := Verify(t.Context(), h, "password"); !errors.Is(err, ErrBusy) {
		t.Fatalf("Verify with every slot taken: %v, want ErrBusy", err)
	}
	if _, err := Hash(t.Context(), "password"); !errors.Is(err, ErrBusy) {
		t.Fatalf("Hash with every slot taken: %v, want ErrBusy", err)
	}
	if got := ErrBusy.Error(); got != "The server is busy; try again in a moment." {
		t.Fatalf("ErrBusy says %q", got)
	}
}

// A caller that gives up (a closed connection) stops waiting at once.
func TestWaitEndsWithTheContext(t *testing.T) {
	lowCost(t)
	h, err := Hash(t.Context(), "password")
	if err != nil {
		t.Fatal(err)
	}
	fillSlots(t)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error)
	go func() {
		_, err := Verify(ctx, h, "password")
		done <- err
	}()
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Verify after its context ended: %v", err)
	}
}

// Many concurrent evaluations never run more than Limit at once, and all
// of them finish when each waits its turn.
func TestConcurrentEvaluationsBounded(t *testing.T) {
	lowCost(t)
	h, err := Hash(t.Context(), "password")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for range 64 {
		wg.Go(func() {
			if _, err := Verify(t.Context(), h, "password"); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if Peak() > Limit() {
		t.Fatalf("%d evaluations ran at once; the limit is %d", Peak(), Limit())
	}
	if Running() != 0 {
		t.Fatalf("%d evaluations still counted as running", Running())
	}
}
