package mail

import (
	"context"
	"log/slog"
	"slices"
	"sync"
	"time"
)

// DefaultOutboxSize is how many messages an Outbox keeps when NewOutbox is
// given no size.
const DefaultOutboxSize = 50

// Outbox is a Mailer for development and demos: instead of sending mail it
// keeps the last messages in memory, for the admin's "Mail outbox" page,
// and logs each one, code included, so email codes can be read without a
// mail server. Never use it on a server people rely on: anyone who can read
// the log can read every code.
type Outbox struct {
	size int
	log  *slog.Logger
	now  func() time.Time

	mu   sync.Mutex
	msgs []OutboxMessage // oldest first
	seq  int
}

var _ Mailer = (*Outbox)(nil)

// OutboxMessage is one message an Outbox kept.
type OutboxMessage struct {
	// ID numbers the messages of one Outbox from 1.
	ID      int
	Time    time.Time
	From    string
	To      string
	Subject string
	Body    string
}

// NewOutbox returns an Outbox keeping the last size messages (size <= 0
// means DefaultOutboxSize) and logging each to log (nil logs nothing).
func NewOutbox(size int, log *slog.Logger) *Outbox {
	if size <= 0 {
		size = DefaultOutboxSize
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Outbox{size: size, log: log, now: time.Now}
}

// Send keeps m. It refuses what Sender would refuse about the message
// itself (ErrInvalidMessage), so mistakes show up in development too, but
// it needs no working SMTP settings: set.From is recorded as it is.
func (o *Outbox) Send(ctx context.Context, set Settings, m Message) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	from := set.From
	if from == "" {
		from = "Wicket <wicket@localhost>"
	}
	if _, _, err := compose(from, m, o.now()); err != nil {
		return err
	}
	o.mu.Lock()
	o.seq++
	msg := OutboxMessage{ID: o.seq, Time: o.now(), From: set.From, To: m.To, Subject: m.Subject, Body: m.Body}
	o.msgs = append(o.msgs, msg)
	if len(o.msgs) > o.size {
		o.msgs = slices.Delete(o.msgs, 0, len(o.msgs)-o.size)
	}
	o.mu.Unlock()
	o.log.Info("mail kept in the development outbox, not sent", "to", m.To, "subject", m.Subject, "body", m.Body)
	return nil
}

// Messages returns the kept messages, newest first.
func (o *Outbox) Messages() []OutboxMessage {
	o.mu.Lock()
	defer o.mu.Unlock()
	out := slices.Clone(o.msgs)
	slices.Reverse(out)
	return out
}

// Size is how many messages the Outbox keeps at most.
func (o *Outbox) Size() int { return o.size }
