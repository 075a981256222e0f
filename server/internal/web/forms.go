package web

import (
	"net/url"
	"strconv"
	"strings"

	"github.com/wicket-vpn/wicket/server/internal/fault"
)

// formField is one input of a form, rendered by the "field" template: label,
// input, hint and, when the last try was refused, the error beside it.
type formField struct {
	Name         string
	Label        string
	Type         string // text, number, password, email, checkbox, checks (several boxes of one name) or select
	Value        string
	Checked      bool
	Hint         string
	Error        string
	Placeholder  string
	Autocomplete string
	InputMode    string
	Required     bool
	Options      []choice // for select and checks
	Wide         bool     // spans the whole row on wide screens
}

// choice is one option of a select field or one box of a checks field.
type choice struct {
	Value, Label string
	Selected     bool // selected, or ticked
	Disabled     bool
}

// fieldGroup is a titled part of a form.
type fieldGroup struct {
	Title  string
	Intro  string
	Fields []formField
}

// errs maps form fields to the message beside them; "" holds a message for
// the whole form.
type errs map[string]string

// set files an error under its field when the form has that field, and
// above the form otherwise.
func (e errs) set(field, msg string, known ...[]formField) {
	for _, fs := range known {
		for _, f := range fs {
			if f.Name == field {
				e[field] = msg
				return
			}
		}
	}
	e[""] = msg
}

// apply puts the errors into the fields.
func (e errs) apply(fields []formField) []formField {
	for i := range fields {
		fields[i].Error = e[fields[i].Name]
	}
	return fields
}

// firstInvalid returns the first field with an error, so the top of a long
// form can point to it; nil when none has one.
func firstInvalid(fields []formField) *formField {
	for i := range fields {
		if fields[i].Error != "" {
			return &fields[i]
		}
	}
	return nil
}

// splitList reads a list typed with commas, spaces or one item a line.
func splitList(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ';' || r == ' ' || r == '\n' || r == '\r' || r == '\t' })
}

// atoi reads a whole number typed into a form; empty is 0 (the default).
func atoi(field, s string) (int, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, &fault.Error{Kind: fault.Invalid, Field: field, Msg: field + ": enter a whole number (digits only)"}
	}
	return n, nil
}

func itoa(n int) string {
	if n == 0 {
		return ""
	}
	return strconv.Itoa(n)
}

func urlQuery(s string) string { return url.QueryEscape(s) }

// plural writes "1 device" or "3 devices".
func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
}
