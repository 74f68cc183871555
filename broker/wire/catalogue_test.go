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
// the first Markdown table under the "## " heading that starts with
// heading.
func mdTable(doc, heading string) ([][]string, error) {
	lines := strings.Split(doc, "\n")
	i := 0
	for ; i < len(lines); i++ {
		if strings.HasPrefix(lines[i], "## "+heading) {
			break
		}
	}
	if i == len(lines) {
		return nil, fmt.Errorf("no section %q", heading)
	}
	for i++; i < len(lines) && !strings.HasPrefix(lines[i], "|"); i++ {
		if strings.HasPrefix(lines[i], "## ") {
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

func docDiffs(doc string, fs []wire.FrameInfo, cs []wire.ReasonCode) ([]string, error) {
	frames, err := mdTable(doc, "4. Frame types")
	if err != nil {
		return nil, err
	}
	codes, err := mdTable(doc, "10. Errors and codes")
	if err != nil {
		return nil, err
	}
	diffs := tableDiff("frame", frames, frameRows(fs))
	return append(diffs, tableDiff("code", codes, codeRows(cs))...), nil
}

// TestCatalogueMatchesProtocolDoc: docs/protocol.md's frame table (§4) and
// code table (§10) say what the catalogue says, row for row.
func TestCatalogueMatchesProtocolDoc(t *testing.T) {
	b, err := os.ReadFile("../../docs/protocol.md")
	if err != nil {
		t.Fatal(err)
	}
	diffs, err := docDiffs(string(b), wire.Frames(), wire.Codes())
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range diffs {
		t.Error(d)
	}
}

// TestCatalogueDocCheckFails: the comparison above reports a missing frame,
// a missing code, a changed name, a changed meaning, an extra row and a
// changed feature bit (so a drifted doc cannot pass it).
func TestCatalogueDocCheckFails(t *testing.T) {
	b, err := os.ReadFile("../../docs/protocol.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	edits := map[string]func(fs []wire.FrameInfo, cs []wire.ReasonCode) ([]wire.FrameInfo, []wire.ReasonCode){
		"frame missing from the doc": func(fs []wire.FrameInfo, cs []wire.ReasonCode) ([]wire.FrameInfo, []wire.ReasonCode) {
			return append(fs, wire.FrameInfo{Type: 0x7F, Name: "New", Dir: wire.BothWays}), cs
		},
		"code missing from the doc": func(fs []wire.FrameInfo, cs []wire.ReasonCode) ([]wire.FrameInfo, []wire.ReasonCode) {
			return fs, append(cs, wire.ReasonCode{Code: 700, Name: "New", Meaning: "new", Fatal: "no"})
		},
		"frame only in the doc": func(fs []wire.FrameInfo, cs []wire.ReasonCode) ([]wire.FrameInfo, []wire.ReasonCode) {
			return fs[1:], cs
		},
		"renamed frame": func(fs []wire.FrameInfo, cs []wire.ReasonCode) ([]wire.FrameInfo, []wire.ReasonCode) {
			fs[0].Name = "Helo"
			return fs, cs
		},
		"code only in the doc": func(fs []wire.FrameInfo, cs []wire.ReasonCode) ([]wire.FrameInfo, []wire.ReasonCode) {
			return fs, cs[:len(cs)-1]
		},
		"changed meaning": func(fs []wire.FrameInfo, cs []wire.ReasonCode) ([]wire.FrameInfo, []wire.ReasonCode) {
			cs[len(cs)-1].Meaning += "."
			return fs, cs
		},
		"changed feature bit": func(fs []wire.FrameInfo, cs []wire.ReasonCode) ([]wire.FrameInfo, []wire.ReasonCode) {
			fs[len(fs)-1].Feature = wire.FeatureAuth
			return fs, cs
		},
		"changed resend": func(fs []wire.FrameInfo, cs []wire.ReasonCode) ([]wire.FrameInfo, []wire.ReasonCode) {
			cs[0].Resend = true
			return fs, cs
		},
	}
	for name, edit := range edits {
		fs, cs := edit(wire.Frames(), wire.Codes())
		diffs, err := docDiffs(doc, fs, cs)
		if err != nil {
			t.Fatal(err)
		}
		if len(diffs) != 1 {
			t.Errorf("%s: want exactly 1 disagreement, got %d: %q", name, len(diffs), diffs)
		}
	}
	if _, err := docDiffs("# no tables here\n", wire.Frames(), wire.Codes()); err == nil {
		t.Error("a document without the sections passed")
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
