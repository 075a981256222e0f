package service

import (
	"context"
	"encoding/json"
	"fmt"
	netmail "net/mail"
	"strings"
	"time"

	"github.com/wicket-vpn/wicket/server/internal/fault"
	"github.com/wicket-vpn/wicket/server/internal/mail"
)

var smtpPasswordAAD = []byte("smtp-password")

// smtpRecord is how SMTP settings are stored; the password is sealed.
type smtpRecord struct {
	Host           string `json:"host"`
	Port           int    `json:"port"`
	Username       string `json:"username"`
	SealedPassword string `json:"password,omitempty"`
	From           string `json:"from"`
	TLS            int    `json:"tls"`
}

func (s *Service) smtpRecord(ctx context.Context) (smtpRecord, error) {
	var r smtpRecord
	raw, err := s.store.Meta(ctx, "smtp")
	if err != nil || raw == "" {
		return r, err
	}
	if err := json.Unmarshal([]byte(raw), &r); err != nil {
		return r, fmt.Errorf("stored SMTP settings are damaged: %w", err)
	}
	return r, nil
}

// smtpSettings returns the settings with the password opened.
func (s *Service) smtpSettings(ctx context.Context) (mail.Settings, error) {
	r, err := s.smtpRecord(ctx)
	if err != nil {
		return mail.Settings{}, err
	}
	set := mail.Settings{Host: r.Host, Port: r.Port, Username: r.Username, From: r.From, TLS: mail.TLSMode(r.TLS)}
	if r.SealedPassword != "" {
		pw, err := s.openString(r.SealedPassword, smtpPasswordAAD)
		if err != nil {
			return mail.Settings{}, fmt.Errorf("open SMTP password: %w", err)
		}
		set.Password = string(pw)
	}
	return set, nil
}

// SMTPView is what an admin sees of the SMTP settings: never the password.
type SMTPView struct {
	Settings    mail.Settings // Password always empty
	PasswordSet bool
}

// GetSMTP returns the SMTP settings without the password.
func (s *Service) GetSMTP(ctx context.Context, a Actor) (SMTPView, error) {
	if !a.Admin {
		return SMTPView{}, a.notAdmin()
	}
	r, err := s.smtpRecord(ctx)
	if err != nil {
		return SMTPView{}, err
	}
	return SMTPView{Settings: mail.Settings{Host: r.Host, Port: r.Port, Username: r.Username, From: r.From, TLS: mail.TLSMode(r.TLS)}, PasswordSet: r.SealedPassword != ""}, nil
}

// SMTPConfigured reports whether email codes can be sent.
func (s *Service) SMTPConfigured(ctx context.Context) bool {
	r, err := s.smtpRecord(ctx)
	return err == nil && r.Host != "" && r.From != ""
}

// UpdateSMTP stores new SMTP settings; an empty password keeps the stored
// one, and an empty host clears the settings.
func (s *Service) UpdateSMTP(ctx context.Context, a Actor, set mail.Settings) error {
	if !a.Admin {
		return a.notAdmin()
	}
	set.Host = strings.TrimSpace(set.Host)
	old, err := s.smtpRecord(ctx)
	if err != nil {
		return err
	}
	r := smtpRecord{}
	if set.Host != "" {
		if set.Port == 0 {
			set.Port = map[mail.TLSMode]int{mail.TLSImplicit: 465, mail.TLSStartTLS: 587}[set.TLS]
			if set.Port == 0 {
				set.Port = 25
			}
		}
		if err := set.Validate(); err != nil {
			return fault.New(fault.Invalid, "%v", err)
		}
		if err := checkFrom(set.From); err != nil {
			return err
		}
		r = smtpRecord{Host: set.Host, Port: set.Port, Username: set.Username, From: set.From, TLS: int(set.TLS), SealedPassword: old.SealedPassword}
		if set.Password != "" {
			r.SealedPassword = s.sealString([]byte(set.Password), smtpPasswordAAD)
		}
		if set.Username == "" {
			r.SealedPassword = ""
		}
	}
	raw, err := json.Marshal(r)
	if err != nil {
		return err
	}
	if err := s.store.SetMeta(ctx, "smtp", string(raw)); err != nil {
		return err
	}
	s.auditNow(ctx, a, "smtp.updated", set.Host, fmt.Sprintf("port=%d tls=%s username=%s password_changed=%t", set.Port, set.TLS, set.Username, set.Password != ""))
	s.instanceChanged(ctx, "")
	return nil
}

// SendTestEmail mails a test message with the stored settings.
func (s *Service) SendTestEmail(ctx context.Context, a Actor, to string) error {
	if !a.Admin {
		return a.notAdmin()
	}
	to, err := checkEmail(to)
	if err != nil {
		return fault.New(fault.Invalid, "to: %q is not an email address", to)
	}
	set, err := s.smtpSettings(ctx)
	if err != nil {
		return err
	}
	if !set.Configured() {
		return fault.New(fault.FailedPrecondition, "Save the SMTP settings first.")
	}
	sendCtx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	err = s.mailer.Send(sendCtx, set, mail.Message{To: to, Subject: s.cfg.InstanceName + " test email",
		Body: "This is a test email from " + s.cfg.InstanceName + ". Your SMTP settings work: users can now receive email codes.\n"})
	s.auditNow(ctx, a, "smtp.test_sent", to, fmt.Sprintf("ok=%t", err == nil))
	if err != nil {
		return fault.Wrap(fault.Unavailable, err, "The test email could not be sent: %v", err)
	}
	return nil
}

// checkFrom applies checkName to the sender, as typed and with its display
// name decoded: an RFC 2047 encoded word can carry what the raw text does
// not show. Validate has parsed the address already.
func checkFrom(from string) error {
	problem := nameProblem(from)
	if a, err := netmail.ParseAddress(from); problem == "" && err == nil {
		problem = nameProblem(a.Name)
	}
	if problem != "" {
		return fault.New(fault.Invalid, "From address %s", problem)
	}
	return nil
}
