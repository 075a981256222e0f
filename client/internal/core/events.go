package core

import "sync"

// subscriber queues events without bound so a slow view never blocks the
// core and never misses an event.
type subscriber struct {
	ch     chan Event
	mu     sync.Mutex
	queue  []Event
	signal chan struct{}
	done   chan struct{}
	once   sync.Once
}

func (c *core) subscribe() (<-chan Event, func()) {
	s := &subscriber{ch: make(chan Event), signal: make(chan struct{}, 1), done: make(chan struct{})}
	c.mu.Lock()
	c.subs[s] = struct{}{}
	c.mu.Unlock()
	go s.pump()
	cancel := func() {
		c.mu.Lock()
		delete(c.subs, s)
		c.mu.Unlock()
		s.once.Do(func() { close(s.done) })
	}
	return s.ch, cancel
}

func (s *subscriber) push(e Event) {
	s.mu.Lock()
	s.queue = append(s.queue, e)
	s.mu.Unlock()
	select {
	case s.signal <- struct{}{}:
	default:
	}
}

func (s *subscriber) pump() {
	defer close(s.ch)
	for {
		s.mu.Lock()
		q := s.queue
		s.queue = nil
		s.mu.Unlock()
		for _, e := range q {
			select {
			case s.ch <- e:
			case <-s.done:
				return
			}
		}
		select {
		case <-s.signal:
		case <-s.done:
			return
		}
	}
}

// publish sends e to every subscriber. It never blocks; it takes c.mu, so
// it must not be called with c.mu held.
func (c *core) publish(e Event) {
	c.mu.Lock()
	c.publishLocked(e)
	c.mu.Unlock()
}

func (c *core) publishLocked(e Event) {
	for s := range c.subs {
		s.push(e)
	}
}

// locationChangedLocked publishes the current view of a location.
func (c *core) locationChangedLocked(in *instance, locID string) {
	li := in.locationInfo(locID)
	if li == nil {
		return
	}
	c.publishLocked(Event{Kind: EventLocationChanged, InstanceID: in.saved.ID, LocationID: locID, Location: c.viewLocation(in, li)})
}
