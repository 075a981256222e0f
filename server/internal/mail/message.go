package mail

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"mime"
	"mime/quotedprintable"
	netmail "net/mail"
	"strings"
	"time"
	"unicode/utf8"
)

// ErrInvalidMessage is wrapped by the errors Send returns when the message
// itself cannot be sent: a bad recipient address, a line break in a header
// value (header injection) or an over-long subject. Such errors do not
// depend on the SMTP server or the settings.
var ErrInvalidMessage = errors.New("invalid message")

// maxSubjectBytes bounds the subject so that no header line can exceed the
// 998-character limit of RFC 5322, whatever its encoding.
const maxSubjectBytes = 400

// Message is one plain-text mail to a single recipient.
type Message struct {
	// To is the recipient, a bare address or one with a display name.
	To string
	// Subject is the subject line; it may contain any UTF-8 text but no
	// line breaks.
	Subject string
	// Body is the plain-text UTF-8 body. Line endings may be LF or CRLF.
	Body string
}

// envelope is what the SMTP transaction needs besides the message data.
type envelope struct {
	from, to string // bare addresses for MAIL FROM and RCPT TO
	utf8     bool   // whether SMTPUTF8 is needed
}

// compose checks m and renders it as an RFC 5322 message with CRLF line
// endings. from must already have been checked by Settings.Validate.
func compose(from string, m Message, now time.Time) (envelope, []byte, error) {
	fromAddr, err := parseFrom(from)
	if err != nil {
		return envelope{}, nil, err
	}
	if strings.ContainsAny(m.To, "\r\n") {
		return envelope{}, nil, fmt.Errorf("%w: the recipient address contains a line break", ErrInvalidMessage)
	}
	if strings.TrimSpace(m.To) == "" {
		return envelope{}, nil, fmt.Errorf("%w: no recipient address", ErrInvalidMessage)
	}
	toAddr, err := netmail.ParseAddress(m.To)
	if err != nil {
		return envelope{}, nil, fmt.Errorf("%w: recipient address %q is not valid (%s)", ErrInvalidMessage, m.To, strings.TrimPrefix(err.Error(), "mail: "))
	}
	if strings.ContainsAny(m.Subject, "\r\n") {
		return envelope{}, nil, fmt.Errorf("%w: the subject contains a line break", ErrInvalidMessage)
	}
	if len(m.Subject) > maxSubjectBytes {
		return envelope{}, nil, fmt.Errorf("%w: the subject is longer than %d bytes", ErrInvalidMessage, maxSubjectBytes)
	}
	if !utf8.ValidString(m.Subject) || !utf8.ValidString(m.Body) {
		return envelope{}, nil, fmt.Errorf("%w: the subject or body is not valid UTF-8", ErrInvalidMessage)
	}

	env := envelope{
		from: fromAddr.Address,
		to:   toAddr.Address,
		utf8: !isASCII(fromAddr.Address) || !isASCII(toAddr.Address),
	}

	var b bytes.Buffer
	header := func(name, value string) {
		b.WriteString(fold(name + ": " + value))
		b.WriteString("\r\n")
	}
	header("Date", now.Format(time.RFC1123Z))
	header("From", formatAddress(fromAddr))
	header("To", formatAddress(toAddr))
	header("Subject", mime.QEncoding.Encode("utf-8", m.Subject))
	header("Message-ID", "<"+rand.Text()+"@"+domainOf(fromAddr.Address)+">")
	header("MIME-Version", "1.0")
	header("Content-Type", "text/plain; charset=utf-8")
	header("Content-Transfer-Encoding", "quoted-printable")
	// RFC 3834: tells vacation responders not to answer.
	header("Auto-Submitted", "auto-generated")
	b.WriteString("\r\n")

	body := strings.ReplaceAll(m.Body, "\r\n", "\n")
	body = strings.ReplaceAll(body, "\r", "\n")
	qp := quotedprintable.NewWriter(&b)
	if _, err := qp.Write([]byte(body)); err != nil {
		return envelope{}, nil, err
	}
	if err := qp.Close(); err != nil {
		return envelope{}, nil, err
	}
	if !bytes.HasSuffix(b.Bytes(), []byte("\r\n")) {
		b.WriteString("\r\n")
	}
	return env, b.Bytes(), nil
}

// fold breaks a header line at spaces so that its lines stay within 78
// characters where possible (RFC 5322 section 2.2.3). Words longer than
// that are left whole.
func fold(line string) string {
	const limit = 78
	if len(line) <= limit {
		return line
	}
	var b strings.Builder
	cur := 0 // length of the current output line
	for i, word := range strings.Split(line, " ") {
		if i > 0 {
			// Fold only before a word, so that no line is all blanks.
			if word != "" && cur+1+len(word) > limit {
				b.WriteString("\r\n")
				cur = 0
			}
			b.WriteByte(' ')
			cur++
		}
		b.WriteString(word)
		cur += len(word)
	}
	return b.String()
}

// formatAddress renders a for a header, as a bare address when it has no
// display name.
func formatAddress(a *netmail.Address) string {
	s := a.String()
	if a.Name == "" {
		s = strings.TrimSuffix(strings.TrimPrefix(s, "<"), ">")
	}
	return s
}

// domainOf returns the part of addr after the last "@", or "localhost".
func domainOf(addr string) string {
	if i := strings.LastIndexByte(addr, '@'); i >= 0 && i < len(addr)-1 {
		return addr[i+1:]
	}
	return "localhost"
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}
