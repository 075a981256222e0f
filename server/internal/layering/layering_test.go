package layering

import (
	"fmt"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// A rule forbids some importers some imports. Packages are named by their
// directory from the module root ("server/internal/api"); "x/..." is x and
// every package below it, as in go's own patterns. Imports inside the
// module are named the same way; others by their import path ("net/http").
// Rules hold for the code that ships: tests may reach what they check.
type rule struct {
	why string
	// importers the rule applies to; empty: every package.
	importers []string
	// except are importers (packages, or single files such as
	// "server/internal/daemon/open.go") the rule leaves alone for good.
	except    []string
	forbidden []string
}

// allowance is a violation tolerated for now: one file importing one
// package. An allowance that matches nothing fails the test, so that it
// is removed with the import.
type allowance struct {
	file, imports, why string
}

// domain is the code that holds Wicket's rules, free of transport and
// generated code.
var domain = []string{"server/internal/service/...", "server/internal/session/...", "server/internal/replica/...", "server/internal/mfa/...", "server/internal/ipam/..."}

// drivers are the packages that run a WireGuard device for a gateway. A
// driver is told peer sets and reports statistics; it knows nothing of
// sessions, the domain, the store or the wire format, so the embedded and
// the remote gateway drive it alike. Rename or add packages here when the
// driver moves.
var drivers = []string{"server/internal/gateway", "server/internal/peers", "shared/uapi"}

var rules = []rule{
	{
		why:       "only the domain (service, session) reads and writes the store; the daemon opens it, the test harness hands it to tests",
		forbidden: []string{"server/internal/store/..."},
		except: []string{
			"server/internal/store/...", "server/internal/service/...", "server/internal/session/...", "server/internal/replica/...",
			"server/internal/daemon/open.go", "server/internal/servertest/...",
		},
	},
	{
		why:       "the API and the web pages go through package service, never around it to the store",
		importers: []string{"server/internal/api/...", "server/internal/web/..."},
		forbidden: []string{"server/internal/store/..."},
	},
	{
		why:       "the desktop client talks to the server over the API only",
		importers: []string{"client/..."},
		forbidden: []string{"server/..."},
	},
	{
		why:       "the domain imports no generated code; api translates",
		importers: domain,
		forbidden: []string{"proto/gen/..."},
	},
	{
		why:       "the domain imports no net/http; api and web serve it",
		importers: domain,
		forbidden: []string{"net/http/..."},
	},
	{
		why:       "a gateway driver knows peers and statistics, not the domain, the store or the wire format",
		importers: drivers,
		forbidden: []string{"server/internal/service/...", "server/internal/session/...", "server/internal/store/...", "proto/gen/..."},
	},
}

var allowances = []allowance{
	// ipam assigns an address inside the caller's transaction (*store.Q);
	// session calls it so, and session changes with the typed peers.
	{"server/internal/ipam/ipam.go", "server/internal/store", "ipam hands out addresses inside the domain's transaction (*store.Q)"},
}

func TestLayering(t *testing.T) {
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	files, err := readImports(root)
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatalf("no Go files under %s", root)
	}
	violations, unused := check(files, rules, allowances)
	for _, v := range violations {
		t.Error(v)
	}
	for _, a := range unused {
		t.Errorf("%s no longer imports %s: remove its allowance (%s)", a.file, a.imports, a.why)
	}
}

// TestCheckFindsViolations keeps the checker honest: each rule catches
// what it is about, while the files it excepts, allowances and tests pass.
func TestCheckFindsViolations(t *testing.T) {
	files := []file{
		{path: "server/internal/web/users.go", imports: []string{"server/internal/store", "server/internal/service"}},
		{path: "server/internal/daemon/open.go", imports: []string{"server/internal/store"}},
		{path: "server/internal/daemon/daemon.go", imports: []string{"server/internal/store"}},
		{path: "server/internal/demo/seed_test.go", test: true, imports: []string{"server/internal/store"}},
		{path: "client/internal/core/core.go", imports: []string{"server/internal/fault"}},
		{path: "client/cli_test.go", test: true, imports: []string{"server/internal/servertest"}},
		{path: "server/internal/mfa/totp.go", imports: []string{"net/http/httptest", "proto/gen/wicket/v1"}},
		{path: "server/internal/gateway/device.go", imports: []string{"server/internal/session", "shared/wgkey"}},
		{path: "server/internal/gateway/gatewaytest/client.go", imports: []string{"proto/gen/wicket/v1"}},
	}
	violations, unused := check(files, rules, []allowance{
		{"server/internal/gateway/device.go", "server/internal/session", "test"},
		{"server/internal/gateway/gone.go", "server/internal/service", "test"},
	})
	want := []string{
		"server/internal/web/users.go imports server/internal/store",     // two rules
		"server/internal/web/users.go imports server/internal/store",     // two rules
		"server/internal/daemon/daemon.go imports server/internal/store", // only open.go opens it
		"client/internal/core/core.go imports server/internal/fault",
		"server/internal/mfa/totp.go imports net/http/httptest",
		"server/internal/mfa/totp.go imports proto/gen/wicket/v1",
	}
	var got []string
	for _, v := range violations {
		got = append(got, v[:strings.Index(v, ":")])
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("violations:\n%s\nwant:\n%s", strings.Join(violations, "\n"), strings.Join(want, "\n"))
	}
	if len(unused) != 1 || unused[0].file != "server/internal/gateway/gone.go" {
		t.Errorf("unused allowances %v, want the one for gone.go", unused)
	}
}

// file is one Go file's imports, named as rules name them.
type file struct {
	path    string // from the module root, with forward slashes
	test    bool
	imports []string
}

func (f file) pkg() string { return path.Dir(f.path) }

func check(files []file, rules []rule, allowed []allowance) (violations []string, unused []allowance) {
	used := make([]bool, len(allowed))
	for _, f := range files {
		if f.test {
			continue
		}
		for _, r := range rules {
			if len(r.importers) > 0 && !matchesAny(f.pkg(), r.importers) {
				continue
			}
			if matchesAny(f.pkg(), r.except) || slices.Contains(r.except, f.path) {
				continue
			}
			for _, imp := range f.imports {
				if !matchesAny(imp, r.forbidden) {
					continue
				}
				if i := slices.IndexFunc(allowed, func(a allowance) bool { return a.file == f.path && a.imports == imp }); i >= 0 {
					used[i] = true
					continue
				}
				violations = append(violations, fmt.Sprintf("%s imports %s: %s", f.path, imp, r.why))
			}
		}
	}
	for i, a := range allowed {
		if !used[i] {
			unused = append(unused, a)
		}
	}
	return violations, unused
}

func matchesAny(name string, patterns []string) bool {
	for _, p := range patterns {
		if base, ok := strings.CutSuffix(p, "/..."); ok {
			if name == base || strings.HasPrefix(name, base+"/") {
				return true
			}
		} else if name == p {
			return true
		}
	}
	return false
}

// moduleRoot finds the go.mod above the test's directory.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod above the test")
		}
		dir = parent
	}
}

// readImports parses the imports of every Go file of the module at root,
// on every platform (build constraints are not applied: an import in a
// _windows.go file counts). Other modules inside it (tools/), testdata and
// hidden directories are skipped. Imports of the module's own packages are
// made relative to its root.
func readImports(root string) ([]file, error) {
	modPath, err := modulePath(filepath.Join(root, "go.mod"))
	if err != nil {
		return nil, err
	}
	fset := token.NewFileSet()
	var files []file
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			name := d.Name()
			if p != root && (name == "testdata" || name == "vendor" || strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_")) {
				return filepath.SkipDir
			}
			if _, err := os.Stat(filepath.Join(p, "go.mod")); p != root && err == nil {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(p, ".go") {
			return nil
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		f, err := parser.ParseFile(fset, p, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		out := file{path: filepath.ToSlash(rel), test: strings.HasSuffix(p, "_test.go")}
		for _, spec := range f.Imports {
			imp, err := strconv.Unquote(spec.Path.Value)
			if err != nil {
				return fmt.Errorf("%s: %w", rel, err)
			}
			if imp == modPath {
				imp = "."
			} else if rest, ok := strings.CutPrefix(imp, modPath+"/"); ok {
				imp = rest
			}
			out.imports = append(out.imports, imp)
		}
		files = append(files, out)
		return nil
	})
	return files, err
}

func modulePath(goMod string) (string, error) {
	b, err := os.ReadFile(goMod)
	if err != nil {
		return "", err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(line), "module "); ok {
			return strings.Trim(strings.TrimSpace(rest), `"`), nil
		}
	}
	return "", fmt.Errorf("%s names no module", goMod)
}
