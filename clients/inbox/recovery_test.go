package inbox

import (
	"bytes"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// goodLines returns n encoded records a0..a(n-1).
func goodLines(n int) []byte {
	var b []byte
	for i := range n {
		r := rec("a"+string(rune('0'+i)), "payload")
		b = appendRecord(b, &r)
	}
	return b
}

func writeFile(t *testing.T, content []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "out.jsonl")
	if err := os.WriteFile(path, content, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestOpenCutsTornTail(t *testing.T) {
	good := goodLines(3)
	last := rec("torn", "payload")
	full := appendRecord(nil, &last)
	cases := []struct {
		name   string
		tail   []byte
		reason string
	}{
		{"half a record", full[:len(full)/2], "no newline"},
		{"one byte", full[:1], "no newline"},
		{"complete JSON but no newline", full[:len(full)-1], "no newline"},
		{"zeros from an extended file", make([]byte, 100), "no newline"},
		{"zeros then newline", append(make([]byte, 10), '\n'), "not a valid record"},
		{"garbage line with newline", []byte("{\"message_id\":\"x\",\"mess\n"), "not a valid record"},
		{"empty last line", []byte("\n"), "not a valid record"},
		{"valid JSON but no id", []byte("{\"message\":\"m\"}\n"), "no message_id"},
		{"record with both payload fields", []byte(`{"message_id":"z","message":"a","message_base64":"YQ=="}` + "\n"), "exactly one"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := writeFile(t, append(append([]byte(nil), good...), tc.tail...))
			var logBuf bytes.Buffer
			s := openT(t, path, Options{Logger: slog.New(slog.NewTextHandler(&logBuf, nil))})
			r := s.Recovery()
			if !r.Repaired() || r.CutBytes != int64(len(tc.tail)) || r.CutOffset != int64(len(good)) || r.CutLine != 4 || r.Records != 3 {
				t.Fatalf("Recovery = %+v, want cut of %d bytes at %d, line 4, 3 records", r, len(tc.tail), len(good))
			}
			if !strings.Contains(r.CutReason, tc.reason) {
				t.Errorf("CutReason = %q, want it to mention %q", r.CutReason, tc.reason)
			}
			if !strings.Contains(logBuf.String(), "torn last line") || !strings.Contains(logBuf.String(), "line=4") {
				t.Errorf("the cut must be logged, log: %q", logBuf.String())
			}
			if s.Len() != 3 || s.Seen("torn") {
				t.Errorf("after repair Len = %d, Seen(torn) = %v; want 3, false", s.Len(), s.Seen("torn"))
			}
			// The file now ends at the last complete record, and appends follow it.
			if err := s.Append(rec("next", "after repair")); err != nil {
				t.Fatal(err)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			raw, _ := os.ReadFile(path)
			if !bytes.HasPrefix(raw, good) {
				t.Fatalf("repair damaged the complete records")
			}
			got := readRecords(t, path)
			if len(got) != 4 || got[3].MessageID != "next" {
				t.Fatalf("records after repair and append: %d, last %q; want 4, next", len(got), got[len(got)-1].MessageID)
			}
			s2 := openT(t, path, Options{})
			if s2.Recovery().Repaired() {
				t.Errorf("second Open found something to repair: %+v", s2.Recovery())
			}
		})
	}
}

func TestOpenCutsTornOnlyLine(t *testing.T) {
	path := writeFile(t, []byte(`{"message_id":"a","que`))
	s := openT(t, path, Options{Logger: slog.New(slog.DiscardHandler)})
	if r := s.Recovery(); r.CutOffset != 0 || r.CutLine != 1 || r.Records != 0 {
		t.Fatalf("Recovery = %+v, want a cut of the whole file", r)
	}
	if st, _ := os.Stat(path); st.Size() != 0 {
		t.Fatalf("file size after cut = %d, want 0", st.Size())
	}
}

func TestOpenRefusesCorruptionInTheMiddle(t *testing.T) {
	good := goodLines(2)
	r1 := rec("later", "m")
	later := appendRecord(nil, &r1)
	dupe := rec("a0", "payload")
	cases := []struct {
		name    string
		content []byte
		line    int
		reason  string
	}{
		{"garbage line between records", concat(good, []byte("not json\n"), later), 3, "not a valid record"},
		{"blank line between records", concat(good, []byte("\n"), later), 3, "not a valid record"},
		{"bad first line", concat([]byte("{}\n"), good), 1, "no message_id"},
		{"bad line then torn tail", concat(good, []byte("xx\n"), later[:5]), 3, "not a valid record"},
		{"unknown field", concat(good, []byte(`{"message_id":"q","message":"m","extra":1}`+"\n"), later), 3, "unknown field"},
		{"duplicate id", concat(good, appendRecord(nil, &dupe)), 3, "stored twice"},
		{"bad base64", concat([]byte(`{"message_id":"q","message_base64":"!!"}`+"\n"), good), 1, "message_base64"},
		{"zeros in the middle", concat(good, make([]byte, 30), []byte("\n"), later), 3, "not a valid record"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := writeFile(t, tc.content)
			_, err := Open(path, Options{Logger: slog.New(slog.DiscardHandler)})
			var ce *CorruptError
			if !errors.As(err, &ce) {
				t.Fatalf("Open: %v, want *CorruptError", err)
			}
			if ce.Line != tc.line || !strings.Contains(ce.Reason, tc.reason) || ce.Path != path {
				t.Errorf("CorruptError = %+v, want line %d, reason containing %q", ce, tc.line, tc.reason)
			}
			if msg := err.Error(); !strings.Contains(msg, "line ") || !strings.Contains(msg, "move the file away") {
				t.Errorf("error must name the line and say what to do: %s", msg)
			}
			raw, _ := os.ReadFile(path)
			if !bytes.Equal(raw, tc.content) {
				t.Errorf("a refused file must not be modified")
			}
			// The refused Open must not keep the lock.
			s, err := Open(writeFile(t, goodLines(1)), Options{})
			if err != nil {
				t.Fatal(err)
			}
			_ = s.Close()
			f, err := OSFS{}.OpenLocked(path)
			if err != nil {
				t.Fatalf("lock still held after refused Open: %v", err)
			}
			_ = f.Close()
		})
	}
}

func TestOpenTooLongLine(t *testing.T) {
	good := goodLines(1)
	long := []byte(`{"message_id":"L","message":"` + strings.Repeat("x", 500) + "\"}\n")
	t.Run("in the middle", func(t *testing.T) {
		path := writeFile(t, concat(good, long, good[:0], goodLinesFrom("b", 1)))
		_, err := Open(path, Options{MaxRecordBytes: 200})
		var ce *CorruptError
		if !errors.As(err, &ce) || ce.Line != 2 || !strings.Contains(ce.Reason, "longer than 200") {
			t.Fatalf("Open: %v, want *CorruptError at line 2 about length", err)
		}
	})
	t.Run("at the end", func(t *testing.T) {
		path := writeFile(t, concat(good, long[:300]))
		s := openT(t, path, Options{MaxRecordBytes: 200, Logger: slog.New(slog.DiscardHandler)})
		if r := s.Recovery(); r.CutBytes != 300 || r.CutLine != 2 {
			t.Fatalf("Recovery = %+v, want 300 bytes cut at line 2", r)
		}
	})
}

func goodLinesFrom(prefix string, n int) []byte {
	var b []byte
	for i := range n {
		r := rec(prefix+string(rune('0'+i)), "payload")
		b = appendRecord(b, &r)
	}
	return b
}

func concat(parts ...[]byte) []byte {
	var b []byte
	for _, p := range parts {
		b = append(b, p...)
	}
	return b
}

func TestScanReportsTornTailAfterRecords(t *testing.T) {
	content := concat(goodLines(2), []byte(`{"message_id":"x`))
	var ids []string
	err := Scan(bytes.NewReader(content), func(r Record) error { ids = append(ids, r.MessageID); return nil })
	if !errors.Is(err, ErrTornTail) {
		t.Fatalf("Scan: %v, want ErrTornTail", err)
	}
	if len(ids) != 2 {
		t.Fatalf("Scan passed %d records before the torn tail, want 2", len(ids))
	}
	err = Scan(bytes.NewReader(concat([]byte("bad\n"), goodLines(1))), func(Record) error { return nil })
	var ce *CorruptError
	if !errors.As(err, &ce) || ce.Line != 1 {
		t.Fatalf("Scan of a bad line: %v, want *CorruptError at line 1", err)
	}
}
