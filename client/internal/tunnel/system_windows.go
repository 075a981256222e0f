package tunnel

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
	"unsafe"

	"golang.org/x/sys/windows"
	"golang.org/x/sys/windows/svc"
	"golang.org/x/sys/windows/svc/mgr"
	"golang.zx2c4.com/wireguard/windows/conf"
	"golang.zx2c4.com/wireguard/windows/driver"
	wgtunnel "golang.zx2c4.com/wireguard/windows/tunnel"
)

// The Windows system backend installs a WireGuard tunnel service, as the
// official client does: this same binary, started by the service manager
// with serviceFlag and the configuration's path, runs
// golang.zx2c4.com/wireguard/windows/tunnel (WireGuardNT, addresses,
// routes, DNS and firewall). It needs administrator rights.

const serviceFlag = "/tunnelservice"

// System is a tunnel run by a Windows service.
type System struct {
	name     string
	service  string
	confPath string
	routes   []netip.Prefix
	log      *slog.Logger

	closeOnce sync.Once
	closeErr  error
}

// configDir is where tunnel configurations live while their service runs:
// under ProgramData, readable by administrators and SYSTEM only, and
// encrypted with DPAPI besides.
func configDir() string {
	pd := os.Getenv("ProgramData")
	if pd == "" {
		pd = `C:\ProgramData`
	}
	return filepath.Join(pd, "Wicket", "Tunnels")
}

func upSystem(ctx context.Context, cfg Config, opts Options) (Tunnel, error) {
	if !conf.TunnelNameIsValid(cfg.Name) {
		return nil, fmt.Errorf("tunnel name %q is not valid on Windows", cfg.Name)
	}
	serviceName, err := conf.ServiceNameOfTunnel(cfg.Name)
	if err != nil {
		return nil, err
	}
	m, err := mgr.Connect()
	if err != nil {
		if errors.Is(err, windows.ERROR_ACCESS_DENIED) {
			return nil, errors.New("a system tunnel on Windows needs administrator rights: run Wicket as administrator, or use userspace mode " +
				"(Settings → Tunnel mode → Userspace, or `wicket connect --userspace`), which needs none and offers a SOCKS5 proxy")
		}
		return nil, fmt.Errorf("cannot reach the Windows service manager: %v", err)
	}
	defer m.Disconnect()
	s := &System{name: cfg.Name, service: serviceName, routes: cfg.AllowedIPs, log: opts.Log.With("tunnel", cfg.Name)}
	// A service left by a crash would hold the name.
	removeService(m, serviceName)

	dir := configDir()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("cannot create %s: %v", dir, err)
	}
	if err := restrictToAdmins(dir); err != nil {
		s.log.Warn("cannot restrict the tunnel folder", "dir", dir, "err", err)
	}
	s.confPath = filepath.Join(dir, cfg.Name+".conf.dpapi")
	text, err := wgQuick(cfg)
	if err != nil {
		return nil, err
	}
	sealed, err := protect([]byte(text), cfg.Name)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(s.confPath, sealed, 0o600); err != nil {
		return nil, fmt.Errorf("cannot write the tunnel configuration: %v", err)
	}
	exe, err := os.Executable()
	if err != nil {
		os.Remove(s.confPath)
		return nil, err
	}
	service, err := m.CreateService(serviceName, exe, mgr.Config{
		ServiceType:  windows.SERVICE_WIN32_OWN_PROCESS,
		StartType:    mgr.StartManual,
		ErrorControl: mgr.ErrorNormal,
		Dependencies: []string{"Nsi", "TcpIp"},
		DisplayName:  "Wicket tunnel: " + cfg.Name,
		SidType:      windows.SERVICE_SID_TYPE_UNRESTRICTED,
	}, serviceFlag, s.confPath)
	if err != nil {
		os.Remove(s.confPath)
		return nil, fmt.Errorf("cannot install the tunnel service: %v", err)
	}
	defer service.Close()
	if err := service.Start(); err != nil {
		s.Close()
		return nil, fmt.Errorf("cannot start the tunnel service: %v", err)
	}
	if err := waitState(ctx, service, svc.Running); err != nil {
		s.Close()
		return nil, fmt.Errorf("the tunnel service did not start: %v", err)
	}
	s.log.Info("system tunnel up", "address", cfg.Address, "service", serviceName)
	return s, nil
}

// wgQuick renders the configuration the tunnel service reads.
func wgQuick(cfg Config) (string, error) {
	host, port, err := splitEndpoint(cfg.Endpoint)
	if err != nil {
		return "", err
	}
	c := conf.Config{
		Name: cfg.Name,
		Interface: conf.Interface{
			PrivateKey: conf.Key(cfg.PrivateKey),
			Addresses:  []netip.Prefix{cfg.Address},
			MTU:        uint16(cfg.mtu()),
			DNS:        cfg.DNS,
		},
		Peers: []conf.Peer{{
			PublicKey:           conf.Key(cfg.PeerPublicKey),
			PresharedKey:        conf.Key(cfg.PresharedKey),
			AllowedIPs:          cfg.AllowedIPs,
			Endpoint:            conf.Endpoint{Host: host, Port: port},
			PersistentKeepalive: uint16(cfg.Keepalive / time.Second),
		}},
	}
	return c.ToWgQuick(), nil
}

// protect seals data with DPAPI for the machine, so the tunnel service
// (running as SYSTEM) can open it while the file itself holds no key in
// the clear.
func protect(data []byte, name string) ([]byte, error) {
	in := windows.DataBlob{Size: uint32(len(data)), Data: &data[0]}
	var out windows.DataBlob
	desc, err := windows.UTF16PtrFromString(name)
	if err != nil {
		return nil, err
	}
	if err := windows.CryptProtectData(&in, desc, nil, 0, nil, windows.CRYPTPROTECT_UI_FORBIDDEN|windows.CRYPTPROTECT_LOCAL_MACHINE, &out); err != nil {
		return nil, fmt.Errorf("cannot encrypt the tunnel configuration: %v", err)
	}
	defer windows.LocalFree(windows.Handle(unsafe.Pointer(out.Data)))
	return append([]byte(nil), unsafe.Slice(out.Data, out.Size)...), nil
}

func restrictToAdmins(dir string) error {
	sd, err := windows.SecurityDescriptorFromString("O:BAD:PAI(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)")
	if err != nil {
		return err
	}
	dacl, _, err := sd.DACL()
	if err != nil {
		return err
	}
	return windows.SetNamedSecurityInfo(dir, windows.SE_FILE_OBJECT,
		windows.DACL_SECURITY_INFORMATION|windows.PROTECTED_DACL_SECURITY_INFORMATION, nil, nil, dacl, nil)
}

func waitState(ctx context.Context, s *mgr.Service, want svc.State) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		st, err := s.Query()
		if err != nil {
			return err
		}
		if st.State == want {
			return nil
		}
		if st.State == svc.Stopped && want != svc.Stopped {
			return fmt.Errorf("it stopped (exit code %d); see the Windows event log", st.Win32ExitCode)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("still in state %d after 30 s", st.State)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond): // the service manager has no change notification we can wait on simply
		}
	}
}

// removeService stops and deletes a service, ignoring one that is absent.
func removeService(m *mgr.Mgr, name string) error {
	s, err := m.OpenService(name)
	if err != nil {
		return nil
	}
	defer s.Close()
	if st, err := s.Control(svc.Stop); err == nil && st.State != svc.Stopped {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		waitState(ctx, s, svc.Stopped)
		cancel()
	}
	return s.Delete()
}

// Offers implements Tunnel.
func (s *System) Offers() string {
	var rs []string
	for _, p := range s.routes {
		rs = append(rs, p.String())
	}
	return fmt.Sprintf("routes %s through the %s adapter", strings.Join(rs, ", "), s.name)
}

// Stats implements Tunnel, reading the WireGuardNT adapter.
func (s *System) Stats() (Stats, error) {
	a, err := driver.OpenAdapter(s.name)
	if err != nil {
		return Stats{}, err
	}
	defer a.Close()
	iface, err := a.Configuration()
	if err != nil {
		return Stats{}, err
	}
	if iface.PeerCount == 0 {
		return Stats{}, nil
	}
	p := iface.FirstPeer()
	st := Stats{RxBytes: p.RxBytes, TxBytes: p.TxBytes}
	if p.LastHandshake != 0 {
		// 100 ns intervals since 1601, as a FILETIME.
		ft := windows.Filetime{LowDateTime: uint32(p.LastHandshake), HighDateTime: uint32(p.LastHandshake >> 32)}
		st.LatestHandshake = time.Unix(0, ft.Nanoseconds())
	}
	return st, nil
}

// Close implements Tunnel: it stops and removes the service, which takes
// the adapter, routes and DNS settings with it.
func (s *System) Close() error {
	s.closeOnce.Do(func() {
		m, err := mgr.Connect()
		if err != nil {
			s.closeErr = err
		} else {
			s.closeErr = removeService(m, s.service)
			m.Disconnect()
		}
		os.Remove(s.confPath)
	})
	return s.closeErr
}

// RunServiceIfAsked runs the tunnel service when the service manager
// started this binary as one (`wicket.exe /tunnelservice PATH`); it
// returns only when the service stops.
func RunServiceIfAsked(args []string) (handled bool, err error) {
	if len(args) != 2 || args[0] != serviceFlag {
		return false, nil
	}
	conf.PresetRootDirectory(filepath.Dir(filepath.Dir(args[1])))
	wgtunnel.UseFixedGUIDInsteadOfDeterministic = true
	return true, wgtunnel.Run(args[1])
}

func splitEndpoint(ep string) (string, uint16, error) {
	if ap, err := netip.ParseAddrPort(ep); err == nil {
		return ap.Addr().String(), ap.Port(), nil
	}
	i := strings.LastIndexByte(ep, ':')
	if i < 0 {
		return "", 0, fmt.Errorf("server endpoint %q is not host:port", ep)
	}
	var port uint16
	if _, err := fmt.Sscan(ep[i+1:], &port); err != nil {
		return "", 0, fmt.Errorf("server endpoint %q has a bad port", ep)
	}
	return strings.Trim(ep[:i], "[]"), port, nil
}
