package core

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"google.golang.org/protobuf/encoding/protojson"

	"github.com/wicket-vpn/wicket/client/internal/secrets"
	"github.com/wicket-vpn/wicket/client/internal/tunnel"
	v1 "github.com/wicket-vpn/wicket/proto/gen/wicket/v1"
	"github.com/wicket-vpn/wicket/proto/gen/wicket/v1/wicketv1connect"
	"github.com/wicket-vpn/wicket/shared/tlspin"
	"github.com/wicket-vpn/wicket/shared/wgkey"
)

// Files in Options.ConfigDir.
const (
	instancesFile = "instances.json"
	settingsFile  = "settings.json"
)

// Defaults for Options.
const (
	DefaultPollInterval  = 30 * time.Second
	DefaultStatsInterval = time.Second
)

type core struct {
	opts Options
	log  *slog.Logger

	mu       sync.Mutex
	insts    []*instance
	set      Settings // in force
	saved    Settings // on disk
	runCtx   context.Context
	runWG    sync.WaitGroup
	subs     map[*subscriber]struct{}
	closing  bool
	saveMu   sync.Mutex // orders writes of instances.json
	hostname func() (string, error)
}

// instance is one enrolled server. Fields are guarded by core.mu, except
// client, http and servers, which are set once (servers guards itself).
type instance struct {
	saved  savedInstance
	info   *v1.InstanceInfo
	http   *http.Client
	client wicketv1connect.ClientServiceClient
	// servers are the instance's addresses; client fails over between
	// them.
	servers *servers
	token   string // the device token, read from the keyring once
	locs    map[string]*locState

	live       bool
	updateErr  string
	lastUpdate time.Time
	changes    []string
	changedAt  time.Time
	stopWatch  context.CancelFunc
}

// savedInstance is what instances.json keeps of an instance: nothing
// secret. The private key and device token are in the keyring.
type savedInstance struct {
	ID          string            `json:"id"`
	URL         string            `json:"url"`
	Fingerprint string            `json:"fingerprint,omitempty"`
	DeviceID    string            `json:"device_id"`
	DeviceName  string            `json:"device_name"`
	PublicKey   string            `json:"public_key"`
	EnrolledAt  time.Time         `json:"enrolled_at"`
	LastMethods map[string]Method `json:"last_methods,omitempty"`
	// Servers are the addresses of the instance's replicas, in the order
	// the client tries them (from InstanceInfo.replica_urls, then URL).
	Servers []string `json:"servers,omitempty"`
	// Info is the last configuration fetched (InstanceInfo in protobuf
	// JSON), so locations show before the server answers. It carries no
	// pre-shared keys: the server sends those only with a session.
	Info json.RawMessage `json:"info,omitempty"`
}

type savedFile struct {
	Version   int             `json:"version"`
	Instances []savedInstance `json:"instances"`
}

func privateKeyName(id string) string  { return "instance/" + id + "/private-key" }
func deviceTokenName(id string) string { return "instance/" + id + "/device-token" }

func newCore(opts Options) (*core, error) {
	if opts.ConfigDir == "" {
		return nil, errors.New("core: Options.ConfigDir is required")
	}
	if opts.Secrets == nil {
		return nil, errors.New("core: Options.Secrets is required")
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.Tunnels == nil {
		opts.Tunnels = tunnel.Default
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.PollInterval <= 0 {
		opts.PollInterval = DefaultPollInterval
	}
	if opts.StatsInterval <= 0 {
		opts.StatsInterval = DefaultStatsInterval
	}
	if opts.StreamSilence <= 0 {
		opts.StreamSilence = DefaultStreamSilence
	}
	if opts.After == nil {
		opts.After = time.After
	}
	if err := os.MkdirAll(opts.ConfigDir, 0o700); err != nil {
		return nil, fmt.Errorf("cannot create the settings folder: %v", err)
	}
	c := &core{opts: opts, log: opts.Log, subs: map[*subscriber]struct{}{}, hostname: os.Hostname}
	if err := c.load(); err != nil {
		return nil, err
	}
	return c, nil
}

// load reads instances.json and settings.json; missing files are fine.
func (c *core) load() error {
	if b, err := os.ReadFile(filepath.Join(c.opts.ConfigDir, settingsFile)); err == nil {
		if err := json.Unmarshal(b, &c.saved); err != nil {
			return fmt.Errorf("cannot read %s: %v", filepath.Join(c.opts.ConfigDir, settingsFile), err)
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return err
	}
	c.set = c.saved
	b, err := os.ReadFile(filepath.Join(c.opts.ConfigDir, instancesFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var f savedFile
	if err := json.Unmarshal(b, &f); err != nil {
		return fmt.Errorf("cannot read %s: %v", filepath.Join(c.opts.ConfigDir, instancesFile), err)
	}
	for _, s := range f.Instances {
		in := c.newInstance(s)
		if len(s.Info) > 0 {
			info := &v1.InstanceInfo{}
			if err := protojson.Unmarshal(s.Info, info); err == nil {
				in.info = info
				if len(s.Servers) == 0 {
					in.servers.set(serverURLs(info, s.URL))
				}
			}
		}
		c.insts = append(c.insts, in)
	}
	return nil
}

func (c *core) newInstance(s savedInstance) *instance {
	if s.LastMethods == nil {
		s.LastMethods = map[string]Method{}
	}
	tr := &http.Transport{
		TLSClientConfig:   tlspin.Config(s.Fingerprint),
		ForceAttemptHTTP2: true,
		Proxy:             http.ProxyFromEnvironment,
	}
	hc := &http.Client{Transport: tr}
	urls := s.Servers
	if len(urls) == 0 {
		urls = []string{s.URL}
	}
	srv := newServers(hc, urls)
	return &instance{
		saved:   s,
		http:    hc,
		client:  failoverClient{srv},
		servers: srv,
		locs:    map[string]*locState{},
	}
}

// save writes instances.json atomically. Call it without c.mu held.
func (c *core) save() error {
	c.saveMu.Lock()
	defer c.saveMu.Unlock()
	c.mu.Lock()
	f := savedFile{Version: 1}
	for _, in := range c.insts {
		s := in.saved
		s.LastMethods = map[string]Method{}
		for k, v := range in.saved.LastMethods {
			s.LastMethods[k] = v
		}
		if in.info != nil {
			if b, err := protojson.Marshal(in.info); err == nil {
				s.Info = b
			}
		}
		s.Servers, _ = in.servers.list()
		f.Instances = append(f.Instances, s)
	}
	c.mu.Unlock()
	return writeJSON(filepath.Join(c.opts.ConfigDir, instancesFile), f)
}

func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("cannot save settings: %v", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("cannot save settings: %v", err)
	}
	return nil
}

func (c *core) findInstance(id string) (*instance, error) {
	for _, in := range c.insts {
		if in.saved.ID == id {
			return in, nil
		}
	}
	return nil, fmt.Errorf("no instance %q", id)
}

// deviceToken returns the instance's device token, reading the keyring the
// first time.
func (c *core) deviceToken(in *instance) (string, error) {
	c.mu.Lock()
	tok := in.token
	c.mu.Unlock()
	if tok != "" {
		return tok, nil
	}
	tok, err := c.opts.Secrets.Get(deviceTokenName(in.saved.ID))
	if errors.Is(err, secrets.ErrNotFound) {
		return "", fmt.Errorf("this device's token is missing from the keyring; remove the instance and enroll again")
	}
	if err != nil {
		return "", err
	}
	c.mu.Lock()
	in.token = tok
	c.mu.Unlock()
	return tok, nil
}

func (c *core) privateKey(in *instance) (wgkey.Key, error) {
	s, err := c.opts.Secrets.Get(privateKeyName(in.saved.ID))
	if errors.Is(err, secrets.ErrNotFound) {
		return wgkey.Key{}, fmt.Errorf("this device's WireGuard key is missing from the keyring; remove the instance and enroll again")
	}
	if err != nil {
		return wgkey.Key{}, err
	}
	k, err := wgkey.Parse(s)
	if err != nil {
		return wgkey.Key{}, fmt.Errorf("the WireGuard key in the keyring is damaged; remove the instance and enroll again")
	}
	return k, nil
}

// ---- views ----

func (c *core) instances() []InstanceView {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]InstanceView, 0, len(c.insts))
	for _, in := range c.insts {
		out = append(out, c.viewInstance(in))
	}
	return out
}

func (c *core) instance(id string) (InstanceView, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	in, err := c.findInstance(id)
	if err != nil {
		return InstanceView{}, false
	}
	return c.viewInstance(in), true
}

func (c *core) location(instID, locID string) (LocationView, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	in, err := c.findInstance(instID)
	if err != nil {
		return LocationView{}, false
	}
	li := in.locationInfo(locID)
	if li == nil {
		return LocationView{}, false
	}
	return c.viewLocation(in, li), true
}

func (c *core) findLocation(q string) (LocationView, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var found []LocationView
	var names []string
	for _, in := range c.insts {
		if in.info == nil {
			continue
		}
		for _, li := range in.info.Locations {
			names = append(names, li.Name)
			if li.Id == q || strings.EqualFold(li.Name, q) {
				found = append(found, c.viewLocation(in, li))
			}
		}
	}
	switch {
	case len(c.insts) == 0:
		return LocationView{}, errors.New("no instance is enrolled yet; run `wicket enroll CODE` with the code from your profile page")
	case len(found) == 1:
		return found[0], nil
	case len(found) > 1:
		return LocationView{}, fmt.Errorf("several instances have a location %q; name it by its ID", q)
	}
	sort.Strings(names)
	if len(names) == 0 {
		return LocationView{}, fmt.Errorf("no location %q: the instance has no locations for you (try `wicket update`)", q)
	}
	return LocationView{}, fmt.Errorf("no location %q; the locations are: %s", q, strings.Join(names, ", "))
}

func (in *instance) locationInfo(id string) *v1.LocationInfo {
	if in.info == nil {
		return nil
	}
	for _, l := range in.info.Locations {
		if l.Id == id {
			return l
		}
	}
	return nil
}

func (in *instance) loc(id string) *locState {
	l := in.locs[id]
	if l == nil {
		l = &locState{}
		in.locs[id] = l
	}
	return l
}

func (c *core) viewInstance(in *instance) InstanceView {
	v := InstanceView{
		ID: in.saved.ID, URL: in.saved.URL, DeviceName: in.saved.DeviceName, DeviceID: in.saved.DeviceID, PublicKey: in.saved.PublicKey,
		LastUpdate: in.lastUpdate, Live: in.live, UpdateError: in.updateErr,
		Changes: append([]string(nil), in.changes...), ChangedAt: in.changedAt,
	}
	v.Servers, v.Server = in.servers.list()
	if in.info != nil {
		v.Name, v.Username, v.ConfigVersion, v.SMTPConfigured = in.info.Name, in.info.Username, in.info.ConfigVersion, in.info.SmtpConfigured
		if in.info.Url != "" {
			v.URL = in.info.Url
		}
		if in.info.DeviceName != "" {
			v.DeviceName = in.info.DeviceName
		}
		for _, m := range in.info.EnabledMfaMethods {
			if mm := methodFromPB(m); mm != "" {
				v.EnabledMethods = append(v.EnabledMethods, mm)
			}
		}
		for _, li := range in.info.Locations {
			v.Locations = append(v.Locations, c.viewLocation(in, li))
		}
	}
	if v.Name == "" {
		v.Name = in.saved.URL
	}
	return v
}

func (c *core) viewLocation(in *instance, li *v1.LocationInfo) LocationView {
	l := in.locs[li.Id]
	if l == nil {
		l = &locState{}
	}
	now := c.opts.Now()
	v := LocationView{
		InstanceID: in.saved.ID, ID: li.Id, Name: li.Name,
		MFA:           li.MfaMode == v1.LocationMfaMode_LOCATION_MFA_MODE_INTERNAL,
		IdleThreshold: time.Duration(li.PeerDisconnectThresholdSeconds) * time.Second,
		State:         l.state, Error: l.err, Message: l.msg, EndReason: l.endReason,
		Method: l.method, SentTo: l.sentTo, CodeExpires: l.codeExpires, BrowserURL: l.browserURL,
		ConnectedSince: l.connectedSince, SessionExpires: l.sessionExpires,
		LatestHandshake: l.stats.LatestHandshake, RxBytes: l.stats.RxBytes, TxBytes: l.stats.TxBytes,
		Offers: l.offers, SessionID: l.sessionID,
		LimitsMethods: len(li.AllowedMfaMethods) > 0,
	}
	for _, m := range li.AllowedMfaMethods {
		if mm := methodFromPB(m); mm != "" {
			v.AllowedMethods = append(v.AllowedMethods, mm)
		}
	}
	if t := li.GetTunnel(); t != nil {
		v.AllowedIPs = append([]string(nil), t.AllowedIps...)
	}
	if l.tunnelCfg != nil {
		v.TunnelAddress = l.tunnelCfg.Address
		v.AllowedIPs = append([]string(nil), l.tunnelCfg.AllowedIps...)
	} else if t := li.GetTunnel(); t != nil {
		v.TunnelAddress = t.Address
	}
	if v.State == AwaitingMethod && v.Method == "" {
		v.Method = in.saved.LastMethods[li.Id]
	}
	if l.state == Connected {
		if !v.LatestHandshake.IsZero() {
			v.HandshakeAge = now.Sub(v.LatestHandshake)
			if v.HandshakeAge < 0 {
				v.HandshakeAge = 0
			}
		}
		if v.MFA && v.IdleThreshold > 0 {
			// The server counts idleness from the latest handshake, or from
			// the authorization before the first one.
			last := l.authorizedAt
			if v.LatestHandshake.After(last) {
				last = v.LatestHandshake
			}
			v.IdleDisconnectAt = last.Add(v.IdleThreshold)
		}
	}
	return v
}

func methodFromPB(m v1.MfaMethod) Method {
	switch m {
	case v1.MfaMethod_MFA_METHOD_TOTP:
		return MethodTOTP
	case v1.MfaMethod_MFA_METHOD_EMAIL:
		return MethodEmail
	case v1.MfaMethod_MFA_METHOD_WEBAUTHN:
		return MethodPasskey
	}
	return ""
}

func methodToPB(m Method) v1.MfaMethod {
	switch m {
	case MethodTOTP:
		return v1.MfaMethod_MFA_METHOD_TOTP
	case MethodEmail:
		return v1.MfaMethod_MFA_METHOD_EMAIL
	case MethodPasskey:
		return v1.MfaMethod_MFA_METHOD_WEBAUTHN
	}
	return v1.MfaMethod_MFA_METHOD_UNSPECIFIED
}

func parseMethod(s string) (Method, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "totp", "authenticator app", "authenticator", "app":
		return MethodTOTP, nil
	case "email", "email code", "e-mail", "mail":
		return MethodEmail, nil
	case "passkey", "webauthn", "security key", "passkey or security key":
		return MethodPasskey, nil
	}
	return "", fmt.Errorf("unknown method %q: use totp (authenticator app), email or passkey", s)
}

// ---- settings ----

func (c *core) settings() Settings {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.set
}

func (c *core) setSettings(s Settings, save bool) error {
	switch s.TunnelMode {
	case "", TunnelModeSystem, TunnelModeUserspace:
	default:
		return fmt.Errorf("tunnel mode %q is not %q or %q", s.TunnelMode, TunnelModeSystem, TunnelModeUserspace)
	}
	if s.SOCKSAddr != "" {
		if err := tunnel.CheckSOCKSAddr(s.SOCKSAddr); err != nil {
			return err
		}
	}
	if save {
		if err := writeJSON(filepath.Join(c.opts.ConfigDir, settingsFile), s); err != nil {
			return err
		}
	}
	c.mu.Lock()
	c.set = s
	if save {
		c.saved = s
	}
	c.mu.Unlock()
	c.publish(Event{Kind: EventSettingsChanged})
	return nil
}

func (c *core) tunnelOptions() tunnel.Options {
	c.mu.Lock()
	defer c.mu.Unlock()
	mode := tunnel.Mode(c.set.TunnelMode)
	if mode == "" {
		mode = tunnel.ModeSystem
	}
	return tunnel.Options{Mode: mode, SOCKSAddr: c.set.SOCKSAddr, Log: c.log}
}
