package replica

import (
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/wicket-vpn/wicket/server/internal/store"
)

// TestEncodeSplitsWithinTheLimit: a burst of events (a sweep ending a
// thousand sessions) goes out as several notifications, each within
// PostgreSQL's payload limit, and none is lost or repeated.
func TestEncodeSplitsWithinTheLimit(t *testing.T) {
	var events []event
	for i := range 1000 {
		events = append(events, event{Kind: kindEnded, Device: "device-" + strconv.Itoa(i), Session: "session-" + strconv.Itoa(i), Loc: "loc",
			Reason: 1, Message: "Disconnected: no traffic from your device for 5 min; connecting again needs MFA."})
	}
	// One event too long on its own loses its message, not its place.
	events = append(events, event{Kind: kindEnded, Device: "big", Session: "big", Message: strings.Repeat("x", 10000)})
	seen := map[string]int{}
	notifications := 0
	for rest := events; len(rest) > 0; {
		payload, n := encode("me", rest)
		if n < 1 {
			t.Fatal("encode took no event")
		}
		if len(payload) > store.MaxNotifyPayload {
			t.Fatalf("a payload of %d bytes, over %d", len(payload), store.MaxNotifyPayload)
		}
		var m message
		if err := json.Unmarshal([]byte(payload), &m); err != nil {
			t.Fatalf("payload does not parse: %v", err)
		}
		if m.From != "me" || len(m.Events) != n {
			t.Fatalf("payload from %q with %d events, encode said %d", m.From, len(m.Events), n)
		}
		for _, e := range m.Events {
			seen[e.Session]++
		}
		rest = rest[n:]
		notifications++
	}
	if len(seen) != len(events) {
		t.Fatalf("%d distinct sessions arrived, sent %d", len(seen), len(events))
	}
	for s, n := range seen {
		if n != 1 {
			t.Fatalf("session %s arrived %d times", s, n)
		}
	}
	if notifications < 2 {
		t.Fatalf("%d notifications for %d events", notifications, len(events))
	}
}

// TestQueueCoalesces: what replicas need only the latest of is sent once.
func TestQueueCoalesces(t *testing.T) {
	q := newQueue()
	for gen := range uint64(50) {
		q.publish("loc", gen+1, []string{"dev-a", "dev-b"})
		q.users["alice"] = true
	}
	q.ended = append(q.ended, event{Kind: kindEnded, Session: "s1"}, event{Kind: kindEnded, Session: "s2"})
	got := q.events()
	if len(got) != 4 {
		t.Fatalf("%d events: %v", len(got), got)
	}
	for _, e := range got {
		if e.Kind == kindPeers && (e.Gen != 50 || e.Full || !slices.Equal(e.Devices, []string{"dev-a", "dev-b"})) {
			t.Fatalf("coalesced publication %+v, want the latest, 50, of both devices", e)
		}
	}
	// Unsent events go back in front of newer ones.
	r := newQueue()
	r.ended = []event{{Kind: kindEnded, Session: "s3"}}
	r.publish("loc", 51, nil)
	r.merge(got)
	if r.peers["loc"].gen != 51 || !r.peers["loc"].full || len(r.ended) != 3 || r.ended[0].Session != "s1" || r.ended[2].Session != "s3" || !r.users["alice"] {
		t.Fatalf("merged queue %+v", r)
	}
}
