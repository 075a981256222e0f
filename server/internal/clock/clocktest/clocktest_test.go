package clocktest

import (
	"sync"
	"testing"
	"time"
)

func TestFake(t *testing.T) {
	start := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		name string
		step func(f *Fake)
		want time.Time
	}{
		{name: "initial", step: func(*Fake) {}, want: start},
		{name: "advance", step: func(f *Fake) { f.Advance(90 * time.Second) }, want: start.Add(90 * time.Second)},
		{name: "advance twice", step: func(f *Fake) { f.Advance(time.Hour); f.Advance(time.Minute) }, want: start.Add(time.Hour + time.Minute)},
		{name: "advance backward", step: func(f *Fake) { f.Advance(-time.Hour) }, want: start.Add(-time.Hour)},
		{name: "set", step: func(f *Fake) { f.Set(start.AddDate(1, 0, 0)) }, want: start.AddDate(1, 0, 0)},
		{name: "set then advance", step: func(f *Fake) { f.Set(time.Unix(0, 0)); f.Advance(time.Second) }, want: time.Unix(1, 0)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := New(start)
			tt.step(f)
			if got := f.Now(); !got.Equal(tt.want) {
				t.Fatalf("Now() = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestFakeConcurrent(t *testing.T) {
	start := time.Unix(1000, 0)
	f := New(start)
	var wg sync.WaitGroup
	for range 10 {
		wg.Go(func() {
			for range 100 {
				f.Advance(time.Millisecond)
				_ = f.Now()
			}
		})
	}
	wg.Wait()
	if got, want := f.Now(), start.Add(time.Second); !got.Equal(want) {
		t.Fatalf("Now() = %v, want %v", got, want)
	}
}
