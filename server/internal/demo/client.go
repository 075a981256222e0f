package demo

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
)

// client runs the desktop client's binary on the demo's config folder, the
// way a person would from a terminal.
type client struct {
	bin       string
	configDir string
	env       []string
	out       io.Writer // the terminal, for what the client prints
}

func (c *client) command(ctx context.Context, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, c.bin, append([]string{"--config-dir", c.configDir}, args...)...)
	env := os.Environ()
	// The window's toolkit cannot parse the C locale (C.UTF-8 included)
	// and says so on every start; a language it knows keeps the demo's
	// output clean. Only the messages' language is affected.
	if isCLocale(os.Getenv("LC_ALL")) && isCLocale(os.Getenv("LC_MESSAGES")) && isCLocale(os.Getenv("LANG")) {
		env = append(env, "LANG=en_US.UTF-8")
		if os.Getenv("LC_ALL") != "" {
			env = append(env, "LC_ALL=en_US.UTF-8")
		}
	}
	cmd.Env = append(env, c.env...)
	return cmd
}

func isCLocale(l string) bool {
	base, _, _ := strings.Cut(l, ".")
	return base == "" || base == "C" || base == "POSIX"
}

// run runs a short command and returns its standard output; errors carry
// what it printed on standard error.
func (c *client) run(ctx context.Context, args ...string) (string, error) {
	cmd := c.command(ctx, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if msg == "" {
			msg = err.Error()
		}
		return stdout.String(), fmt.Errorf("wicket %s: %s", args[0], msg)
	}
	return stdout.String(), nil
}

// enrolledWith reports whether the client already has an instance at url.
func (c *client) enrolledWith(ctx context.Context, url string) (bool, error) {
	out, err := c.run(ctx, "status", "--offline", "--json")
	if err != nil {
		return false, err
	}
	var st struct {
		Instances []struct {
			URL string `json:"url"`
		} `json:"instances"`
	}
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		return false, fmt.Errorf("wicket status --json printed something else than JSON: %v", err)
	}
	for _, in := range st.Instances {
		if in.URL == url {
			return true, nil
		}
	}
	return false, nil
}

// prefixWriter copies lines to w with a prefix, so the client's output
// stands apart from the server's log.
type prefixWriter struct {
	mu     *sync.Mutex
	w      io.Writer
	prefix string
	onLine func(string)
	buf    []byte
}

func (p *prefixWriter) Write(b []byte) (int, error) {
	p.buf = append(p.buf, b...)
	for {
		i := bytes.IndexByte(p.buf, '\n')
		if i < 0 {
			break
		}
		line := string(p.buf[:i])
		p.buf = p.buf[i+1:]
		p.mu.Lock()
		fmt.Fprintf(p.w, "%s%s\n", p.prefix, line)
		p.mu.Unlock()
		if p.onLine != nil {
			p.onLine(line)
		}
	}
	// A prompt has no newline; show it at once.
	if len(p.buf) > 0 && !bytes.ContainsRune(p.buf, '\n') && bytes.HasSuffix(p.buf, []byte(": ")) {
		p.mu.Lock()
		fmt.Fprintf(p.w, "%s%s", p.prefix, p.buf)
		p.mu.Unlock()
		p.buf = p.buf[:0]
	}
	return len(b), nil
}
