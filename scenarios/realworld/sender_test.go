package realworld

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestPlaintextIsDeterministicUniqueAndSized(t *testing.T) {
	a := Plaintext(1, "p1", 5, 200)
	if !bytes.Equal(a, Plaintext(1, "p1", 5, 200)) {
		t.Fatal("same seed, publisher and seq must give the same plaintext")
	}
	if len(a) != 200 {
		t.Fatalf("size %d, want 200", len(a))
	}
	seen := map[string]bool{}
	for seed := uint64(0); seed < 3; seed++ {
		for seq := 1; seq <= 100; seq++ {
			p := string(Plaintext(seed, "p1", seq, 40))
			if seen[p] {
				t.Fatalf("plaintext repeated for seed %d seq %d", seed, seq)
			}
			seen[p] = true
		}
	}
	if short := Plaintext(1, "p1", 5, 0); !strings.HasPrefix(string(short), "p1 #5 ") {
		t.Fatalf("a size below the header keeps the whole header: %q", short)
	}
}

func TestMessageIDsSortInSequenceOrder(t *testing.T) {
	if MessageID("p1", 9) >= MessageID("p1", 10) {
		t.Fatal("ids are zero-padded so that files and reports sort in publish order")
	}
}

func TestRunSenderRefusesBadConfigsBeforeConnecting(t *testing.T) {
	good := SenderConfig{Broker: "127.0.0.1:1", Publisher: "p", First: 1, Count: 1, Report: "r", Queues: []string{"q"}}
	for name, edit := range map[string]func(*SenderConfig){
		"no broker":     func(c *SenderConfig) { c.Broker = "" },
		"no publisher":  func(c *SenderConfig) { c.Publisher = "" },
		"first 0":       func(c *SenderConfig) { c.First = 0 },
		"negative":      func(c *SenderConfig) { c.Count = -1 },
		"no report":     func(c *SenderConfig) { c.Report = "" },
		"no queue":      func(c *SenderConfig) { c.Queues = nil },
		"negative rate": func(c *SenderConfig) { c.Rate = -1 },
		"no keys":       func(c *SenderConfig) {},
	} {
		cfg := good
		edit(&cfg)
		if _, err := RunSender(context.Background(), cfg); err == nil {
			t.Errorf("%s: want an error", name)
		}
	}
}

func TestCatalogueNamesAreUniqueAndDescribed(t *testing.T) {
	seen := map[string]bool{}
	for _, sc := range Catalogue() {
		if sc.Name == "" || sc.Description == "" || strings.Contains(sc.Description, "\n") {
			t.Errorf("scenario %q needs a name and a one-line description", sc.Name)
		}
		if seen[sc.Name] {
			t.Errorf("scenario %q listed twice", sc.Name)
		}
		seen[sc.Name] = true
		if sc.Messages <= 0 || sc.Faults == nil {
			t.Errorf("scenario %q publishes nothing or has no fault phase", sc.Name)
		}
		got, ok := Lookup(sc.Name)
		if !ok || got.Name != sc.Name {
			t.Errorf("Lookup(%q) failed", sc.Name)
		}
	}
	if _, ok := Lookup("no-such-scenario"); ok {
		t.Error("Lookup of an unknown name succeeded")
	}
	if _, err := RunNamed(context.Background(), "no-such-scenario", Config{Binary: "x"}); err == nil {
		t.Error("RunNamed of an unknown name must fail")
	}
}

func TestRunRefusesANonEmptyDirectory(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "p1.report.jsonl"), []byte("old\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	sc, _ := Lookup("baseline")
	res, err := Run(context.Background(), sc, Config{Binary: "/nonexistent/ciphermq", Dir: dir})
	if err == nil || !strings.Contains(err.Error(), "not empty") {
		t.Fatalf("want a refusal naming the non-empty directory, got %v", err)
	}
	if _, statErr := os.Stat(filepath.Join(dir, "p1.report.jsonl")); statErr != nil || !res.Kept {
		t.Fatalf("a refused run must leave the directory alone (kept=%v, %v)", res.Kept, statErr)
	}
}

func TestRunWithoutBinaryFailsClearly(t *testing.T) {
	sc, _ := Lookup("baseline")
	if _, err := Run(context.Background(), sc, Config{}); err == nil || !strings.Contains(err.Error(), "BuildBinary") {
		t.Fatalf("want an error pointing at BuildBinary, got %v", err)
	}
}

func TestDescribeSaysWhenARunWasIncomplete(t *testing.T) {
	d := Result{Scenario: "x", Seed: 3, Incomplete: "the broker would not start"}.Describe()
	if !strings.Contains(d, "RUN INCOMPLETE: the broker would not start") || !strings.Contains(d, "seed 3") {
		t.Fatalf("describe = %q", d)
	}
}
