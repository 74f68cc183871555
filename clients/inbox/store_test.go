package inbox

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 11, 26, 10, 0, 0, 123456789, time.UTC)

func rec(id, msg string) Record {
	return Record{MessageID: id, Queue: "q", Sender: "ed25519:abc", Message: []byte(msg),
		ReceivedAt: t0, StoredAt: t0.Add(time.Millisecond)}
}

func openT(t *testing.T, path string, opts Options) *Store {
	t.Helper()
	s, err := Open(path, opts)
	if err != nil {
		t.Fatalf("Open(%s): %v", path, err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func readRecords(t *testing.T, path string) []Record {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []Record
	if err := Scan(f, func(r Record) error { out = append(out, r); return nil }); err != nil {
		t.Fatalf("Scan: %v", err)
	}
	return out
}

func TestAppendSyncReopenRebuildsIDs(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out.jsonl")
	s := openT(t, path, Options{})
	for _, id := range []string{"a", "b", "c"} {
		if err := s.Append(rec(id, "msg "+id)); err != nil {
			t.Fatal(err)
		}
	}
	// Appended but not fsync'd: stored (Has), not yet safe to ack (Seen).
	if !s.Has("b") || s.Seen("b") || s.Has("d") {
		t.Fatalf("before Sync: Has(b)=%v Seen(b)=%v Has(d)=%v, want true false false", s.Has("b"), s.Seen("b"), s.Has("d"))
	}
	if err := s.Sync(); err != nil {
		t.Fatal(err)
	}
	if !s.Seen("b") {
		t.Fatal("Seen(b) after Sync = false")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s2 := openT(t, path, Options{})
	if got := s2.Len(); got != 3 {
		t.Fatalf("Len after reopen = %d, want 3", got)
	}
	for _, id := range []string{"a", "b", "c"} {
		if !s2.Seen(id) {
			t.Errorf("Seen(%q) after reopen = false", id)
		}
	}
	if s2.Seen("d") {
		t.Error("Seen(d) after reopen = true for an id never stored")
	}
	if r := s2.Recovery(); r.Repaired() || r.Records != 3 {
		t.Errorf("Recovery = %+v, want 3 records and no repair", r)
	}
}

func TestDedupAfterReopenRefusesAppend(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out.jsonl")
	s := openT(t, path, Options{})
	if err := s.Append(rec("x", "one")); err != nil {
		t.Fatal(err)
	}
	if err := s.Append(rec("x", "again")); !errors.Is(err, ErrDuplicate) {
		t.Fatalf("second Append in one session: %v, want ErrDuplicate", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2 := openT(t, path, Options{})
	if err := s2.Append(rec("x", "third")); !errors.Is(err, ErrDuplicate) {
		t.Fatalf("Append after reopen: %v, want ErrDuplicate", err)
	}
	if err := s2.Append(rec("y", "new")); err != nil {
		t.Fatalf("a refused duplicate must leave the store usable: %v", err)
	}
	if err := s2.Close(); err != nil {
		t.Fatal(err)
	}
	got := readRecords(t, path)
	if len(got) != 2 || string(got[0].Message) != "one" || got[1].MessageID != "y" {
		t.Fatalf("records = %+v, want x(one), y", got)
	}
}

func TestRecordsRoundTripExactly(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out.jsonl")
	s := openT(t, path, Options{})
	cases := []Record{
		rec("plain", "hello"),
		rec("escapes", "quote\" backslash\\ newline\n tab\t cr\r nul\x00 bell\x07 </script> \u2028"),
		rec("utf8", "héllo wörld ✓ 🎉"),
		rec("empty", ""),
		{MessageID: "binary", Queue: "q2", Sender: SenderUnauthenticated, Message: []byte{0xff, 0xfe, 0, 1, 'a'},
			ReceivedAt: t0.In(time.FixedZone("X", 3600)), StoredAt: t0},
		rec("id with \"quotes\" and \n newline", "m"),
	}
	for _, r := range cases {
		if err := s.Append(r); err != nil {
			t.Fatalf("Append(%q): %v", r.MessageID, err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	got := readRecords(t, path)
	if len(got) != len(cases) {
		t.Fatalf("read %d records, want %d", len(got), len(cases))
	}
	for i, want := range cases {
		g := got[i]
		if g.MessageID != want.MessageID || g.Queue != want.Queue || g.Sender != want.Sender ||
			!bytes.Equal(g.Message, want.Message) || !g.ReceivedAt.Equal(want.ReceivedAt) || !g.StoredAt.Equal(want.StoredAt) {
			t.Errorf("record %d: got %+v, want %+v", i, g, want)
		}
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(raw), "\n"), "\n")
	if !strings.Contains(lines[4], `"message_base64":"//4AAWE="`) || strings.Contains(lines[4], `"message":`) {
		t.Errorf("non-UTF-8 plaintext must be stored as message_base64 only, line: %s", lines[4])
	}
	if !strings.Contains(lines[2], `"message":"héllo wörld ✓ 🎉"`) {
		t.Errorf("UTF-8 plaintext should be readable in the file, line: %s", lines[2])
	}
	if !strings.Contains(lines[4], `"received_at":"2026-11-26T10:00:00.123456789Z"`) {
		t.Errorf("timestamps must be RFC 3339 nano in UTC, line: %s", lines[4])
	}
	want := `{"message_id":"plain","queue":"q","sender":"ed25519:abc","received_at":"2026-11-26T10:00:00.123456789Z","stored_at":"2026-11-26T10:00:00.124456789Z","message":"hello"}`
	if lines[0] != want {
		t.Errorf("line format changed:\n got %s\nwant %s", lines[0], want)
	}
}

func TestAppendRefusesInvalidRecords(t *testing.T) {
	s := openT(t, filepath.Join(t.TempDir(), "out.jsonl"), Options{MaxRecordBytes: 300})
	bad := []Record{
		rec("", "no id"),
		rec("bad\xffid", "m"),
		{MessageID: "ok", Queue: "bad\xffqueue"},
		{MessageID: "ok", Sender: "bad\xffsender"},
		rec("big", strings.Repeat("x", 400)),
	}
	for _, r := range bad {
		if err := s.Append(r); !errors.Is(err, ErrInvalidRecord) {
			t.Errorf("Append(%q): %v, want ErrInvalidRecord", r.MessageID, err)
		}
		if s.Has(r.MessageID) && r.MessageID != "" {
			t.Errorf("refused record %q must not be remembered", r.MessageID)
		}
	}
	if err := s.Append(rec("fine", "m")); err != nil {
		t.Fatalf("store must stay usable after refusals: %v", err)
	}
	if err := s.Sync(); err != nil {
		t.Fatal(err)
	}
	if s.Len() != 1 {
		t.Fatalf("Len = %d, want 1", s.Len())
	}
}

func TestSmallBufferWritesBeforeSync(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out.jsonl")
	s := openT(t, path, Options{BufferBytes: 64})
	for i := range 10 {
		if err := s.Append(rec(string(rune('a'+i)), strings.Repeat("p", 50))); err != nil {
			t.Fatal(err)
		}
	}
	// The buffer overflowed, so records reached the file before any Sync.
	if st, err := os.Stat(path); err != nil || st.Size() == 0 {
		t.Fatalf("file size before Sync = %v (err %v), want > 0 with a 64-byte buffer", st.Size(), err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if got := readRecords(t, path); len(got) != 10 {
		t.Fatalf("read %d records, want 10", len(got))
	}
}

func TestClosedStoreRefusesWork(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "out.jsonl"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Append(rec("a", "m")); !errors.Is(err, ErrClosed) {
		t.Errorf("Append after Close: %v, want ErrClosed", err)
	}
	if err := s.Sync(); !errors.Is(err, ErrClosed) {
		t.Errorf("Sync after Close: %v, want ErrClosed", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v, want nil", err)
	}
}

func TestNewFileIsPrivate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out.jsonl")
	openT(t, path, Options{})
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := st.Mode().Perm(); perm != 0o600 {
		t.Fatalf("new store file mode = %o, want 600 (it holds plaintext)", perm)
	}
}

func TestSeenOnlyAfterSyncButAppendRefusesPending(t *testing.T) {
	s := openT(t, filepath.Join(t.TempDir(), "out.jsonl"), Options{})
	if err := s.Append(rec("p", "m")); err != nil {
		t.Fatal(err)
	}
	if s.Seen("p") {
		t.Fatal("an id appended but not synced must not be Seen: acking a copy of it could lose it")
	}
	if err := s.Append(rec("p", "m")); !errors.Is(err, ErrDuplicate) {
		t.Fatalf("Append of a pending id: %v, want ErrDuplicate", err)
	}
	if err := s.Sync(); err != nil {
		t.Fatal(err)
	}
	if !s.Seen("p") || s.Len() != 1 {
		t.Fatalf("after Sync: Seen(p)=%v Len=%d, want true 1", s.Seen("p"), s.Len())
	}
}

// Lines longer than the reader's 64 KiB buffer are assembled from several
// reads; a record of a few hundred KiB must survive a reopen intact.
func TestLargeRecordsSurviveReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out.jsonl")
	s := openT(t, path, Options{BufferBytes: 1024})
	big := strings.Repeat("0123456789abcdef\n\"", 20000) // ~360 KiB, with escapes
	bin := bytes.Repeat([]byte{0xff, 0x00, 0x7f}, 70000) // ~280 KiB of base64
	for _, r := range []Record{rec("small-1", "a"), rec("big", big), {MessageID: "bin", Message: bin}, rec("small-2", "b")} {
		if err := s.Append(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2 := openT(t, path, Options{})
	if s2.Len() != 4 || s2.Recovery().Repaired() {
		t.Fatalf("reopen: Len %d, recovery %+v", s2.Len(), s2.Recovery())
	}
	got := readRecords(t, path)
	if string(got[1].Message) != big || !bytes.Equal(got[2].Message, bin) || string(got[3].Message) != "b" {
		t.Fatal("large records changed on the way through the file")
	}
}
