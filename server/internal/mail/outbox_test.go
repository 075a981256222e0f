package mail_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/wicket-vpn/wicket/server/internal/mail"
)

func TestOutboxKeepsTheLastMessagesNewestFirst(t *testing.T) {
	var logged bytes.Buffer
	o := mail.NewOutbox(3, slog.New(slog.NewTextHandler(&logged, nil)))
	set := mail.Settings{From: "Wicket <wicket@example.com>"}
	for i := 1; i <= 5; i++ {
		err := o.Send(t.Context(), set, mail.Message{To: "alice@example.com", Subject: fmt.Sprintf("code %d", i), Body: fmt.Sprintf("Your code is 00000%d.\n", i)})
		if err != nil {
			t.Fatal(err)
		}
	}
	got := o.Messages()
	if len(got) != 3 {
		t.Fatalf("kept %d messages, want 3", len(got))
	}
	for i, want := range []string{"code 5", "code 4", "code 3"} {
		if got[i].Subject != want || got[i].ID != 5-i || got[i].To != "alice@example.com" || got[i].From != set.From || got[i].Time.IsZero() {
			t.Fatalf("message %d = %+v, want subject %q", i, got[i], want)
		}
	}
	// The log carries the body, so codes can be read from it.
	if !strings.Contains(logged.String(), "Your code is 000005.") || !strings.Contains(logged.String(), "development outbox") {
		t.Fatalf("log does not show the message:\n%s", logged.String())
	}
	// Messages returns a copy.
	got[0].Subject = "changed"
	if o.Messages()[0].Subject != "code 5" {
		t.Fatal("Messages shares its slice")
	}
}

func TestOutboxRefusesWhatSMTPWouldRefuse(t *testing.T) {
	o := mail.NewOutbox(0, nil)
	if o.Size() != mail.DefaultOutboxSize {
		t.Fatalf("Size = %d", o.Size())
	}
	for _, m := range []mail.Message{
		{To: "not an address", Subject: "x"},
		{To: "a@example.com", Subject: "injected\r\nBcc: b@example.com"},
	} {
		if err := o.Send(t.Context(), mail.Settings{}, m); !errors.Is(err, mail.ErrInvalidMessage) {
			t.Fatalf("Send(%+v) = %v, want ErrInvalidMessage", m, err)
		}
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := o.Send(ctx, mail.Settings{}, mail.Message{To: "a@example.com"}); !errors.Is(err, context.Canceled) {
		t.Fatalf("Send with a cancelled context = %v", err)
	}
	if n := len(o.Messages()); n != 0 {
		t.Fatalf("kept %d refused messages", n)
	}
}
