package layering

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// loadModule lists the module's packages the way the docs do:
// go list -json ./... from the module root (test files excluded from
// Imports and GoFiles).
func loadModule(t *testing.T) (string, []Package) {
	t.Helper()
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("the go command is not on PATH, so the module cannot be listed (CI runs go test with it)")
	}
	out, err := exec.Command(gobin, "env", "GOMOD").Output()
	if err != nil || len(bytes.TrimSpace(out)) == 0 {
		t.Fatalf("go env GOMOD: %v %s", err, out)
	}
	root := filepath.Dir(string(bytes.TrimSpace(out)))
	cmd := exec.Command(gobin, "list", "-e", "-json=ImportPath,Dir,GoFiles,Imports,Module,Error", "./...")
	cmd.Dir = root
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err = cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.String())
	}
	var module string
	var pkgs []Package
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p struct {
			ImportPath string
			Dir        string
			GoFiles    []string
			Imports    []string
			Module     *struct{ Path string }
			Error      *struct{ Err string }
		}
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		if p.Error != nil {
			t.Fatalf("go list %s: %s", p.ImportPath, p.Error.Err)
		}
		if p.Module == nil {
			t.Fatalf("go list: %s has no module", p.ImportPath)
		}
		module = p.Module.Path
		rel := strings.TrimPrefix(p.ImportPath, module+"/")
		if p.ImportPath == module {
			rel = "."
		}
		pkg := Package{Path: rel, Imports: p.Imports}
		for _, f := range p.GoFiles {
			text, err := os.ReadFile(filepath.Join(p.Dir, f))
			if err != nil {
				t.Fatal(err)
			}
			pkg.Sources = append(pkg.Sources, Source{Name: filepath.Join(rel, f), Text: text})
		}
		pkgs = append(pkgs, pkg)
	}
	if len(pkgs) < 10 {
		t.Fatalf("go list found only %d packages: is this the module root?", len(pkgs))
	}
	return module, pkgs
}

// TestLayering: the module follows the table of docs/architecture.md, apart
// from the violations KnownViolations lists (each must still occur).
func TestLayering(t *testing.T) {
	module, pkgs := loadModule(t)
	seen := map[string]bool{}
	for _, v := range Check(module, pkgs, Layers) {
		if v.Rule == "arrow" {
			if _, ok := KnownViolations[v.Key()]; ok {
				seen[v.Key()] = true
				continue
			}
		}
		t.Errorf("%s", v)
	}
	for k, why := range KnownViolations {
		if !seen[k] {
			t.Errorf("known violation %q (%s) no longer occurs: remove it from KnownViolations and docs/architecture.md", k, why)
		}
	}
	// Every package of the table exists, so a rename cannot leave a stale row.
	listed := map[string]bool{}
	for _, p := range pkgs {
		listed[p.Path] = true
	}
	for _, l := range Layers {
		for _, p := range l.Packages {
			if !listed[p] {
				t.Errorf("layer %s names %s, which go list does not report", l.Name, p)
			}
		}
	}
}

// TestLayersAreATable: each package is in one layer, and every layer a
// layer may import exists.
func TestLayersAreATable(t *testing.T) {
	where := map[string]string{}
	names := map[string]bool{}
	for _, l := range Layers {
		names[l.Name] = true
	}
	for _, l := range Layers {
		for _, p := range l.Packages {
			if w, ok := where[p]; ok {
				t.Errorf("%s is in layers %s and %s", p, w, l.Name)
			}
			where[p] = l.Name
		}
		for _, m := range l.MayImport {
			if !names[m] {
				t.Errorf("layer %s may import unknown layer %s", l.Name, m)
			}
		}
	}
}

const mod = "example.com/m"

// TestCheckerCatchesPlantedViolations runs the checker on a synthetic
// module with one violation of every kind, and on the same module without
// them.
func TestCheckerCatchesPlantedViolations(t *testing.T) {
	layers := []Layer{
		{Name: "core", Packages: []string{"broker", "broker/wire"}, MayImport: []string{"core"}},
		{Name: "io", Packages: []string{"broker/wal"}, MayImport: []string{"core", "io"}},
		{Name: "driver", Packages: []string{"broker/server"}, MayImport: []string{"core", "io"}},
		{Name: "sim", Packages: []string{"sim"}, MayImport: []string{"core", "io"}},
	}
	clean := `package broker

import (
	"log/slog"
	"time"
)

type Core struct {
	now time.Time
	log *slog.Logger
}

func (c *Core) Tick(now time.Time) { c.now = now; c.log.Info("tick", "after", time.Duration(1)) }
`
	good := []Package{
		{Path: "broker", Imports: []string{"fmt", "time", "log/slog", mod + "/broker/wire"}, Sources: []Source{{"broker/core.go", []byte(clean)}}},
		{Path: "broker/wire", Imports: []string{"bufio", "encoding/binary"}},
		{Path: "broker/wal", Imports: []string{"os", "sync", mod + "/broker"}},
		{Path: "broker/server", Imports: []string{"net", "crypto/tls", mod + "/broker", mod + "/broker/wal"}},
		{Path: "sim", Imports: []string{"math/rand/v2", mod + "/broker", mod + "/broker/wal"}},
	}
	if vs := Check(mod, good, layers); len(vs) != 0 {
		t.Fatalf("clean module reported: %v", vs)
	}

	dirty := `package broker

import (
	"log/slog"
	clock "time"
)

func (c *Core) Tick() {
	go c.loop()
	c.now = clock.Now()
	slog.Info("tick")
	f := clock.Since
	_ = f
}
`
	bad := slices.Clone(good)
	bad[0] = Package{Path: "broker", Sources: []Source{{"broker/core.go", []byte(dirty)}},
		Imports: []string{"time", "net/http", "os", "sync/atomic", "github.com/x/y", mod + "/broker/wal"}}
	bad[4] = Package{Path: "sim", Imports: []string{mod + "/broker/server"}}
	bad = append(bad, Package{Path: "newpkg", Imports: []string{"fmt"}},
		Package{Path: "broker/wire", Sources: []Source{{"broker/wire/x.go", []byte("package wire\nfunc {")}}})
	var got []string
	for _, v := range Check(mod, bad, layers) {
		got = append(got, v.Rule+" "+v.Package+" "+strings.Fields(v.Detail)[0])
	}
	want := []string{
		"core import broker net/http",
		"core import broker os",
		"core import broker sync/atomic",
		"core import broker github.com/x/y",
		"arrow broker broker/wal",
		"go statement broker broker/core.go:9:2",
		"core call broker time.Now",
		"core call broker log/slog.Info",
		"core call broker time.Since",
		"parse broker/wire broker/wire/x.go:2:6:",
		"unplaced newpkg not",
		"arrow sim broker/server",
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("violations\n got %q\nwant %q", got, want)
	}
}
