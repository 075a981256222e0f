// Package web serves wicketd's pages for admins and users: sign-in, the VPN
// overview and location editing, users, SMTP settings, gateways, the audit
// log, and each user's profile with MFA setup and device enrollment.
//
// Pages are rendered on the server with html/template and work without
// JavaScript; the only script copies codes to the clipboard and submits the
// location picker on change. Handlers call the domain (package service), as
// the Connect API does, never the API itself.
package web

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strings"

	"github.com/wicket-vpn/wicket/server/internal/mail"
	"github.com/wicket-vpn/wicket/server/internal/service"
)

// Option changes how the pages are served.
type Option func(*config)

type config struct {
	serverURL   string
	fingerprint string
	signInKey   []byte
	outbox      *mail.Outbox
}

// WithServer gives the address clients and gateways use and the SHA-256
// fingerprint of the server's certificate, for the gateway command line the
// gateway page shows.
func WithServer(url, fingerprint string) Option {
	return func(c *config) { c.serverURL, c.fingerprint = url, fingerprint }
}

// WithSignInKey sets the 32-byte key that seals a half-finished sign-in (a
// right password waiting for its TOTP code) in a cookie. Replicas behind one
// load balancer without sticky sessions need the same key; without this
// option it is derived from the master key, which they share.
func WithSignInKey(key []byte) Option {
	return func(c *config) { c.signInKey = key }
}

// WithOutbox shows admins a "Mail outbox" page with the messages o kept,
// for a server whose mailer is the development outbox (wicketd demo). The
// Email page then says that mail is kept there, not sent.
func WithOutbox(o *mail.Outbox) Option {
	return func(c *config) { c.outbox = o }
}

// origin is the scheme and host of the server's address, where passkey
// ceremonies work.
func (c config) origin() string {
	u, err := url.Parse(c.serverURL)
	if err != nil || u.Host == "" {
		return c.serverURL
	}
	return u.Scheme + "://" + u.Host
}

// handler serves the pages.
type handler struct {
	svc    *service.Service
	log    *slog.Logger
	cfg    config
	mux    *http.ServeMux
	pages  map[string]*pageTemplate
	pend   cipher.AEAD // seals pending sign-ins
	static string      // version suffix of asset URLs
}

// New returns the pages as one handler, to be mounted at "/".
func New(svc *service.Service, log *slog.Logger, opts ...Option) http.Handler {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var cfg config
	for _, o := range opts {
		o(&cfg)
	}
	key := cfg.signInKey
	if len(key) != 32 {
		if len(key) != 0 {
			log.Warn("web: the sign-in key is not 32 bytes; using the one derived from the master key instead")
		}
		// Derived from the master key: every replica of a database
		// opens a half-finished sign-in another one sealed.
		key = svc.SignInKey()
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		panic(err) // a 32-byte key always makes a cipher
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		panic(err)
	}
	h := &handler{svc: svc, log: log, cfg: cfg, pend: aead, static: assetVersion()}
	h.pages = h.parsePages()
	h.routes()
	return h
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hdr := w.Header()
	// Pages may hold one-time secrets (a TOTP secret during setup, an
	// enrollment code), so nothing is cached; the assets set their own.
	hdr.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	hdr.Set("X-Frame-Options", "DENY")
	hdr.Set("Referrer-Policy", "same-origin")
	hdr.Set("Cache-Control", "no-store")
	h.mux.ServeHTTP(w, r)
}

func (h *handler) routes() {
	m := http.NewServeMux()
	h.mux = m
	m.Handle("GET /static/", h.assets())
	m.HandleFunc("GET /favicon.ico", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/static/icon.svg", http.StatusMovedPermanently)
	})

	m.HandleFunc("GET /signin", h.anon(h.signInPage))
	m.HandleFunc("POST /signin", h.anon(h.signIn))
	m.HandleFunc("GET /signin/code", h.anon(h.signInCodePage))
	m.HandleFunc("POST /signin/code", h.anon(h.signInCode))
	m.HandleFunc("POST /signin/email", h.anon(h.signInEmail))
	m.HandleFunc("GET /confirm", h.user(h.confirmPage))
	m.HandleFunc("GET /confirm/code", h.user(h.confirmCodePage))
	m.HandleFunc("POST /confirm/code", h.user(h.confirmCode))
	m.HandleFunc("POST /confirm/email", h.user(h.signInEmail))
	m.HandleFunc("POST /signin/passkey", h.anon(h.signInPasskey))
	m.HandleFunc("POST /confirm/passkey", h.user(h.confirmPasskey))
	m.HandleFunc("POST /signout", h.user(h.signOut))
	m.HandleFunc("GET "+service.PasskeyApprovalPath, h.anon(h.approval))
	m.HandleFunc("POST "+service.PasskeyApprovalPath, h.anon(h.approve))
	m.HandleFunc("POST "+service.PasskeyApprovalPath+"/refuse", h.anon(h.refuse))

	m.HandleFunc("GET /{$}", h.user(h.home))

	m.HandleFunc("GET /overview", h.admin(h.overview))
	m.HandleFunc("POST /sessions/{id}/disconnect", h.admin(h.disconnect))
	m.HandleFunc("GET /locations/new", h.admin(h.newLocationPage))
	m.HandleFunc("POST /locations/new", h.admin(h.createLocation))
	m.HandleFunc("GET /locations/{id}/edit", h.admin(h.editLocationPage))
	m.HandleFunc("POST /locations/{id}/edit", h.admin(h.updateLocation))
	m.HandleFunc("GET /locations/{id}/delete", h.admin(h.deleteLocationPage))
	m.HandleFunc("POST /locations/{id}/delete", h.admin(h.deleteLocation))

	m.HandleFunc("GET /users", h.admin(h.users))
	m.HandleFunc("GET /users/new", h.admin(h.newUserPage))
	m.HandleFunc("POST /users/new", h.admin(h.createUser))
	m.HandleFunc("GET /users/{id}", h.admin(h.editUserPage))
	m.HandleFunc("POST /users/{id}", h.admin(h.updateUser))
	m.HandleFunc("GET /users/{id}/reset-mfa", h.admin(h.resetMFAPage))
	m.HandleFunc("POST /users/{id}/reset-mfa", h.admin(h.resetMFA))
	m.HandleFunc("GET /users/{id}/delete", h.admin(h.deleteUserPage))
	m.HandleFunc("POST /users/{id}/delete", h.admin(h.deleteUser))

	m.HandleFunc("GET /smtp", h.admin(h.smtpPage))
	m.HandleFunc("POST /smtp", h.admin(h.saveSMTP))
	m.HandleFunc("POST /smtp/test", h.admin(h.testSMTP))

	m.HandleFunc("GET /audit", h.admin(h.audit))
	if h.cfg.outbox != nil {
		m.HandleFunc("GET /outbox", h.admin(h.outboxPage))
	}

	m.HandleFunc("GET /gateways", h.admin(h.gateways))
	m.HandleFunc("POST /gateways/token", h.admin(h.gatewayToken))
	m.HandleFunc("POST /gateways/tokens/{id}/revoke", h.admin(h.revokeGatewayToken))

	m.HandleFunc("GET /profile", h.user(h.profile))
	m.HandleFunc("POST /profile/totp", h.user(h.beginTOTP))
	m.HandleFunc("POST /profile/totp/confirm", h.user(h.confirmTOTP))
	m.HandleFunc("POST /profile/totp/disable", h.user(h.disableTOTP))
	m.HandleFunc("POST /profile/email", h.user(h.beginEmail))
	m.HandleFunc("GET /profile/email/confirm", h.user(h.emailConfirmPage))
	m.HandleFunc("POST /profile/email/confirm", h.user(h.confirmEmail))
	m.HandleFunc("POST /profile/email/disable", h.user(h.disableEmail))
	m.HandleFunc("POST /profile/passkeys/new", h.user(h.beginPasskey))
	m.HandleFunc("POST /profile/passkeys/finish", h.user(h.finishPasskey))
	m.HandleFunc("GET /profile/passkeys/{id}/remove", h.user(h.removePasskeyPage))
	m.HandleFunc("POST /profile/passkeys/{id}/remove", h.user(h.removePasskey))
	m.HandleFunc("GET /profile/devices/new", h.user(h.newDevicePage))
	m.HandleFunc("POST /profile/devices/new", h.user(h.addDevice))
	m.HandleFunc("GET /profile/configs/new", h.user(h.newConfigPage))
	m.HandleFunc("POST /profile/configs/new", h.user(h.createConfig))
	m.HandleFunc("GET /profile/devices/{id}/remove", h.user(h.removeDevicePage))
	m.HandleFunc("POST /profile/devices/{id}/remove", h.user(h.removeDevice))

	m.HandleFunc("/", h.anon(h.notFound))
}

// assets serves the embedded stylesheet, script and icon. Their URLs carry
// a version, so browsers may keep them.
func (h *handler) assets() http.Handler {
	sub, err := fs.Sub(assetFS, "static")
	if err != nil {
		panic(err)
	}
	files := http.StripPrefix("/static/", http.FileServerFS(sub))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/") {
			http.NotFound(w, r) // no directory listings
			return
		}
		w.Header().Set("Cache-Control", "public, max-age=86400")
		files.ServeHTTP(w, r)
	})
}

// assetVersion is a digest of the assets, appended to their URLs so a new
// build is fetched at once despite caching.
func assetVersion() string {
	sum := sha256.New()
	fs.WalkDir(assetFS, "static", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(assetFS, path)
		if err != nil {
			return err
		}
		sum.Write([]byte(path))
		sum.Write(b)
		return nil
	})
	return hex.EncodeToString(sum.Sum(nil))[:12]
}
