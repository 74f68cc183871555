package realworld

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ciphermq/ciphermq/clients/inbox"
	"github.com/ciphermq/ciphermq/internal/check"
)

// fixture is a small run written the way real processes write it: a sender
// report (attempt and outcome lines) and a receiver's store file.
type fixture struct {
	dir, report, out string
	epoch            time.Time
	n                int
}

// newFixture writes n confirmed messages of p1 and a receiver file that
// processed all of them from queue q, through the real store.
func newFixture(t *testing.T, n int) *fixture {
	t.Helper()
	f := &fixture{dir: t.TempDir(), epoch: time.Unix(1_800_000_000, 0), n: n}
	f.report = filepath.Join(f.dir, "p1.report.jsonl")
	f.out = filepath.Join(f.dir, "r1.jsonl")
	var rep bytes.Buffer
	w := &eventWriter{w: &rep}
	for seq := 1; seq <= n; seq++ {
		id := MessageID("p1", seq)
		plain := Plaintext(7, "p1", seq, 64)
		if err := w.write(check.Attempt(time.Duration(seq), "p1", id, uint64(seq), check.DigestOf(plain), "q")); err != nil {
			t.Fatal(err)
		}
		if err := w.write(check.Confirmed(time.Duration(seq)+1, "p1", id)); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(f.report, rep.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	st, err := inbox.Open(f.out, inbox.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for seq := 1; seq <= n; seq++ {
		rec := inbox.Record{MessageID: MessageID("p1", seq), Queue: "q", Sender: "ed25519:test",
			Message: Plaintext(7, "p1", seq, 64), ReceivedAt: f.epoch, StoredAt: f.epoch.Add(time.Duration(seq) * time.Millisecond)}
		if err := st.Append(rec); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.Sync(); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	return f
}

// check reads both files back and runs the checker, as Run does.
func (f *fixture) check(t *testing.T, opts check.Options) check.Report {
	t.Helper()
	var h check.History
	events, err := ReadReport(f.report)
	if err != nil {
		t.Fatal(err)
	}
	h.Add(events...)
	processed, err := ReadReceived(f.out, "r1", f.epoch)
	if err != nil {
		t.Fatal(err)
	}
	h.Add(processed...)
	return check.Check(h, opts)
}

// editLines rewrites a file line by line; edit returns the lines to keep.
func editLines(t *testing.T, path string, edit func(lines []string) []string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(string(data), "\n")
	if lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	if err := os.WriteFile(path, []byte(strings.Join(edit(lines), "")), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestHistoryFromRealFilesIsClean(t *testing.T) {
	f := newFixture(t, 20)
	r := f.check(t, check.Options{OrderedQueues: []string{"q"}})
	if !r.OK() || r.Counts.OK != 20 {
		t.Fatalf("a faithful run should pass with 20 ok copies: %s", r.Summary())
	}
}

// The checks below prove the pipeline (files -> history -> checker) can
// fail: each breaks one guarantee in the files and expects its category.

func TestHistoryCatchesALostRecord(t *testing.T) {
	f := newFixture(t, 20)
	editLines(t, f.out, func(l []string) []string { return append(l[:4:4], l[5:]...) }) // drop the 5th
	r := f.check(t, check.Options{})
	if len(r.Lost) != 1 || r.Lost[0].MessageID != MessageID("p1", 5) {
		t.Fatalf("want p1-000005 lost, got %s", r.Summary())
	}
}

func TestHistoryCatchesADuplicatedRecord(t *testing.T) {
	f := newFixture(t, 20)
	editLines(t, f.out, func(l []string) []string { return append(l, l[3]) })
	r := f.check(t, check.Options{})
	if len(r.Duplicated) != 1 || r.Duplicated[0].MessageID != MessageID("p1", 4) {
		t.Fatalf("want p1-000004 duplicated, got %s", r.Summary())
	}
}

func TestHistoryCatchesACorruptedPlaintext(t *testing.T) {
	f := newFixture(t, 20)
	editLines(t, f.out, func(l []string) []string {
		var rec map[string]any
		if err := json.Unmarshal([]byte(l[6]), &rec); err != nil {
			t.Fatal(err)
		}
		rec["message"] = "not what was sealed"
		b, _ := json.Marshal(rec)
		l[6] = string(b) + "\n"
		return l
	})
	r := f.check(t, check.Options{})
	if len(r.Corrupted) != 1 || r.Corrupted[0].MessageID != MessageID("p1", 7) {
		t.Fatalf("want p1-000007 corrupted, got %s", r.Summary())
	}
}

func TestHistoryCatchesAnUnexpectedRecord(t *testing.T) {
	f := newFixture(t, 20)
	// Forget the report's last attempt and outcome: message 20 was then
	// never published, but the receiver holds it.
	editLines(t, f.report, func(l []string) []string { return l[:len(l)-2] })
	r := f.check(t, check.Options{})
	if len(r.Unexpected) != 1 || r.Unexpected[0].MessageID != MessageID("p1", 20) {
		t.Fatalf("want p1-000020 unexpected, got %s", r.Summary())
	}
}

func TestHistoryCatchesReorderedRecords(t *testing.T) {
	f := newFixture(t, 20)
	editLines(t, f.out, func(l []string) []string { l[2], l[9] = l[9], l[2]; return l })
	r := f.check(t, check.Options{OrderedQueues: []string{"q"}})
	if len(r.Nonmonotonic)+len(r.Skipped) == 0 {
		t.Fatalf("want an order anomaly on an ordered queue, got %s", r.Summary())
	}
}

func TestHistoryReportsAnUnresolvedPublishAsPending(t *testing.T) {
	f := newFixture(t, 20)
	editLines(t, f.report, func(l []string) []string { return l[:len(l)-1] }) // the last outcome
	r := f.check(t, check.Options{})
	if len(r.Pending) != 1 || !r.SafetyOK() {
		t.Fatalf("want one pending publish and no safety violation, got %s", r.Summary())
	}
}

func TestReadReportDropsOnlyATornTail(t *testing.T) {
	f := newFixture(t, 3)
	data, _ := os.ReadFile(f.report)
	torn := append(append([]byte{}, data...), `{"kind":"publish","at":9,"publ`...)
	if err := os.WriteFile(f.report, torn, 0o644); err != nil {
		t.Fatal(err)
	}
	events, err := ReadReport(f.report)
	if err != nil {
		t.Fatalf("a torn last line is what SIGKILL leaves; it must be skipped: %v", err)
	}
	if len(events) != 6 {
		t.Fatalf("want the 6 whole events, got %d", len(events))
	}
	// A bad line followed by more lines is not a crash artefact.
	bad := append([]byte("{not json}\n"), data...)
	if err := os.WriteFile(f.report, bad, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadReport(f.report); err == nil || !strings.Contains(err.Error(), "line 1") {
		t.Fatalf("want an error naming line 1, got %v", err)
	}
}

func TestReadReceivedSkipsATornTailAndToleratesAMissingFile(t *testing.T) {
	f := newFixture(t, 3)
	fh, err := os.OpenFile(f.out, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	fh.WriteString(`{"message_id":"p1-000004","queue":"q"`)
	fh.Close()
	evs, err := ReadReceived(f.out, "r1", f.epoch)
	if err != nil || len(evs) != 3 {
		t.Fatalf("want the 3 complete records and no error, got %d, %v", len(evs), err)
	}
	if evs[1].Kind != check.KindProcessed || evs[1].Receiver != "r1" || evs[1].Queue != "q" ||
		evs[1].At != 2*time.Millisecond || evs[1].Digest != check.DigestOf(Plaintext(7, "p1", 2, 64)) {
		t.Fatalf("processed event not built from the record: %+v", evs[1])
	}
	evs, err = ReadReceived(filepath.Join(f.dir, "never-started.jsonl"), "r9", f.epoch)
	if err != nil || len(evs) != 0 {
		t.Fatalf("a receiver that never stored anything has no events: %d, %v", len(evs), err)
	}
}

func TestResolutionTracksOutcomes(t *testing.T) {
	d := check.DigestOf([]byte("x"))
	res := resolve([]check.Event{
		check.Attempt(1, "p", "a", 1, d, "q"), check.Attempt(2, "p", "b", 2, d, "q"),
		check.Attempt(3, "p", "c", 3, d, "q"), check.Confirmed(4, "p", "a"),
		check.Refused(5, "p", "b", 301, "queue full"), check.Attempt(6, "p", "a", 1, d, "q"),
	})
	if got := strings.Join(res.unresolved(), ","); got != "c" {
		t.Errorf("unresolved = %q, want c", got)
	}
	if got := strings.Join(res.confirmed(), ","); got != "a" {
		t.Errorf("confirmed = %q, want a", got)
	}
	if res.lastSeq != 3 || len(res.attempted) != 3 {
		t.Errorf("lastSeq %d attempted %v: a re-recorded attempt must not count twice", res.lastSeq, res.attempted)
	}
}
