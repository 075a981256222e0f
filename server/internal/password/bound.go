package password

import (
	"context"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/wicket-vpn/wicket/server/internal/fault"
)

// Each argon2id evaluation holds Params.Memory (64 MiB) for its whole run,
// so unbounded, a burst of sign-ins takes the server's memory: 64 parallel
// Logins of unknown usernames took 4.3 GB. Running more evaluations at once
// than there are CPUs makes none of them finish sooner either, so at most
// that many run; the others queue briefly and then give up.
var slots = make(chan struct{}, max(1, runtime.GOMAXPROCS(0)))

// MaxWait is how long Hash and Verify queue for a free slot before they
// answer ErrBusy.
var MaxWait = 2 * time.Second

// ErrBusy is the answer of Hash and Verify when every slot stayed taken for
// MaxWait.
var ErrBusy error = &fault.Error{Kind: fault.Unavailable, Msg: "The server is busy; try again in a moment."}

var running, peak atomic.Int64

// Limit is how many evaluations may run at once.
func Limit() int { return cap(slots) }

// Running reports how many evaluations run now.
func Running() int { return int(running.Load()) }

// Peak reports the most evaluations that ran at once since the process
// started; it never exceeds Limit.
func Peak() int { return int(peak.Load()) }

// acquire takes a slot, waiting at most MaxWait or until ctx ends; release
// gives it back.
func acquire(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	select {
	case slots <- struct{}{}:
	default:
		t := time.NewTimer(MaxWait)
		defer t.Stop()
		select {
		case slots <- struct{}{}:
		case <-t.C:
			return ErrBusy
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	n := running.Add(1)
	for {
		p := peak.Load()
		if n <= p || peak.CompareAndSwap(p, n) {
			break
		}
	}
	return nil
}

func release() {
	running.Add(-1)
	<-slots
}
