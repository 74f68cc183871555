package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestReportCountsAndGroups feeds a sweep and a unit profile of a small
// made-up package file and checks the shares and the groups.
func TestReportCountsAndGroups(t *testing.T) {
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "broker"), 0o755); err != nil {
		t.Fatal(err)
	}
	src := "package broker\n\nfunc A() {\n\tx := 1\n\t_ = x\n}\n\nfunc B() {\n\ty := 2\n\t_ = y\n}\n"
	if err := os.WriteFile(filepath.Join(root, "broker", "a.go"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	write := func(name, body string) string {
		p := filepath.Join(root, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	sweep := write("sweep.txt", "mode: set\n"+
		module+"broker/a.go:3.10,5.7 2 1\n"+
		module+"broker/a.go:8.10,10.7 3 0\n"+
		"other/x.go:1.1,2.2 5 0\n")
	unit := write("unit.txt", "mode: set\n"+module+"broker/a.go:8.10,10.7 3 1\n")
	bs := &blockSet{blocks: map[string]block{}}
	sw, err := readProfile(sweep, bs)
	if err != nil {
		t.Fatal(err)
	}
	ut, err := readProfile(unit, nil)
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	report(&out, root, bs, sw, ut, true)
	got := out.String()
	for _, want := range []string{
		"broker                      5          2    40.0%              3",
		"broker: 3 statements never reached by the sweep, in 1 functions",
		"a.go B: 3 [unit tests reach all]",
		"8.10-10.7",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("report lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "a.go A:") {
		t.Errorf("a reached function listed as never reached:\n%s", got)
	}
}

func TestParseLineRejectsGarbage(t *testing.T) {
	for _, bad := range []string{"", "x.go:1.1,2.2 1", "x.go 1 1", "x.go:a.b,c.d 1 1", "x.go:1.1,2.2 x 1"} {
		if _, _, err := parseLine(bad); err == nil {
			t.Errorf("parseLine(%q) accepted", bad)
		}
	}
}
