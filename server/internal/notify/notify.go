// Package notify tells watching clients that their instance changed or that
// one of their sessions ended. Instance changes coalesce (a client only needs
// to know that it must fetch the new state); session ends queue.
package notify

import (
	"context"
	"errors"
	"slices"
	"sync"
)

// MaxPerDevice is how many watchers one device may have at once. A client
// needs one per instance; a few more cover streams a network change left
// half-open. Without a cap one device token could hold any number of
// streams, each with its goroutines and buffers.
const MaxPerDevice = 4

// ErrReplaced is what Next returns to a watcher closed because its device
// subscribed more than MaxPerDevice times.
var ErrReplaced = errors.New("closed for a newer watch of the same device")

// SessionEnded describes a session the server ended.
type SessionEnded struct {
	SessionID  string
	LocationID string
	Reason     int
	Message    string
}

// Relay carries a Hub's events to the other replicas of the database,
// whose hubs deliver them with the *Here methods. Its methods must not
// block.
type Relay interface {
	InstanceChanged(userID string)
	DeviceChanged(deviceID string)
	SessionEnded(deviceID string, e SessionEnded)
}

type noRelay struct{}

func (noRelay) InstanceChanged(string)            {}
func (noRelay) DeviceChanged(string)              {}
func (noRelay) SessionEnded(string, SessionEnded) {}

// Hub fans events out to subscribers.
type Hub struct {
	relay Relay
	mu    sync.Mutex
	subs  map[*Sub]struct{}
	// byDevice lists each device's watchers, oldest first.
	byDevice map[string][]*Sub
}

// NewHub returns an empty hub.
func NewHub() *Hub {
	return &Hub{relay: noRelay{}, subs: map[*Sub]struct{}{}, byDevice: map[string][]*Sub{}}
}

// SetRelay sends the hub's events to other replicas too. Call it before
// serving.
func (h *Hub) SetRelay(r Relay) { h.relay = r }

// Sub is one watching device.
type Sub struct {
	hub      *Hub
	DeviceID string
	UserID   string

	mu       sync.Mutex
	changed  bool
	ended    []SessionEnded
	signal   chan struct{}
	replaced chan struct{} // closed when a newer watcher took its place
}

// Subscribe registers a watcher for a device of a user. A device that has
// MaxPerDevice watchers already loses its oldest: that one's Next returns
// ErrReplaced. An empty deviceID (a watcher of every device, such as the
// embedded gateway) is not capped.
func (h *Hub) Subscribe(deviceID, userID string) *Sub {
	s := &Sub{hub: h, DeviceID: deviceID, UserID: userID, signal: make(chan struct{}, 1), replaced: make(chan struct{})}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.subs[s] = struct{}{}
	if deviceID == "" {
		return s
	}
	list := append(h.byDevice[deviceID], s)
	for len(list) > MaxPerDevice {
		old := list[0]
		list = list[1:]
		delete(h.subs, old)
		close(old.replaced)
	}
	h.byDevice[deviceID] = list
	return s
}

// Close unregisters the watcher.
func (s *Sub) Close() {
	h := s.hub
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.subs[s]; !ok {
		return // replaced, or closed already
	}
	delete(h.subs, s)
	if s.DeviceID == "" {
		return
	}
	list := slices.DeleteFunc(h.byDevice[s.DeviceID], func(o *Sub) bool { return o == s })
	if len(list) == 0 {
		delete(h.byDevice, s.DeviceID)
	} else {
		h.byDevice[s.DeviceID] = list
	}
}

// Watchers reports how many subscribers there are.
func (h *Hub) Watchers() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.subs)
}

// InstanceChanged tells the watchers of a user (every watcher when userID is
// empty), on every replica, that their instance changed.
func (h *Hub) InstanceChanged(userID string) {
	h.InstanceChangedHere(userID)
	h.relay.InstanceChanged(userID)
}

// DeviceChanged tells one device's watchers, on every replica, that their
// instance changed.
func (h *Hub) DeviceChanged(deviceID string) {
	h.DeviceChangedHere(deviceID)
	h.relay.DeviceChanged(deviceID)
}

// SessionEnded tells a device's watchers, on every replica, that one of
// its sessions ended.
func (h *Hub) SessionEnded(deviceID string, e SessionEnded) {
	h.SessionEndedHere(deviceID, e)
	h.relay.SessionEnded(deviceID, e)
}

// InstanceChangedHere is InstanceChanged for this process's watchers only.
func (h *Hub) InstanceChangedHere(userID string) {
	h.each(func(s *Sub) bool { return userID == "" || s.UserID == userID }, func(s *Sub) { s.changed = true })
}

// DeviceChangedHere is DeviceChanged for this process's watchers only.
func (h *Hub) DeviceChangedHere(deviceID string) {
	h.each(func(s *Sub) bool { return s.DeviceID == deviceID }, func(s *Sub) { s.changed = true })
}

// SessionEndedHere is SessionEnded for this process's watchers only.
func (h *Hub) SessionEndedHere(deviceID string, e SessionEnded) {
	h.each(func(s *Sub) bool { return s.DeviceID == deviceID }, func(s *Sub) { s.ended = append(s.ended, e) })
}

func (h *Hub) each(match func(*Sub) bool, apply func(*Sub)) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for s := range h.subs {
		if !match(s) {
			continue
		}
		s.mu.Lock()
		apply(s)
		s.mu.Unlock()
		select {
		case s.signal <- struct{}{}:
		default:
		}
	}
}

// Next waits for events: whether the instance changed, and the sessions that
// ended since the last call.
func (s *Sub) Next(ctx context.Context) (changed bool, ended []SessionEnded, err error) {
	for {
		s.mu.Lock()
		changed, ended = s.changed, s.ended
		s.changed, s.ended = false, nil
		s.mu.Unlock()
		if changed || len(ended) > 0 {
			return changed, ended, nil
		}
		select {
		case <-ctx.Done():
			return false, nil, ctx.Err()
		case <-s.replaced:
			return false, nil, ErrReplaced
		case <-s.signal:
		}
	}
}
