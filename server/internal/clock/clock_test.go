package clock

import (
	"testing"
	"time"
)

func TestReal(t *testing.T) {
	tests := []struct {
		name string
		c    Clock
	}{
		{name: "value", c: Real{}},
		{name: "pointer", c: &Real{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := time.Now()
			got := tt.c.Now()
			after := time.Now()
			if got.Before(before) || got.After(after) {
				t.Fatalf("Now() = %v, not between %v and %v", got, before, after)
			}
		})
	}
}
