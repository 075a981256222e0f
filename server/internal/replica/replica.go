// Package replica connects the wicketd replicas of one PostgreSQL
// database. Each replica's session manager and watch hub work in process;
// a Fanout carries what they do to the other replicas over LISTEN/NOTIFY
// and hands what the others did to them: peer-set publications (so that
// every replica's gateways follow every session), the acknowledgements of
// gateways that took a publication (so that FinishMfa on one replica
// waits for a gateway following another), which locations each replica's
// gateways follow, instance changes and session ends (so that a client
// watching any replica hears of them).
//
// Notifications carry no secret: names of things that changed, which each
// replica reads again from the database.
package replica

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wicket-vpn/wicket/server/internal/notify"
	"github.com/wicket-vpn/wicket/server/internal/session"
	"github.com/wicket-vpn/wicket/server/internal/store"
)

// Channel is the PostgreSQL notification channel replicas share.
const Channel = "wicket_replicas"

// AnnounceEvery is how often a replica repeats which locations its
// gateways follow; others forget an announcement after
// session.FollowerTTL.
const AnnounceEvery = 10 * time.Second

// Fanout is one replica's link to the others.
type Fanout struct {
	id  string
	st  *store.Store
	hub *notify.Hub
	mgr *session.Manager
	log *slog.Logger

	mu   sync.Mutex
	q    queue
	wake chan struct{}

	cancel    context.CancelFunc
	done      sync.WaitGroup
	stats     Stats
	onRevoked func(tokenID string)
	onDecided func(challengeHash string)
}

// Stats count a Fanout's traffic, for metrics.
type Stats struct {
	Sent, Received, Reconnects, SendErrors atomic.Uint64
	delay                                  atomic.Pointer[func(time.Duration)]
}

// ObserveDelay has fn told how long each notification from another
// replica took to arrive (by the two machines' clocks).
func (s *Stats) ObserveDelay(fn func(time.Duration)) { s.delay.Store(&fn) }

// New links a replica's hub and session manager to the other replicas of
// st's database. Run starts it.
func New(st *store.Store, hub *notify.Hub, mgr *session.Manager, log *slog.Logger) *Fanout {
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	f := &Fanout{id: hex.EncodeToString(b), st: st, hub: hub, mgr: mgr, log: log, wake: make(chan struct{}, 1), q: newQueue()}
	hub.SetRelay(f)
	mgr.SetRelay(f)
	return f
}

// OnGatewayRevoked has fn called when another replica revoked a gateway
// token (to drop the gateway if it follows this one). Call it before Start.
func (f *Fanout) OnGatewayRevoked(fn func(tokenID string)) { f.onRevoked = fn }

// GatewayRevoked tells the other replicas that a gateway token was revoked.
func (f *Fanout) GatewayRevoked(tokenID string) {
	f.enqueue(func(q *queue) { q.revoked = append(q.revoked, tokenID) })
}

// OnChallengeDecided has fn called when a passkey challenge was approved
// or refused on another replica (to wake the device waiting here). Call it
// before Start.
func (f *Fanout) OnChallengeDecided(fn func(challengeHash string)) { f.onDecided = fn }

// ChallengeDecided tells the other replicas that a passkey challenge was
// approved or refused. It names the challenge by its stored hash.
func (f *Fanout) ChallengeDecided(challengeHash string) {
	f.enqueue(func(q *queue) { q.decided = append(q.decided, challengeHash) })
}

// Stats are the Fanout's counters.
func (f *Fanout) Stats() *Stats { return &f.stats }

// Start listens and sends in the background until Close.
func (f *Fanout) Start() {
	ctx, cancel := context.WithCancel(context.Background())
	f.cancel = cancel
	f.done.Add(3)
	go func() { defer f.done.Done(); f.listen(ctx) }()
	go func() { defer f.done.Done(); f.send(ctx) }()
	go func() { defer f.done.Done(); f.announce(ctx) }()
}

// Close says goodbye to the other replicas, sends what is still queued
// and stops.
func (f *Fanout) Close() {
	if f.cancel == nil {
		return
	}
	f.enqueue(func(q *queue) { q.bye = true })
	f.cancel()
	f.done.Wait()
}

// listen receives the other replicas' notifications, reconnecting when
// the connection drops. What was sent while it was down is lost, so after
// a reconnection every subscriber looks again.
func (f *Fanout) listen(ctx context.Context) {
	wait := 250 * time.Millisecond
	first := true
	for ctx.Err() == nil {
		l, err := f.st.Listen(ctx, Channel)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			f.log.Warn("cannot listen to the other replicas; retrying", "err", err, "in", wait)
			select {
			case <-ctx.Done():
				return
			case <-time.After(wait):
			}
			wait = min(2*wait, 5*time.Second)
			continue
		}
		wait = 250 * time.Millisecond
		if !first {
			f.stats.Reconnects.Add(1)
			f.mgr.RemoteAllPublished()
			f.hub.InstanceChangedHere("")
		}
		first = false
		f.enqueue(func(q *queue) { q.hello, q.announce = true, true })
		for {
			payload, err := l.Next(ctx)
			if err != nil {
				if ctx.Err() == nil {
					f.log.Warn("lost the connection listening to the other replicas; reconnecting", "err", err)
				}
				break
			}
			f.receive(payload)
		}
		l.Close()
	}
}

func (f *Fanout) receive(payload string) {
	var m message
	if err := json.Unmarshal([]byte(payload), &m); err != nil {
		f.log.Warn("unreadable notification from another replica", "err", err)
		return
	}
	if m.From == f.id {
		return
	}
	f.stats.Received.Add(1)
	if fn := f.stats.delay.Load(); fn != nil && m.At > 0 {
		(*fn)(time.Since(time.UnixMicro(m.At)))
	}
	for _, e := range m.Events {
		switch e.Kind {
		case kindPeers:
			var devices []string
			if !e.Full {
				devices = append([]string{}, e.Devices...) // not nil: these devices only
			}
			f.mgr.RemotePublished(m.From, e.Loc, e.Gen, devices)
		case kindAllPeers:
			f.mgr.RemoteAllPublished()
		case kindAck:
			if e.Origin == f.id {
				f.mgr.RemoteAcked(e.Loc, e.Gen)
			}
		case kindFollow:
			f.mgr.RemoteFollowing(m.From, e.Loc, e.Count)
		case kindInstance:
			f.hub.InstanceChangedHere(e.User)
		case kindDevice:
			f.hub.DeviceChangedHere(e.Device)
		case kindEnded:
			f.hub.SessionEndedHere(e.Device, notify.SessionEnded{SessionID: e.Session, LocationID: e.Loc, Reason: e.Reason, Message: e.Message})
		case kindRevoked:
			if f.onRevoked != nil {
				f.onRevoked(e.Token)
			}
		case kindDecided:
			if f.onDecided != nil {
				f.onDecided(e.Token)
			}
		case kindHello:
			f.enqueue(func(q *queue) { q.announce = true })
		case kindBye:
			f.mgr.RemoteGone(m.From)
		}
	}
}

// send sends what is queued, as few notifications as fit it. Events
// raised while one is on its way coalesce.
func (f *Fanout) send(ctx context.Context) {
	wait := 100 * time.Millisecond
	for {
		select {
		case <-ctx.Done():
			// The last words: what is queued, and the goodbye.
			sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			f.flush(sctx)
			cancel()
			return
		case <-f.wake:
		}
		if err := f.flush(ctx); err != nil {
			if ctx.Err() != nil {
				continue
			}
			f.stats.SendErrors.Add(1)
			f.log.Warn("cannot tell the other replicas; retrying", "err", err, "in", wait)
			select {
			case <-ctx.Done():
			case <-time.After(wait):
			}
			wait = min(2*wait, 5*time.Second)
			f.poke()
			continue
		}
		wait = 100 * time.Millisecond
	}
}

// flush sends the queue; what could not be sent goes back into it.
func (f *Fanout) flush(ctx context.Context) error {
	f.mu.Lock()
	q := f.q
	f.q = newQueue()
	f.mu.Unlock()
	if q.announce {
		for loc, n := range f.mgr.LocalFollowing() {
			q.following[loc] = n
		}
	}
	events := q.events()
	for len(events) > 0 {
		payload, n := encode(f.id, events)
		if err := f.st.Notify(ctx, Channel, payload); err != nil {
			f.mu.Lock()
			f.q.merge(events)
			f.mu.Unlock()
			return err
		}
		f.stats.Sent.Add(1)
		events = events[n:]
	}
	return nil
}

func (f *Fanout) announce(ctx context.Context) {
	t := time.NewTicker(AnnounceEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			f.enqueue(func(q *queue) { q.announce = true })
		}
	}
}

func (f *Fanout) enqueue(fn func(q *queue)) {
	f.mu.Lock()
	fn(&f.q)
	f.mu.Unlock()
	f.poke()
}

func (f *Fanout) poke() {
	select {
	case f.wake <- struct{}{}:
	default:
	}
}

// The session manager's relay.

// PeersChanged implements session.Relay.
func (f *Fanout) PeersChanged(locationID string, gen uint64, devices []string) {
	f.enqueue(func(q *queue) { q.publish(locationID, gen, devices) })
}

// AllPeersChanged implements session.Relay.
func (f *Fanout) AllPeersChanged() { f.enqueue(func(q *queue) { q.allPeers = true }) }

// PeersAcked implements session.Relay.
func (f *Fanout) PeersAcked(locationID, origin string, gen uint64) {
	k := ackKey{locationID, origin}
	f.enqueue(func(q *queue) { q.acks[k] = max(q.acks[k], gen) })
}

// Following implements session.Relay.
func (f *Fanout) Following(locationID string, gateways int) {
	f.enqueue(func(q *queue) { q.following[locationID] = gateways })
}

// The hub's relay.

// InstanceChanged implements notify.Relay.
func (f *Fanout) InstanceChanged(userID string) {
	f.enqueue(func(q *queue) {
		if userID == "" {
			q.everyone = true
		} else {
			q.users[userID] = true
		}
	})
}

// DeviceChanged implements notify.Relay.
func (f *Fanout) DeviceChanged(deviceID string) {
	f.enqueue(func(q *queue) { q.devices[deviceID] = true })
}

// SessionEnded implements notify.Relay.
func (f *Fanout) SessionEnded(deviceID string, e notify.SessionEnded) {
	f.enqueue(func(q *queue) {
		q.ended = append(q.ended, event{Kind: kindEnded, Device: deviceID, Session: e.SessionID, Loc: e.LocationID, Reason: e.Reason, Message: e.Message})
	})
}
