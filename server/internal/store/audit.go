package store

import (
	"context"
	"time"
)

// AuditEvent records something that happened.
type AuditEvent struct {
	ID         uint64
	Time       time.Time
	Actor      string
	Action     string
	Subject    string
	Detail     string
	RemoteAddr string
}

// AddAuditEvent appends an event.
func (q *Q) AddAuditEvent(ctx context.Context, e AuditEvent) error {
	_, err := q.exec(ctx, `INSERT INTO audit_events (at, actor, action, subject, detail, remote_addr) VALUES ($1,$2,$3,$4,$5,$6)`,
		ms(e.Time), e.Actor, e.Action, e.Subject, e.Detail, e.RemoteAddr)
	return err
}

// AuditFilter selects events: those with an id below Before (0: from the
// newest), newest first.
type AuditFilter struct {
	Before uint64
	Limit  int
	Action string // exact, or a prefix ending in "." such as "mfa."
	Actor  string
}

// ListAuditEvents returns events, newest first.
func (q *Q) ListAuditEvents(ctx context.Context, f AuditFilter) ([]AuditEvent, error) {
	query := `SELECT id, at, actor, action, subject, detail, remote_addr FROM audit_events WHERE 1=1`
	var args []any
	if f.Before > 0 {
		args = append(args, int64(f.Before))
		query += ` AND id < $` + itoa(len(args))
	}
	if f.Action != "" {
		if f.Action[len(f.Action)-1] == '.' {
			args = append(args, f.Action+"%")
			query += ` AND action LIKE $` + itoa(len(args))
		} else {
			args = append(args, f.Action)
			query += ` AND action = $` + itoa(len(args))
		}
	}
	if f.Actor != "" {
		args = append(args, f.Actor)
		query += ` AND actor = $` + itoa(len(args))
	}
	if f.Limit <= 0 {
		f.Limit = 100
	}
	args = append(args, f.Limit)
	query += ` ORDER BY id DESC LIMIT $` + itoa(len(args))
	rows, err := q.query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []AuditEvent
	for rows.Next() {
		var e AuditEvent
		var at, id int64
		if err := rows.Scan(&id, &at, &e.Actor, &e.Action, &e.Subject, &e.Detail, &e.RemoteAddr); err != nil {
			return nil, err
		}
		e.ID, e.Time = uint64(id), fromMS(at)
		out = append(out, e)
	}
	return out, rows.Err()
}
