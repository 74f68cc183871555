package main

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

var clientCommands = map[string]func() *cobra.Command{
	"keygen": newKeygenCmd, "send": newSendCmd, "recv": newRecvCmd, "demo": newDemoCmd, "bench": newBenchCmd,
}

// visibleFlags lists a command's flags as --help shows them.
func visibleFlags(cmd *cobra.Command) []string {
	var names []string
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		if !f.Hidden && f.Name != "help" {
			names = append(names, "--"+f.Name)
		}
	})
	return names
}

// TestClientFlagsTableMatchesTheCommands: the table in docs/clients.md lists
// every visible flag of every client subcommand, and only those.
func TestClientFlagsTableMatchesTheCommands(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "clients.md"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(doc), "\n")
	start := slices.IndexFunc(lines, func(l string) bool { return strings.HasPrefix(l, "| flag | meaning |") })
	if start < 0 {
		t.Fatal("docs/clients.md has no flags table")
	}
	header := strings.Split(strings.Trim(lines[start], "| "), " | ")
	documented := map[string][]string{} // command -> flags
	for _, l := range lines[start+2:] {
		if !strings.HasPrefix(l, "|") {
			break
		}
		cells := strings.Split(strings.Trim(l, "|"), "|")
		if len(cells) != len(header) {
			t.Fatalf("row with %d cells, header has %d: %s", len(cells), len(header), l)
		}
		flag := strings.Trim(strings.TrimSpace(cells[0]), "`")
		for i, c := range header[2:] {
			if strings.TrimSpace(cells[i+2]) != "" {
				documented[c] = append(documented[c], flag)
			}
		}
	}
	for name, newCmd := range clientCommands {
		if !slices.Contains(header, name) {
			t.Errorf("the table has no column for %s", name)
			continue
		}
		got, want := visibleFlags(newCmd()), documented[name]
		slices.Sort(got)
		slices.Sort(want)
		for _, f := range got {
			if !slices.Contains(want, f) {
				t.Errorf("%s %s is not in the table of docs/clients.md", name, f)
			}
		}
		for _, f := range want {
			if !slices.Contains(got, f) {
				t.Errorf("the table gives %s %s, which the command does not have", name, f)
			}
		}
	}
}

// TestOneNamePerConcept: the names retired for consistency are not shown by
// any client subcommand.
func TestOneNamePerConcept(t *testing.T) {
	for name, newCmd := range clientCommands {
		for _, f := range visibleFlags(newCmd()) {
			switch f {
			case "--addr", "--encryption", "--seed", "--messages", "--output", "--address":
				t.Errorf("%s shows %s: use the one name the table in docs/clients.md gives", name, f)
			}
			if f == "--out" && name != "recv" {
				t.Errorf("%s has --out: --out is an output file of recv; directories are --dir", name)
			}
		}
	}
}

func TestRenamedFlagsStillWorkHiddenWithANotice(t *testing.T) {
	isolate(t)
	// keygen --out DIR still writes into DIR.
	dir := filepath.Join(t.TempDir(), "keys")
	out, err := keygen(t, "--out", dir)
	if err != nil {
		t.Fatalf("keygen --out: %v\n%s", err, out)
	}
	if _, err := os.Stat(filepath.Join(dir, "receiver.key")); err != nil {
		t.Fatalf("keygen --out did not write into its directory: %v", err)
	}
	if !strings.Contains(out, "--out has been deprecated, use --dir instead") {
		t.Errorf("no deprecation notice for keygen --out:\n%s", out)
	}
	// Each alias sets the new flag's value.
	for _, c := range []struct {
		cmd        func() *cobra.Command
		old, name  string
		value, got string
	}{
		{newSendCmd, "seed", "content-seed", "7", ""},
		{newBenchCmd, "addr", "broker", "10.0.0.1:5672", ""},
		{newBenchCmd, "encryption", "format", "seed", ""},
		{newKeygenCmd, "out", "dir", "somewhere", ""},
	} {
		cmd := c.cmd()
		var help bytes.Buffer
		cmd.SetOut(&help)
		cmd.SetErr(&help)
		if err := cmd.ParseFlags([]string{"--" + c.old, c.value}); err != nil {
			t.Fatalf("--%s: %v", c.old, err)
		}
		if got := cmd.Flags().Lookup(c.name).Value.String(); got != c.value {
			t.Errorf("--%s %s set --%s to %q", c.old, c.value, c.name, got)
		}
		if !strings.Contains(help.String(), "--"+c.old+" has been deprecated, use --"+c.name) {
			t.Errorf("no deprecation notice for --%s: %q", c.old, help.String())
		}
		help.Reset()
		if err := cmd.Help(); err != nil {
			t.Fatal(err)
		}
		if regexp.MustCompile(`--` + c.old + `\b`).MatchString(help.String()) {
			t.Errorf("help of %s still shows --%s:\n%s", cmd.Name(), c.old, help.String())
		}
	}
}
