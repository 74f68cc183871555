// Package layering states which of CipherMQ's packages may import which,
// and checks it. The rules and the reasons for them are in
// docs/architecture.md ("Packages and imports"); TestLayering (in this
// package) runs the check over the module as `go list` reports it, so a
// violation fails `go test ./...`.
//
// What is checked:
//
//   - every package of the module belongs to exactly one layer of Layers
//     (a new package must be placed before its first test run passes);
//   - every import between two packages of the module is an arrow the
//     importer's layer allows (Layer.MayImport);
//   - a core (layer "core") imports nothing of the standard library that
//     reaches the network, the file system, processes, the scheduler or
//     global randomness (CoreForbidden), and no module outside the
//     standard library but those in CoreThirdParty;
//   - the Go source of a core neither starts goroutines (a go statement),
//     nor reads or waits on the clock (time.Now, time.Since, time.Sleep,
//     timers, tickers: CoreForbiddenCalls), nor logs through the default
//     logger (slog.Info, slog.Default, ...).
//
// What is not checked: imports of test files (tests are drivers of their
// own); what the standard library's packages import in turn (fmt alone
// brings os, syscall and io/fs into every closure, so the rule is on a
// core's own imports, applied to every module package in its closure since
// those are all cores); calls reached through a value (a func or interface
// the driver passed in: that is how time and randomness are meant to come
// in); and nondeterminism that needs no import, such as map iteration order
// deciding an output (the simulator's same-seed-same-hash tests cover it).
// The time package itself is allowed in a core for its types (time.Time,
// time.Duration), only its clock-reading functions are refused.
package layering

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// Layer is a set of packages (paths relative to the module) and the layers
// they may import.
type Layer struct {
	Name      string
	Packages  []string
	MayImport []string // layer names; a layer imports itself only if listed
	Why       string
}

// Layers is the table of docs/architecture.md, lowest first.
var Layers = []Layer{
	{
		Name: "core",
		Packages: []string{"broker/wire", "broker/record", "broker", "broker/access", "broker/audit",
			"broker/protocol", "broker/driver", "clients/engine", "clients/envelope"},
		MayImport: []string{"core"},
		Why: "deterministic state machines: the simulator runs them as they are, so they " +
			"touch no socket, file, clock or goroutine and import nothing that does",
	},
	{
		Name: "support",
		Packages: []string{"broker/wal", "broker/wire/wiretest", "clients/inbox", "clients/receiver", "clients/receiver/receivertest",
			"clients/keyfile", "internal/check", "internal/trywrite", "internal/tlsgen", "internal/termline",
			"internal/testutil", "internal/userfile", "faults", "faults/proxy"},
		MayImport: []string{"core", "support"},
		Why: "one job each beside the cores (the durable log, the receiver's store and its " +
			"exactly-once receiver, key files, the history checker, fault plans): they may touch " +
			"files but hold no connection and know nothing of who drives them",
	},
	{
		Name:      "driver",
		Packages:  []string{"broker/server", "clients"},
		MayImport: []string{"core", "support"},
		Why: "the real drivers of the cores (sockets, TLS, goroutines, timers); the server " +
			"and the client library do not import each other",
	},
	{
		Name:      "app",
		Packages:  []string{"clients/receiver/runner", "clients/sender", "clients/dlq", "broker/ops", "broker/mgmt", "broker/mgmt/mgmtclient"},
		MayImport: []string{"core", "support", "driver"},
		Why: "programs built on a driver: the receiver's consume loop, the send loop and the " +
			"dead-letter tools on the client library, the operations endpoint (metrics) and the management API and " +
			"console on the server, and that API's HTTP client",
	},
	{
		Name:      "sim",
		Packages:  []string{"sim"},
		MayImport: []string{"core", "support"},
		Why: "the deterministic driver: it runs the cores over simulated links and disks, " +
			"so it must not reach a real driver (sockets, goroutines, timers)",
	},
	{
		Name: "harness",
		Packages: []string{"scenarios/realworld", "scenarios/durable", "bench", "demo", "internal/testbroker",
			"internal/layering", "broker/mgmt/mgmttest", "scenarios/crossbroker"},
		MayImport: []string{"core", "support", "driver", "app", "sim", "harness"},
		Why: "tests, benchmarks and the demo over real processes and real sockets; test helpers may " +
			"build on each other (broker/mgmt/mgmttest on internal/testbroker)",
	},
	{
		Name:      "report",
		Packages:  []string{"sim/simreport"},
		MayImport: []string{"core", "support", "sim"},
		Why: "what the simulator command runs and prints: the simulator's findings sorted into " +
			"one verdict per invariant, seed and sweep reports, the mutation catalogue; " +
			"it drives the deterministic simulator only, never a socket or a real process",
	},
	{
		Name:      "cmd",
		Packages:  []string{"cmd/ciphermq", "scripts/memflood", "scripts/simcov"},
		MayImport: []string{"core", "support", "driver", "app", "sim", "harness", "report"},
		Why:       "flags and wiring",
	},
}

// KnownViolations are arrows that break the table today, each with the
// issue that removes it. The check fails on any other violation, and also
// when a listed one has gone (so the list cannot go stale).
// None today; an entry reads "importer -> imported": "why, and the issue".
var KnownViolations = map[string]string{}

// CoreForbidden are standard library packages a core must not import
// (a trailing "/" forbids the package and everything under it).
var CoreForbidden = []string{
	"net", "net/", "crypto/tls", // networking
	"os", "os/", "io/fs", "io/ioutil", "path/filepath", "syscall", "embed", // files, processes
	"runtime", "runtime/", "sync", "sync/", "context", // scheduler, goroutines, locks
	"math/rand", "math/rand/", // global randomness (the driver passes a generator in)
	"log", // the standard logger writes to a global
}

// CoreStdExceptions lets one core import one otherwise forbidden package,
// keyed "core import" (for example "broker/wire os"), with the reason.
var CoreStdExceptions = map[string]string{
	"broker/audit context": "context.Background() only as the argument slog.Logger.Log and Enabled take; no cancellation, no goroutine",
}

// CoreThirdParty are the modules outside the standard library a core may
// import, with the reason.
var CoreThirdParty = map[string]string{
	"golang.org/x/crypto/argon2": "broker/access hashes passwords; a pure function (the driver decides where it runs)",
}

// CoreForbiddenCalls are package-level functions a core's source must not
// call (import path, function).
var CoreForbiddenCalls = map[string][]string{
	"time":     {"Now", "Since", "Until", "Sleep", "After", "AfterFunc", "NewTimer", "NewTicker", "Tick"},
	"log/slog": {"Default", "SetDefault", "Debug", "DebugContext", "Info", "InfoContext", "Warn", "WarnContext", "Error", "ErrorContext", "Log", "LogAttrs"},
}

// Package is what the check needs of one package of the module.
type Package struct {
	Path    string   // relative to the module
	Imports []string // full import paths, test files excluded
	Sources []Source // non-test Go files, for the source rules of cores
}

// Source is one Go file.
type Source struct {
	Name string
	Text []byte
}

// Violation is one broken rule.
type Violation struct {
	Package string
	Rule    string // "arrow", "unplaced", "core import", "core call", "go statement", "parse"
	Detail  string
}

// Key identifies an arrow violation in KnownViolations.
func (v Violation) Key() string { return v.Package + " -> " + v.Detail }

func (v Violation) String() string { return v.Package + ": " + v.Rule + ": " + v.Detail }

// Check applies the rules to pkgs (module is the module path; imports
// under it are the module's own). It returns every violation, in order.
func Check(module string, pkgs []Package, layers []Layer) []Violation {
	layerOf := map[string]*Layer{}
	for i := range layers {
		for _, p := range layers[i].Packages {
			layerOf[p] = &layers[i]
		}
	}
	var vs []Violation
	for _, p := range pkgs {
		l := layerOf[p.Path]
		if l == nil {
			vs = append(vs, Violation{p.Path, "unplaced", "not in any layer of the table"})
			continue
		}
		for _, imp := range p.Imports {
			rel, own := strings.CutPrefix(imp, module+"/")
			switch {
			case own:
				tl := layerOf[rel]
				if tl == nil {
					continue // reported as unplaced on its own
				}
				if !slices.Contains(l.MayImport, tl.Name) {
					vs = append(vs, Violation{p.Path, "arrow", rel})
				}
			case l.Name == "core" && isStd(imp):
				if forbidden(imp) {
					if _, ok := CoreStdExceptions[p.Path+" "+imp]; !ok {
						vs = append(vs, Violation{p.Path, "core import", imp})
					}
				}
			case l.Name == "core":
				if _, ok := CoreThirdParty[imp]; !ok {
					vs = append(vs, Violation{p.Path, "core import", imp + " (outside the standard library)"})
				}
			}
		}
		if l.Name == "core" {
			for _, s := range p.Sources {
				vs = append(vs, checkSource(p.Path, s)...)
			}
		}
	}
	sort.SliceStable(vs, func(i, j int) bool { return vs[i].Package < vs[j].Package })
	return vs
}

func isStd(path string) bool {
	first, _, _ := strings.Cut(path, "/")
	return !strings.Contains(first, ".")
}

func forbidden(imp string) bool {
	for _, f := range CoreForbidden {
		if prefix, ok := strings.CutSuffix(f, "/"); ok {
			if strings.HasPrefix(imp, prefix+"/") {
				return true
			}
		} else if imp == f {
			return true
		}
	}
	return false
}

// checkSource finds go statements and calls of CoreForbiddenCalls.
func checkSource(pkg string, s Source) []Violation {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, s.Name, s.Text, parser.SkipObjectResolution)
	if err != nil {
		return []Violation{{pkg, "parse", err.Error()}}
	}
	names := map[string]string{} // local name -> import path, for watched imports
	for _, is := range f.Imports {
		path, _ := strconv.Unquote(is.Path.Value)
		if _, ok := CoreForbiddenCalls[path]; !ok {
			continue
		}
		name := path[strings.LastIndex(path, "/")+1:]
		if is.Name != nil {
			name = is.Name.Name
		}
		names[name] = path
	}
	var vs []Violation
	ast.Inspect(f, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.GoStmt:
			vs = append(vs, Violation{pkg, "go statement", fset.Position(n.Pos()).String()})
		case *ast.SelectorExpr:
			id, ok := n.X.(*ast.Ident)
			if !ok {
				return true
			}
			path, ok := names[id.Name]
			if ok && slices.Contains(CoreForbiddenCalls[path], n.Sel.Name) {
				vs = append(vs, Violation{pkg, "core call", fmt.Sprintf("%s.%s at %s", path, n.Sel.Name, fset.Position(n.Pos()))})
			}
		}
		return true
	})
	return vs
}
