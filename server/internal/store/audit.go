package store

import (
	"context"
	"fmt"
	"strings"
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

// AddAuditEvent appends an event. Inside a transaction the event is kept
// and written with the transaction's others in one statement as it
// commits (see flushAudit).
func (q *Q) AddAuditEvent(ctx context.Context, e AuditEvent) error {
	if q.tx != nil {
		q.audit = append(q.audit, e)
		return nil
	}
	return q.insertAudit(ctx, []AuditEvent{e})
}

// auditPerStatement bounds the rows of one audit INSERT, and so the
// statements prepared for them.
const auditPerStatement = 16

// flushAudit writes the events the transaction added, in order.
func (q *Q) flushAudit(ctx context.Context) error {
	for len(q.audit) > 0 {
		n := min(len(q.audit), auditPerStatement)
		if err := q.insertAudit(ctx, q.audit[:n]); err != nil {
			return err
		}
		q.audit = q.audit[n:]
	}
	q.audit = nil
	return nil
}

func (q *Q) insertAudit(ctx context.Context, list []AuditEvent) error {
	args := make([]any, 0, 6*len(list))
	for _, e := range list {
		args = append(args, ms(e.Time), e.Actor, e.Action, e.Subject, e.Detail, e.RemoteAddr)
	}
	_, err := q.exec(ctx, auditInsert[len(list)], args...)
	return err
}

// auditInsert[n] inserts n events.
var auditInsert = func() (out [auditPerStatement + 1]string) {
	for n := 1; n <= auditPerStatement; n++ {
		var b strings.Builder
		b.WriteString(`INSERT INTO audit_events (at, actor, action, subject, detail, remote_addr) VALUES `)
		for i := range n {
			if i > 0 {
				b.WriteString(",")
			}
			fmt.Fprintf(&b, "($%d,$%d,$%d,$%d,$%d,$%d)", 6*i+1, 6*i+2, 6*i+3, 6*i+4, 6*i+5, 6*i+6)
		}
		out[n] = b.String()
	}
	return out
}()

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
