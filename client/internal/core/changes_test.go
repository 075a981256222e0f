package core

import (
	"slices"
	"testing"

	v1 "github.com/wicket-vpn/wicket/proto/gen/wicket/v1"
)

// TestChangesSayWhenTheyApply: a connected person is told what the server
// really does with each change: limits apply to the running session,
// changed routes end it, tunnel settings wait for the next connection.
func TestChangesSayWhenTheyApply(t *testing.T) {
	mfa := v1.LocationMfaMode_LOCATION_MFA_MODE_INTERNAL
	old := &v1.InstanceInfo{Locations: []*v1.LocationInfo{{Id: "l", Name: "Office", MfaMode: mfa, PeerDisconnectThresholdSeconds: 300,
		Tunnel: &v1.TunnelConfig{AllowedIps: []string{"10.0.0.0/24"}, Dns: []string{"10.0.0.2"}}}}}
	cur := &v1.InstanceInfo{Locations: []*v1.LocationInfo{{Id: "l", Name: "Office", MfaMode: mfa, PeerDisconnectThresholdSeconds: 600,
		Tunnel: &v1.TunnelConfig{AllowedIps: []string{"10.0.0.0/16"}, Dns: []string{"10.0.0.3"}}}}}
	connected := describeChanges(old, cur, func(string) bool { return true })
	for _, want := range []string{
		"Office now disconnects after 10 min without traffic (this applies to your current connection too)",
		"Office now routes 10.0.0.0/16 (your current connection ends: connect again)",
		"Office now uses the DNS servers 10.0.0.3 (you are connected: it applies from the next connection)",
	} {
		if !slices.Contains(connected, want) {
			t.Errorf("connected: no %q in %q", want, connected)
		}
	}
	idle := describeChanges(old, cur, func(string) bool { return false })
	if !slices.Contains(idle, "Office now disconnects after 10 min without traffic") {
		t.Errorf("not connected: %q", idle)
	}
}
