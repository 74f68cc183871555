package wire_test

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/ciphermq/ciphermq/broker/wire"
)

// mdTable returns the rows (cells trimmed, header and separator dropped) of
// the first Markdown table under the heading (any level: "## ", "### ")
// that starts with heading, before the next heading.
func mdTable(doc, heading string) ([][]string, error) {
	lines := strings.Split(doc, "\n")
	isHeading := func(l string) bool {
		return strings.HasPrefix(strings.TrimLeft(l, "#"), " ") && strings.HasPrefix(l, "#")
	}
	i := 0
	for ; i < len(lines); i++ {
		if isHeading(lines[i]) && strings.HasPrefix(strings.TrimSpace(strings.TrimLeft(lines[i], "#")), heading) {
			break
		}
	}
	if i == len(lines) {
		return nil, fmt.Errorf("no section %q", heading)
	}
	for i++; i < len(lines) && !strings.HasPrefix(lines[i], "|"); i++ {
		if isHeading(lines[i]) {
			return nil, fmt.Errorf("section %q has no table", heading)
		}
	}
	var rows [][]string
	for n := 0; i < len(lines) && strings.HasPrefix(lines[i], "|"); i, n = i+1, n+1 {
		if n < 2 { // header, separator
			continue
		}
		cells := strings.Split(strings.Trim(strings.TrimSpace(lines[i]), "|"), "|")
		for j := range cells {
			cells[j] = strings.TrimSpace(cells[j])
		}
		rows = append(rows, cells)
	}
	return rows, nil
}

func featureCell(bits uint64) string {
	if bits == 0 {
		return ""
	}
	var parts []string
	for b := 0; b < 64; b++ {
		if bits&(1<<b) != 0 {
			parts = append(parts, "bit "+strconv.Itoa(b))
		}
	}
	return strings.Join(parts, ", ")
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// frameRows renders the catalogue as docs/protocol.md §4 prints it.
func frameRows(fs []wire.FrameInfo) map[string][]string {
	m := make(map[string][]string, len(fs))
	for _, f := range fs {
		key := fmt.Sprintf("`0x%02X`", uint8(f.Type))
		m[key] = []string{key, f.Name, f.Dir.String(), f.AnsweredBy, featureCell(f.Feature)}
	}
	return m
}

// codeRows renders the catalogue as docs/protocol.md §10 prints it.
func codeRows(cs []wire.ReasonCode) map[string][]string {
	m := make(map[string][]string, len(cs))
	for _, c := range cs {
		key := strconv.Itoa(int(c.Code))
		m[key] = []string{key, c.Name, c.Meaning, c.Fatal, yesNo(c.Resend)}
	}
	return m
}

// reasonRow is one reject reason as docs/protocol.md §5b prints it.
type reasonRow struct {
	code          int
	name, meaning string
}

// reasons is the reject reason table of broker/wire, "unknown" (0) included.
func reasons() []reasonRow {
	var rs []reasonRow
	for _, r := range append([]wire.RejectReason{wire.ReasonNone}, wire.RejectReasons()...) {
		rs = append(rs, reasonRow{int(r), r.String(), r.Meaning()})
	}
	return rs
}

func reasonRows(rs []reasonRow) map[string][]string {
	m := make(map[string][]string, len(rs))
	for _, r := range rs {
		key := strconv.Itoa(r.code)
		m[key] = []string{key, "`" + r.name + "`", r.meaning}
	}
	return m
}

// tableDiff lists every disagreement between a document's rows and the
// catalogue's: rows missing on either side, rows that differ, rows twice.
func tableDiff(what string, doc [][]string, want map[string][]string) []string {
	var diffs []string
	seen := map[string]bool{}
	for _, row := range doc {
		key := row[0]
		if seen[key] {
			diffs = append(diffs, fmt.Sprintf("%s %s: listed twice in the doc", what, key))
			continue
		}
		seen[key] = true
		w, ok := want[key]
		if !ok {
			diffs = append(diffs, fmt.Sprintf("%s %s: in the doc, not in the catalogue", what, key))
			continue
		}
		if strings.Join(row, " | ") != strings.Join(w, " | ") {
			diffs = append(diffs, fmt.Sprintf("%s %s:\n  doc:       %q\n  catalogue: %q", what, key, row, w))
		}
	}
	for key := range want {
		if !seen[key] {
			diffs = append(diffs, fmt.Sprintf("%s %s: in the catalogue, missing from the doc", what, key))
		}
	}
	return diffs
}

func docDiffs(doc string, fs []wire.FrameInfo, cs []wire.ReasonCode, rs []reasonRow) ([]string, error) {
	frames, err := mdTable(doc, "4. Frame types")
	if err != nil {
		return nil, err
	}
	codes, err := mdTable(doc, "10. Errors and codes")
	if err != nil {
		return nil, err
	}
	rejects, err := mdTable(doc, "5b. Reject reasons")
	if err != nil {
		return nil, err
	}
	diffs := tableDiff("frame", frames, frameRows(fs))
	diffs = append(diffs, tableDiff("code", codes, codeRows(cs))...)
	return append(diffs, tableDiff("reject reason", rejects, reasonRows(rs))...), nil
}

// TestCatalogueMatchesProtocolDoc: docs/protocol.md's frame table (§4), code
// table (§10) and reject reason table (§5b) say what the catalogue and
// wire.RejectReason say, row for row.
func TestCatalogueMatchesProtocolDoc(t *testing.T) {
	b, err := os.ReadFile("../../docs/protocol.md")
	if err != nil {
		t.Fatal(err)
	}
	diffs, err := docDiffs(string(b), wire.Frames(), wire.Codes(), reasons())
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range diffs {
		t.Error(d)
	}
}

// TestCatalogueDocCheckFails: the comparison above reports a missing frame,
// a missing code, a missing reject reason, a changed name, a changed
// meaning, an extra row and a changed feature bit (so a drifted doc cannot
// pass it).
func TestCatalogueDocCheckFails(t *testing.T) {
	b, err := os.ReadFile("../../docs/protocol.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	type tables struct {
		fs []wire.FrameInfo
		cs []wire.ReasonCode
		rs []reasonRow
	}
	edits := map[string]func(t *tables){
		"frame missing from the doc": func(t *tables) {
			t.fs = append(t.fs, wire.FrameInfo{Type: 0x7F, Name: "New", Dir: wire.BothWays})
		},
		"code missing from the doc": func(t *tables) {
			t.cs = append(t.cs, wire.ReasonCode{Code: 700, Name: "New", Meaning: "new", Fatal: "no"})
		},
		"frame only in the doc":         func(t *tables) { t.fs = t.fs[1:] },
		"renamed frame":                 func(t *tables) { t.fs[0].Name = "Helo" },
		"code only in the doc":          func(t *tables) { t.cs = t.cs[:len(t.cs)-1] },
		"changed meaning":               func(t *tables) { t.cs[len(t.cs)-1].Meaning += "." },
		"changed feature bit":           func(t *tables) { t.fs[len(t.fs)-1].Feature = wire.FeatureAuth },
		"changed resend":                func(t *tables) { t.cs[0].Resend = true },
		"reject reason missing":         func(t *tables) { t.rs = append(t.rs, reasonRow{18, "new", "new"}) },
		"reject reason only in the doc": func(t *tables) { t.rs = t.rs[:len(t.rs)-1] },
		"renamed reject reason":         func(t *tables) { t.rs[1].name = "not-a-recipient" },
		"changed reason meaning":        func(t *tables) { t.rs[3].meaning += "." },
	}
	for name, edit := range edits {
		tb := tables{wire.Frames(), wire.Codes(), reasons()}
		edit(&tb)
		diffs, err := docDiffs(doc, tb.fs, tb.cs, tb.rs)
		if err != nil {
			t.Fatal(err)
		}
		if len(diffs) != 1 {
			t.Errorf("%s: want exactly 1 disagreement, got %d: %q", name, len(diffs), diffs)
		}
	}
	if _, err := docDiffs("# no tables here\n", wire.Frames(), wire.Codes(), reasons()); err == nil {
		t.Error("a document without the sections passed")
	}
	noReasons := strings.Replace(doc, "### 5b. Reject reasons", "### 5b. Something else", 1)
	if _, err := docDiffs(noReasons, wire.Frames(), wire.Codes(), reasons()); err == nil {
		t.Error("a document without the reject reason section passed")
	}
}

// TestCatalogueCoversTheCodec: every type byte is in the catalogue exactly
// when the codec defines a frame for it, under the struct's own type, and
// the catalogue's helpers agree with it.
func TestCatalogueCoversTheCodec(t *testing.T) {
	inCat := map[wire.FrameType]wire.FrameInfo{}
	prev := -1
	for _, f := range wire.Frames() {
		if int(f.Type) <= prev {
			t.Errorf("catalogue not in numeric order at %s", f.Name)
		}
		prev = int(f.Type)
		inCat[f.Type] = f
	}
	for b := 0; b < 256; b++ {
		typ := wire.FrameType(b)
		f, ok := wire.LookupFrame(typ)
		if _, in := inCat[typ]; ok != in || typ.Known() != in {
			t.Errorf("0x%02x: LookupFrame %v, Known %v, in catalogue %v", b, ok, typ.Known(), in)
		}
		fr := wire.NewFrame(typ)
		if (fr != nil) != ok {
			t.Errorf("0x%02x: NewFrame gives %T, catalogue has it: %v", b, fr, ok)
			continue
		}
		if !ok {
			continue
		}
		if fr.FrameType() != typ || typ.String() != f.Name {
			t.Errorf("0x%02x: struct type %v, name %q vs catalogue %q", b, fr.FrameType(), typ.String(), f.Name)
		}
		if !f.Dir.ClientSends() && !f.Dir.ServerSends() {
			t.Errorf("%s: no direction", f.Name)
		}
	}
	if got, want := len(wire.FrameTypes()), len(inCat); got != want {
		t.Errorf("FrameTypes has %d types, catalogue %d", got, want)
	}
	seen := map[uint16]bool{}
	for _, c := range wire.Codes() {
		if seen[c.Code] || c.Name == "" || c.Meaning == "" || c.Fatal == "" {
			t.Errorf("code %d: duplicate or incomplete row %+v", c.Code, c)
		}
		seen[c.Code] = true
		if wire.CodeName(c.Code) != c.Name {
			t.Errorf("CodeName(%d) = %q, want %q", c.Code, wire.CodeName(c.Code), c.Name)
		}
	}
	if got := wire.CodeName(777); got != "Code(777)" {
		t.Errorf("CodeName(777) = %q", got)
	}
	if got := wire.RetryCodes(); len(got) != 1 || got[0] != wire.CodeShuttingDown {
		t.Errorf("RetryCodes = %v, want [%d]: the client library resends only on ShuttingDown", got, wire.CodeShuttingDown)
	}
}
