// Package clocktest provides a fake clock.Clock for tests.
package clocktest

import (
	"sync"
	"time"

	"github.com/wicket-vpn/wicket/server/internal/clock"
)

// Fake is a clock.Clock that only moves when told to. It is safe for
// concurrent use.
type Fake struct {
	mu  sync.Mutex
	now time.Time
}

var _ clock.Clock = (*Fake)(nil)

// New returns a Fake clock set to t.
func New(t time.Time) *Fake {
	return &Fake{now: t}
}

// Now returns the fake current time.
func (f *Fake) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

// Advance moves the clock forward by d (backward if d is negative).
func (f *Fake) Advance(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.now = f.now.Add(d)
}

// Set sets the clock to t.
func (f *Fake) Set(t time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.now = t
}
