package store

import (
	"context"
	"fmt"
	"time"
)

// Replica is an address of a server of the instance.
type Replica struct {
	URL string
	// Fixed marks an address the admin gave (a load balancer, a DNS name)
	// rather than a replica's own public URL.
	Fixed  bool
	SeenAt time.Time
}

// SeenReplicas records that the addresses are served at now, in one
// transaction's worth of upserts.
func (q *Q) SeenReplicas(ctx context.Context, rs []Replica, now time.Time) error {
	for _, r := range rs {
		fixed := 0
		if r.Fixed {
			fixed = 1
		}
		if _, err := q.exec(ctx, `INSERT INTO replicas (url, fixed, seen_at) VALUES ($1,$2,$3)
			ON CONFLICT (url) DO UPDATE SET fixed = excluded.fixed, seen_at = excluded.seen_at`, r.URL, fixed, ms(now)); err != nil {
			return fmt.Errorf("record replica %s: %w", r.URL, err)
		}
	}
	return nil
}

// Replicas returns the addresses seen at or after since: replicas' own
// URLs first, then fixed ones, each in URL order so that the list a
// client keeps changes only when the set does.
func (q *Q) Replicas(ctx context.Context, since time.Time) ([]Replica, error) {
	rows, err := q.query(ctx, `SELECT url, fixed, seen_at FROM replicas WHERE seen_at >= $1 ORDER BY fixed, url`, ms(since))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Replica
	for rows.Next() {
		var r Replica
		var fixed int
		var seen int64
		if err := rows.Scan(&r.URL, &fixed, &seen); err != nil {
			return nil, err
		}
		r.Fixed, r.SeenAt = fixed != 0, fromMS(seen)
		out = append(out, r)
	}
	return out, rows.Err()
}

// ForgetReplicas deletes the addresses last seen before before.
func (q *Q) ForgetReplicas(ctx context.Context, before time.Time) error {
	_, err := q.exec(ctx, `DELETE FROM replicas WHERE seen_at < $1`, ms(before))
	return err
}
