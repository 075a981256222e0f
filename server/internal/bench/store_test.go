package bench

import (
	"context"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wicket-vpn/wicket/server/internal/store"
)

// sealedPSK has the length of a real sealed pre-shared key.
const sealedPSK = "v1.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"

// BenchmarkStoreSessionCreate measures the store's cost of one new active
// session (one INSERT in its own transaction, SQLite in WAL mode on disk):
// "serial" from one goroutine, "parallel" from as many as GOMAXPROCS, which
// SQLite's single writer serializes.
func BenchmarkStoreSessionCreate(b *testing.B) {
	ctx := context.Background()
	st, err := store.OpenSQLite(ctx, filepath.Join(b.TempDir(), "wicket.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	var seq atomic.Int64
	session := func() store.Session {
		n := strconv.FormatInt(seq.Add(1), 10)
		return store.Session{ID: "session-" + n, LocationID: "location", DeviceID: "device-" + n, UserID: "user-" + n,
			Method: 1, State: store.StateAuthorized, PresharedKey: sealedPSK, AuthorizedAt: now}
	}

	b.Run("serial", func(b *testing.B) {
		list := make([]store.Session, b.N)
		for i := range list {
			list[i] = session()
		}
		b.ReportAllocs()
		b.ResetTimer()
		cpu0 := cpuTime()
		for i := range list {
			if err := st.CreateSession(ctx, list[i]); err != nil {
				b.Fatal(err)
			}
		}
		reportCPU(b, cpuTime()-cpu0)
	})
	b.Run("parallel", func(b *testing.B) {
		list := make([]store.Session, b.N)
		for i := range list {
			list[i] = session()
		}
		var next atomic.Int64
		b.ReportAllocs()
		b.ResetTimer()
		cpu0 := cpuTime()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if err := st.CreateSession(ctx, list[next.Add(1)-1]); err != nil {
					b.Error(err)
					return
				}
			}
		})
		reportCPU(b, cpuTime()-cpu0)
	})
}

// reportCPU reports the CPU time (user and system) per operation, which,
// unlike ns/op, does not grow when other processes share the cores.
func reportCPU(b *testing.B, cpu time.Duration) {
	if cpu > 0 && b.N > 0 {
		b.ReportMetric(float64(cpu)/float64(time.Microsecond)/float64(b.N), "cpu-us/op")
	}
}
