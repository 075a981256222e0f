package web

import (
	"net/http"

	"github.com/wicket-vpn/wicket/server/internal/mail"
)

type outboxData struct {
	Messages []mail.OutboxMessage
	Size     int
}

// outboxPage lists the mail the development outbox kept, newest first, so
// an admin trying Wicket can read email codes without a mail server.
func (h *handler) outboxPage(w http.ResponseWriter, r *http.Request, v *visit) {
	h.render(w, r, v, "outbox", "Mail outbox", "outbox", outboxData{Messages: h.cfg.outbox.Messages(), Size: h.cfg.outbox.Size()})
}
