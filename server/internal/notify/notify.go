// Package notify tells watching clients that their instance changed or that
// one of their sessions ended. Instance changes coalesce (a client only needs
// to know that it must fetch the new state); session ends queue.
package notify

import (
	"context"
	"sync"
)

// SessionEnded describes a session the server ended.
type SessionEnded struct {
	SessionID  string
	LocationID string
	Reason     int
	Message    string
}

// Hub fans events out to subscribers.
type Hub struct {
	mu   sync.Mutex
	subs map[*Sub]struct{}
}

// NewHub returns an empty hub.
func NewHub() *Hub { return &Hub{subs: map[*Sub]struct{}{}} }

// Sub is one watching device.
type Sub struct {
	hub      *Hub
	DeviceID string
	UserID   string

	mu      sync.Mutex
	changed bool
	ended   []SessionEnded
	signal  chan struct{}
}

// Subscribe registers a watcher for a device of a user.
func (h *Hub) Subscribe(deviceID, userID string) *Sub {
	s := &Sub{hub: h, DeviceID: deviceID, UserID: userID, signal: make(chan struct{}, 1)}
	h.mu.Lock()
	h.subs[s] = struct{}{}
	h.mu.Unlock()
	return s
}

// Close unregisters the watcher.
func (s *Sub) Close() {
	s.hub.mu.Lock()
	delete(s.hub.subs, s)
	s.hub.mu.Unlock()
}

// Watchers reports how many subscribers there are.
func (h *Hub) Watchers() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.subs)
}

// InstanceChanged tells the watchers of a user (every watcher when userID is
// empty) that their instance changed.
func (h *Hub) InstanceChanged(userID string) {
	h.each(func(s *Sub) bool { return userID == "" || s.UserID == userID }, func(s *Sub) { s.changed = true })
}

// DeviceChanged tells one device's watchers that their instance changed.
func (h *Hub) DeviceChanged(deviceID string) {
	h.each(func(s *Sub) bool { return s.DeviceID == deviceID }, func(s *Sub) { s.changed = true })
}

// SessionEnded tells a device's watchers that one of its sessions ended.
func (h *Hub) SessionEnded(deviceID string, e SessionEnded) {
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
		case <-s.signal:
		}
	}
}
