package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// activeConnection is what a running `wicket connect` leaves in the config
// folder, so `wicket status` and `wicket disconnect` in other processes
// know about it. Nothing in it is secret.
type activeConnection struct {
	PID        int       `json:"pid"`
	InstanceID string    `json:"instance_id"`
	LocationID string    `json:"location_id"`
	Location   string    `json:"location"`
	SessionID  string    `json:"session_id"`
	Address    string    `json:"address"`
	Offers     string    `json:"offers"`
	Since      time.Time `json:"since"`
}

func activeKey(instID, locID string) string { return instID + "_" + locID }

func (a *app) activeDir() string { return filepath.Join(a.configDir, "connections") }

func (a *app) activePath(instID, locID string) string {
	return filepath.Join(a.activeDir(), activeKey(instID, locID)+".json")
}

func (a *app) writeActive(ac activeConnection) error {
	if err := os.MkdirAll(a.activeDir(), 0o700); err != nil {
		return err
	}
	b, err := json.MarshalIndent(ac, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(a.activePath(ac.InstanceID, ac.LocationID), b, 0o600)
}

func (a *app) removeActive(instID, locID string) {
	os.Remove(a.activePath(instID, locID))
}

// activeConnections returns the connections of live processes, removing
// files that processes which died left behind.
func (a *app) activeConnections() map[string]activeConnection {
	out := map[string]activeConnection{}
	ents, err := os.ReadDir(a.activeDir())
	if err != nil {
		return out
	}
	for _, e := range ents {
		if !strings.HasSuffix(e.Name(), ".json") {
			continue
		}
		p := filepath.Join(a.activeDir(), e.Name())
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		var ac activeConnection
		if json.Unmarshal(b, &ac) != nil {
			continue
		}
		if ac.PID != os.Getpid() && !processAlive(ac.PID) {
			os.Remove(p)
			continue
		}
		out[activeKey(ac.InstanceID, ac.LocationID)] = ac
	}
	return out
}
