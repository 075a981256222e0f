package replica

import (
	"encoding/json"
	"slices"
	"time"

	"github.com/wicket-vpn/wicket/server/internal/store"
)

// A notification is a message: the sending replica and its events.
type message struct {
	From string `json:"from"`
	// At is when it was sent, in Unix microseconds.
	At     int64   `json:"at,omitempty"`
	Events []event `json:"ev"`
}

const (
	kindPeers    = "peers"    // Loc's peer set changed (Devices' peers, or all when Full): publication Gen of the sender
	kindAllPeers = "allpeers" // any peer set may have changed
	kindAck      = "ack"      // a gateway of the sender took publication Gen of Origin at Loc
	kindFollow   = "follow"   // Count gateways follow Loc at the sender
	kindInstance = "instance" // User's instance changed ("" for everyone)
	kindDevice   = "device"   // Device's instance changed
	kindEnded    = "ended"    // a session of Device ended
	kindRevoked  = "revoked"  // gateway token Token was revoked
	kindDecided  = "decided"  // the passkey challenge of hash Token was approved or refused
	kindHello    = "hello"    // the sender started: announce what you follow
	kindBye      = "bye"      // the sender stops: forget what it announced
)

type event struct {
	Kind    string `json:"k"`
	Loc     string `json:"l,omitempty"`
	Gen     uint64 `json:"g,omitempty"`
	Origin  string `json:"o,omitempty"`
	Count   int    `json:"c,omitempty"`
	User    string `json:"u,omitempty"`
	Device  string `json:"d,omitempty"`
	Session string `json:"s,omitempty"`
	Reason  int    `json:"r,omitempty"`
	Message string `json:"m,omitempty"`
	Token   string `json:"t,omitempty"`
	// Devices whose peers changed; Full: any peer may have.
	Devices []string `json:"ds,omitempty"`
	Full    bool     `json:"f,omitempty"`
}

// maxDevices is how many devices one peers event names; past it the
// other replicas read the location whole.
const maxDevices = 100

// pub is the queued publication of one location: the latest number, and
// what changed since the last sent.
type pub struct {
	gen     uint64
	full    bool
	devices map[string]struct{}
}

type ackKey struct{ loc, origin string }

// queue is what waits to be sent, coalesced: the latest publication per
// location, the latest acknowledgement per location and origin, the
// latest follower count per location, each changed user and device once;
// session ends each.
type queue struct {
	peers     map[string]*pub
	allPeers  bool
	acks      map[ackKey]uint64
	following map[string]int
	everyone  bool
	users     map[string]bool
	devices   map[string]bool
	ended     []event
	revoked   []string
	decided   []string
	hello     bool
	announce  bool
	bye       bool
}

func newQueue() queue {
	return queue{peers: map[string]*pub{}, acks: map[ackKey]uint64{}, following: map[string]int{}, users: map[string]bool{}, devices: map[string]bool{}}
}

// publish queues a location's publication gen of the devices named, or of
// the whole set when devices is nil.
func (q *queue) publish(loc string, gen uint64, devices []string) {
	p := q.peers[loc]
	if p == nil {
		p = &pub{devices: map[string]struct{}{}}
		q.peers[loc] = p
	}
	p.gen = max(p.gen, gen)
	if devices == nil {
		p.full = true
	}
	if p.full {
		p.devices = nil
		return
	}
	for _, id := range devices {
		p.devices[id] = struct{}{}
	}
	if len(p.devices) > maxDevices {
		p.full, p.devices = true, nil
	}
}

// events lists the queue's events, the goodbye last.
func (q *queue) events() []event {
	var out []event
	if q.hello {
		out = append(out, event{Kind: kindHello})
	}
	for loc, n := range q.following {
		out = append(out, event{Kind: kindFollow, Loc: loc, Count: n})
	}
	if q.allPeers {
		out = append(out, event{Kind: kindAllPeers})
	}
	for loc, p := range q.peers {
		e := event{Kind: kindPeers, Loc: loc, Gen: p.gen, Full: p.full}
		if !p.full {
			e.Devices = make([]string, 0, len(p.devices))
			for id := range p.devices {
				e.Devices = append(e.Devices, id)
			}
			slices.Sort(e.Devices)
		}
		out = append(out, e)
	}
	for k, gen := range q.acks {
		out = append(out, event{Kind: kindAck, Loc: k.loc, Origin: k.origin, Gen: gen})
	}
	if q.everyone {
		out = append(out, event{Kind: kindInstance})
	} else {
		for u := range q.users {
			out = append(out, event{Kind: kindInstance, User: u})
		}
	}
	for d := range q.devices {
		out = append(out, event{Kind: kindDevice, Device: d})
	}
	out = append(out, q.ended...)
	for _, id := range q.revoked {
		out = append(out, event{Kind: kindRevoked, Token: id})
	}
	for _, h := range q.decided {
		out = append(out, event{Kind: kindDecided, Token: h})
	}
	if q.bye {
		out = append(out, event{Kind: kindBye})
	}
	return out
}

// merge puts unsent events back in front of what was queued since.
func (q *queue) merge(unsent []event) {
	for _, e := range unsent {
		switch e.Kind {
		case kindHello:
			q.hello = true
		case kindFollow:
			if _, newer := q.following[e.Loc]; !newer {
				q.following[e.Loc] = e.Count
			}
		case kindAllPeers:
			q.allPeers = true
		case kindPeers:
			var devices []string
			if !e.Full {
				devices = e.Devices
				if devices == nil {
					devices = []string{}
				}
			}
			q.publish(e.Loc, e.Gen, devices)
		case kindAck:
			k := ackKey{e.Loc, e.Origin}
			q.acks[k] = max(q.acks[k], e.Gen)
		case kindInstance:
			if e.User == "" {
				q.everyone = true
			} else {
				q.users[e.User] = true
			}
		case kindDevice:
			q.devices[e.Device] = true
		case kindRevoked:
			q.revoked = append(q.revoked, e.Token)
		case kindDecided:
			q.decided = append(q.decided, e.Token)
		case kindBye:
			q.bye = true
		}
	}
	var ended []event
	for _, e := range unsent {
		if e.Kind == kindEnded {
			ended = append(ended, e)
		}
	}
	q.ended = append(ended, q.ended...)
}

// encode makes one notification of as many leading events as fit and
// says how many it took (at least one: an event too long on its own has
// its message cut).
func encode(from string, events []event) (string, int) {
	head, _ := json.Marshal(message{From: from, At: time.Now().UnixMicro()})
	// head ends in `"ev":null}`; the events replace the null.
	head = head[:len(head)-len("null}")]
	buf := append([]byte(nil), head...)
	buf = append(buf, '[')
	n := 0
	for _, e := range events {
		b, _ := json.Marshal(e)
		if n == 0 && len(buf)+len(b)+2 > store.MaxNotifyPayload {
			e.Message = ""
			b, _ = json.Marshal(e)
		}
		if len(buf)+len(b)+2 > store.MaxNotifyPayload {
			break
		}
		if n > 0 {
			buf = append(buf, ',')
		}
		buf = append(buf, b...)
		n++
	}
	buf = append(buf, "]}"...)
	return string(buf), n
}
