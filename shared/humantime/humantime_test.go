package humantime

import (
	"testing"
	"time"
)

func TestDuration(t *testing.T) {
	const (
		s = time.Second
		m = time.Minute
		h = time.Hour
	)
	for _, tt := range []struct {
		in   time.Duration
		want string
	}{
		{0, "0 s"},
		{-s, "0 s"},
		{-3 * h, "0 s"},
		{time.Nanosecond, "1 s"},
		{100 * time.Millisecond, "1 s"},
		{s, "1 s"},
		{1200 * time.Millisecond, "2 s"},
		{12 * s, "12 s"},
		{25 * s, "25 s"},
		{59 * s, "59 s"},
		{59*s + time.Millisecond, "1 min"},
		{m, "1 min"},
		{90 * s, "1 min 30 s"},
		{3 * m, "3 min"},
		{4*m + 5*s, "4 min 5 s"},
		{250 * s, "4 min 10 s"},
		{300 * s, "5 min"},
		{10 * m, "10 min"},
		{14*m + 20*s, "14 min 20 s"},
		{15 * m, "15 min"},
		{25*m + 10*s, "25 min 10 s"},
		{59*m + 59*s, "59 min 59 s"},
		{59*m + 59*s + time.Millisecond, "1 h"},
		{h, "1 h"},
		{h + s, "1 h 1 min"},
		{h + 30*m, "1 h 30 min"},
		{2*h + 10*m, "2 h 10 min"},
		{5 * h, "5 h"},
		{8 * h, "8 h"},
		{47 * h, "47 h"},
		{100 * h, "100 h"},
	} {
		if got := Duration(tt.in); got != tt.want {
			t.Errorf("Duration(%v) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
