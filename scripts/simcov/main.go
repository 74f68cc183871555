// Command simcov reads the Go coverage profile of a simulator sweep (and,
// optionally, the profile of the same packages' own unit tests) and
// reports, per package, the share of statements the sweep reached and every
// statement it never reached, grouped by function, each group marked with
// whether a unit test reaches it instead. It is the reporting half of
// scripts/simcov.sh (docs/testing.md, "Coverage of a sweep"):
//
//	go run ./scripts/simcov --sweep sweep.txt [--unit unit.txt] [--list]
//
// The profiles are in the text format of `go tool covdata textfmt` and
// `go test -coverprofile`.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"os"
	"path"
	"sort"
	"strconv"
	"strings"
)

// module is the import path prefix of this repository's files in a profile.
const module = "github.com/ciphermq/ciphermq/"

// packages are the packages reported, in this order.
var packages = []string{"broker", "broker/wal", "broker/protocol", "clients/engine", "clients/receiver", "clients/inbox"}

// block is one basic block of a profile.
type block struct {
	file               string // path relative to the repository
	startLine, endLine int
	startCol, endCol   int
	stmts              int
}

func (b block) key() string {
	return fmt.Sprintf("%s:%d.%d,%d.%d", b.file, b.startLine, b.startCol, b.endLine, b.endCol)
}

// profile maps a block to whether it was reached.
type profile map[string]bool

type blockSet struct {
	blocks map[string]block
}

func readProfile(name string, blocks *blockSet) (profile, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	p := profile{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if n == 1 && strings.HasPrefix(line, "mode:") {
			continue
		}
		b, count, err := parseLine(line)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", name, n, err)
		}
		if !strings.HasPrefix(b.file, module) {
			continue
		}
		b.file = strings.TrimPrefix(b.file, module)
		k := b.key()
		if blocks != nil {
			blocks.blocks[k] = b
		}
		p[k] = p[k] || count > 0
	}
	return p, sc.Err()
}

// parseLine reads "file:l.c,l.c stmts count".
func parseLine(line string) (block, uint64, error) {
	var b block
	fields := strings.Fields(line)
	if len(fields) != 3 {
		return b, 0, fmt.Errorf("want 3 fields, got %q", line)
	}
	colon := strings.LastIndex(fields[0], ":")
	if colon < 0 {
		return b, 0, fmt.Errorf("no file in %q", line)
	}
	b.file = fields[0][:colon]
	if _, err := fmt.Sscanf(fields[0][colon+1:], "%d.%d,%d.%d", &b.startLine, &b.startCol, &b.endLine, &b.endCol); err != nil {
		return b, 0, fmt.Errorf("position in %q: %w", line, err)
	}
	stmts, err1 := strconv.Atoi(fields[1])
	count, err2 := strconv.ParseUint(fields[2], 10, 64)
	if err1 != nil || err2 != nil {
		return b, 0, fmt.Errorf("counts in %q", line)
	}
	b.stmts = stmts
	return b, count, nil
}

// funcIndex finds the function a line of a file belongs to.
type funcIndex map[string][]funcSpan

type funcSpan struct {
	name       string
	start, end int
}

func (fi funcIndex) lookup(root, file string, line int) string {
	spans, ok := fi[file]
	if !ok {
		fset := token.NewFileSet()
		f, err := parser.ParseFile(fset, path.Join(root, file), nil, parser.SkipObjectResolution)
		if err == nil {
			for _, d := range f.Decls {
				fd, ok := d.(*ast.FuncDecl)
				if !ok {
					continue
				}
				name := fd.Name.Name
				if fd.Recv != nil && len(fd.Recv.List) > 0 {
					name = recvName(fd.Recv.List[0].Type) + "." + name
				}
				spans = append(spans, funcSpan{name, fset.Position(fd.Pos()).Line, fset.Position(fd.End()).Line})
			}
		}
		fi[file] = spans
	}
	for _, s := range spans {
		if line >= s.start && line <= s.end {
			return s.name
		}
	}
	return "(package level)"
}

func recvName(e ast.Expr) string {
	switch t := e.(type) {
	case *ast.StarExpr:
		return recvName(t.X)
	case *ast.IndexExpr:
		return recvName(t.X)
	case *ast.IndexListExpr:
		return recvName(t.X)
	case *ast.Ident:
		return t.Name
	}
	return "?"
}

// group is the never-reached statements of one function.
type group struct {
	file, fn string
	stmts    int
	ranges   []string
	// unitStmts of stmts are reached by the package's unit tests.
	unitStmts int
}

type pkgReport struct {
	name           string
	total, reached int
	unitRescued    int
	groups         []*group
}

func main() {
	sweep := flag.String("sweep", "", "the sweep's profile (go tool covdata textfmt)")
	unit := flag.String("unit", "", "optional: the unit tests' profile of the same packages (go test -coverprofile)")
	root := flag.String("root", ".", "the repository's root, to find functions")
	list := flag.Bool("list", false, "list every never-reached block (file:line.col-line.col) under its function")
	flag.Parse()
	if *sweep == "" {
		fmt.Fprintln(os.Stderr, "simcov: --sweep FILE is required (see scripts/simcov.sh)")
		os.Exit(2)
	}
	bs := &blockSet{blocks: map[string]block{}}
	sw, err := readProfile(*sweep, bs)
	if err != nil {
		fmt.Fprintln(os.Stderr, "simcov:", err)
		os.Exit(1)
	}
	var ut profile
	if *unit != "" {
		if ut, err = readProfile(*unit, nil); err != nil {
			fmt.Fprintln(os.Stderr, "simcov:", err)
			os.Exit(1)
		}
	}
	report(os.Stdout, *root, bs, sw, ut, *list)
}

func report(w io.Writer, root string, bs *blockSet, sw, ut profile, list bool) {
	fi := funcIndex{}
	reps := map[string]*pkgReport{}
	for _, p := range packages {
		reps[p] = &pkgReport{name: p}
	}
	groups := map[string]*group{}
	keys := make([]string, 0, len(bs.blocks))
	for k := range bs.blocks {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		a, b := bs.blocks[keys[i]], bs.blocks[keys[j]]
		if a.file != b.file {
			return a.file < b.file
		}
		return a.startLine < b.startLine || a.startLine == b.startLine && a.startCol < b.startCol
	})
	for _, k := range keys {
		b := bs.blocks[k]
		rep := reps[path.Dir(b.file)]
		if rep == nil || strings.HasSuffix(b.file, "_test.go") {
			continue
		}
		rep.total += b.stmts
		if sw[k] {
			rep.reached += b.stmts
			continue
		}
		fn := fi.lookup(root, b.file, b.startLine)
		gk := b.file + "\x00" + fn
		g := groups[gk]
		if g == nil {
			g = &group{file: b.file, fn: fn}
			groups[gk] = g
			rep.groups = append(rep.groups, g)
		}
		g.stmts += b.stmts
		g.ranges = append(g.ranges, fmt.Sprintf("%d.%d-%d.%d", b.startLine, b.startCol, b.endLine, b.endCol))
		if ut[k] {
			g.unitStmts += b.stmts
			rep.unitRescued += b.stmts
		}
	}
	fmt.Fprintf(w, "%-18s %10s %10s %8s %14s\n", "package", "statements", "reached", "share", "unit-only")
	var tot, reached int
	for _, p := range packages {
		r := reps[p]
		tot += r.total
		reached += r.reached
		fmt.Fprintf(w, "%-18s %10d %10d %7.1f%% %14s\n", p, r.total, r.reached, pct(r.reached, r.total), unitCol(ut, r.unitRescued))
	}
	fmt.Fprintf(w, "%-18s %10d %10d %7.1f%%\n", "all", tot, reached, pct(reached, tot))
	for _, p := range packages {
		r := reps[p]
		if len(r.groups) == 0 {
			continue
		}
		fmt.Fprintf(w, "\n%s: %d statements never reached by the sweep, in %d functions\n", p, r.total-r.reached, len(r.groups))
		for _, g := range r.groups {
			u := ""
			switch {
			case ut == nil:
			case g.unitStmts == g.stmts:
				u = " [unit tests reach all]"
			case g.unitStmts > 0:
				u = fmt.Sprintf(" [unit tests reach %d]", g.unitStmts)
			default:
				u = " [no test reaches]"
			}
			fmt.Fprintf(w, "  %s %s: %d%s\n", path.Base(g.file), g.fn, g.stmts, u)
			if list {
				fmt.Fprintf(w, "      %s\n", strings.Join(g.ranges, " "))
			}
		}
	}
}

func unitCol(ut profile, n int) string {
	if ut == nil {
		return "-"
	}
	return strconv.Itoa(n)
}

func pct(a, b int) float64 {
	if b == 0 {
		return 100
	}
	return 100 * float64(a) / float64(b)
}
