// Package humantime writes durations the way Wicket's messages, pages and
// windows show them to people: "25 s", "4 min 10 s", "5 min", "2 h 10 min".
// The server, the web pages, the desktop window and the command line all
// use it, so a limit or a wait reads the same wherever a person meets it.
package humantime

import (
	"fmt"
	"time"
)

// Duration renders d in at most two units: seconds alone below a minute,
// minutes and seconds below an hour, hours and minutes from there on.
//
// It rounds up to the last unit it shows, because most of what it renders
// is a wait or a limit: a person told "try again in 1 s" when 200 ms are
// left is never early, and a positive wait never reads "0 s". Zero and
// negative durations read "0 s". To show elapsed time ("4 min ago"),
// truncate d to the precision wanted first.
func Duration(d time.Duration) string {
	if d <= 0 {
		return "0 s"
	}
	s := int64((d + time.Second - 1) / time.Second)
	switch {
	case s < 60:
		return fmt.Sprintf("%d s", s)
	case s < 3600:
		if s%60 == 0 {
			return fmt.Sprintf("%d min", s/60)
		}
		return fmt.Sprintf("%d min %d s", s/60, s%60)
	}
	m := (s + 59) / 60
	if m%60 == 0 {
		return fmt.Sprintf("%d h", m/60)
	}
	return fmt.Sprintf("%d h %d min", m/60, m%60)
}
