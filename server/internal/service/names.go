package service

import (
	"fmt"
	"unicode"
	"unicode/utf8"
)

// checkName refuses what would make a name people gave something (a
// location, a device, a gateway token, the mail sender) show differently
// from what is stored: control characters (NUL, line breaks, terminal
// escapes), which cut or forge lines in logs, audit events and mail
// headers, and the invisible bidirectional controls that reorder how text
// reads ("Trojan Source", CVE-2021-42574), so that "Office" shown beside a
// Revoke or Disconnect button may in truth be another name. Length and
// emptiness stay with each caller, whose rules differ.
func checkName(field, v string) error {
	if problem := nameProblem(v); problem != "" {
		return fieldErr(field, "%s", problem)
	}
	return nil
}

// nameProblem says what checkName refuses in v, "" when nothing.
func nameProblem(v string) string {
	if !utf8.ValidString(v) {
		return "is not valid UTF-8 text; type the name again"
	}
	for _, r := range v {
		switch {
		case unicode.IsControl(r):
			return fmt.Sprintf("contains the control character %U; use only visible characters and spaces", r)
		case isBidiControl(r):
			return fmt.Sprintf("contains the invisible direction control %U, which can make the name read differently from what it is; remove it", r)
		case r == '\u2028' || r == '\u2029':
			return fmt.Sprintf("contains a line or paragraph separator (%U); keep the name on one line", r)
		}
	}
	return ""
}

// isBidiControl reports the explicit directional formatting characters of
// Unicode's bidirectional algorithm (UAX #9): the marks ALM, LRM and RLM,
// the embeddings and overrides LRE…RLO with PDF, and the isolates LRI…PDI.
func isBidiControl(r rune) bool {
	switch {
	case r == '\u061C', r == '\u200E', r == '\u200F':
		return true
	case r >= '\u202A' && r <= '\u202E':
		return true
	case r >= '\u2066' && r <= '\u2069':
		return true
	}
	return false
}
