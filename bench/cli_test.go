package bench

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestResultErr(t *testing.T) {
	if err := sampleResult("ciphermq", 100).Err(); err != nil {
		t.Fatalf("a clean run: %v", err)
	}
	r := sampleResult("ciphermq", 100)
	r.Lost, r.Duplicated, r.Foreign, r.Error = 1, 2, 3, "broker died"
	want := `run failed: lost 1, duplicated 2, foreign 3, error "broker died"`
	if err := r.Err(); err == nil || err.Error() != want {
		t.Fatalf("Err() = %v, want %q", err, want)
	}
	r = sampleResult("ciphermq", 100)
	r.Duplicated = 1
	if r.Err() == nil {
		t.Fatal("a duplicate passed")
	}
}

func writeResults(t *testing.T, rs ...Result) string {
	t.Helper()
	var b bytes.Buffer
	for _, r := range rs {
		if err := WriteJSON(&b, r); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(t.TempDir(), "results.jsonl")
	if err := os.WriteFile(path, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestSummarizeFile(t *testing.T) {
	path := writeResults(t, sampleResult("ciphermq", 400), sampleResult("rabbitmq", 100), sampleResult("nats", 200))
	var out bytes.Buffer
	if err := SummarizeFile(&out, path, "ciphermq", nil); err != nil {
		t.Fatal(err)
	}
	var direct bytes.Buffer
	rs := []Result{sampleResult("ciphermq", 400), sampleResult("rabbitmq", 100), sampleResult("nats", 200)}
	if err := WriteSummary(&direct, Summarize(rs, "ciphermq"), "ciphermq"); err != nil {
		t.Fatal(err)
	}
	if out.String() != direct.String() {
		t.Fatalf("SummarizeFile differs from WriteSummary of the same results:\n%s\nvs\n%s", out.String(), direct.String())
	}
	out.Reset()
	if err := SummarizeFile(&out, path, "rabbitmq", []string{"rabbitmq", "nats"}); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out.String(), "| ciphermq |") || !strings.Contains(out.String(), "| nats |") {
		t.Fatalf("--only kept the wrong targets:\n%s", out.String())
	}
}

func TestSummarizeFileErrors(t *testing.T) {
	empty := filepath.Join(t.TempDir(), "empty.jsonl")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	full := writeResults(t, sampleResult("ciphermq", 1))
	for _, c := range []struct {
		path string
		only []string
		want string
	}{
		{filepath.Join(t.TempDir(), "missing"), nil, "no such file"},
		{empty, nil, "holds no results (JSON lines of ciphermq bench --json)"},
		{full, []string{"nats", "rabbitmq"}, "holds no results of the targets nats, rabbitmq (--only)"},
	} {
		if err := SummarizeFile(new(bytes.Buffer), c.path, "", c.only); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("SummarizeFile(%s, %v) = %v, want %q", filepath.Base(c.path), c.only, err, c.want)
		}
	}
}

func TestProgressLine(t *testing.T) {
	var b bytes.Buffer
	p := ProgressLine(&b)
	p(Progress{Count: 100, Confirmed: 50, Received: 40, Elapsed: 1234 * time.Millisecond})
	want := "\r\033[K[###############               ]   1.2s  confirmed 50  received 40"
	if b.String() != want {
		t.Fatalf("count mode: %q, want %q", b.String(), want)
	}
	b.Reset()
	p(Progress{Planned: 10 * time.Second, Elapsed: 20 * time.Second, Confirmed: 7}) // past the plan: a full bar
	if !strings.HasPrefix(b.String(), "\r\033[K["+strings.Repeat("#", 30)+"]  20.0s  confirmed 7  received 0") {
		t.Fatalf("duration mode past the plan: %q", b.String())
	}
	b.Reset()
	p(Progress{Elapsed: time.Second}) // neither count nor plan: an empty bar
	if !strings.HasPrefix(b.String(), "\r\033[K["+strings.Repeat(" ", 30)+"]") {
		t.Fatalf("no plan: %q", b.String())
	}
}
