package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// Replicas of one PostgreSQL database tell each other of changes with
// LISTEN/NOTIFY. A notification is delivered to every listening
// connection once the sending statement (or its transaction) commits, in
// the order of commits, and is lost for a connection that is not
// listening at the time: a listener that reconnects must assume it missed
// something.

// ErrNoNotifications is Listen's answer on SQLite: one process owns the
// database, so there is nobody to tell.
var ErrNoNotifications = errors.New("the store has no other replicas to hear from (SQLite)")

// MaxNotifyPayload is the longest payload PostgreSQL accepts (less one
// byte for its terminator).
const MaxNotifyPayload = 7999

// Notify sends payload to every connection listening on channel. On
// SQLite it does nothing.
func (s *Store) Notify(ctx context.Context, channel, payload string) error {
	if s.dialect != Postgres {
		return nil
	}
	if len(payload) > MaxNotifyPayload {
		return fmt.Errorf("notification of %d bytes is longer than PostgreSQL's %d", len(payload), MaxNotifyPayload)
	}
	_, err := s.db.ExecContext(ctx, "SELECT pg_notify($1, $2)", channel, payload)
	return err
}

// ListenerName is the application_name of listening connections, as
// pg_stat_activity shows them.
const ListenerName = "wicketd replica listener"

// Listener receives the notifications of one channel on a connection of
// its own.
type Listener struct {
	conn *pgx.Conn
}

// Listen opens a connection listening on channel. On SQLite it answers
// ErrNoNotifications.
func (s *Store) Listen(ctx context.Context, channel string) (*Listener, error) {
	if s.dialect != Postgres || s.pgConfig == nil {
		return nil, ErrNoNotifications
	}
	cfg := s.pgConfig.Copy()
	cfg.RuntimeParams["application_name"] = ListenerName
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect to listen for other replicas: %w", err)
	}
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{channel}.Sanitize()); err != nil {
		conn.Close(context.Background())
		return nil, fmt.Errorf("listen for other replicas: %w", err)
	}
	return &Listener{conn: conn}, nil
}

// Next waits for the next notification's payload. An error means the
// connection is gone (or ctx ended); notifications sent meanwhile are lost.
func (l *Listener) Next(ctx context.Context) (string, error) {
	n, err := l.conn.WaitForNotification(ctx)
	if err != nil {
		return "", err
	}
	return n.Payload, nil
}

// Close closes the listening connection.
func (l *Listener) Close() error { return l.conn.Close(context.Background()) }
