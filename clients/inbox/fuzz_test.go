package inbox

import (
	"bytes"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"unicode/utf8"
)

// FuzzRecordRoundTrip: every valid record reads back exactly as written.
func FuzzRecordRoundTrip(f *testing.F) {
	f.Add("id", "q", "s", []byte("hello"))
	f.Add("i\"d\n", "", "", []byte{0xff, 0})
	f.Add("\u2028", "q", "s", []byte("\x00\x1f\\"))
	f.Fuzz(func(t *testing.T, id, queue, sender string, msg []byte) {
		r := Record{MessageID: id, Queue: queue, Sender: sender, Message: msg, ReceivedAt: t0, StoredAt: t0,
			Redelivered: len(msg)%2 == 1}
		if r.validate() != nil {
			if id != "" && utf8.ValidString(id) && utf8.ValidString(queue) && utf8.ValidString(sender) {
				t.Fatalf("valid record refused: %q %q %q", id, queue, sender)
			}
			return
		}
		line := appendRecord(nil, &r)
		if bytes.Count(line, []byte("\n")) != 1 || line[len(line)-1] != '\n' {
			t.Fatalf("encoding is not exactly one line: %q", line)
		}
		var scratch []byte
		fast, ok := parseCanonical(line[:len(line)-1], &scratch, true)
		if !ok {
			t.Fatalf("the fast path refuses the encoder's own line %q", line)
		}
		got, err := decodeRecordJSON(line[:len(line)-1])
		if err != nil {
			t.Fatalf("decode of %q: %v", line, err)
		}
		if !sameRecord(fast, got) {
			t.Fatalf("fast path %+v and encoding/json %+v disagree on %q", fast, got, line)
		}
		if got.MessageID != id || got.Queue != queue || got.Sender != sender || !bytes.Equal(got.Message, msg) ||
			!got.ReceivedAt.Equal(t0) {
			t.Fatalf("round trip changed the record: %+v", got)
		}
	})
}

// FuzzOpen: any file content either opens (and then holds only complete
// records, plus whatever is appended) or is refused as corrupt, unchanged.
func FuzzOpen(f *testing.F) {
	f.Add(goodLines(2))
	f.Add(concat(goodLines(2), []byte("{\"mess")))
	f.Add([]byte("x\n{}\n"))
	f.Add([]byte{0, 0, 0})
	f.Fuzz(func(t *testing.T, content []byte) {
		path := filepath.Join(t.TempDir(), "out.jsonl")
		if err := os.WriteFile(path, content, 0o600); err != nil {
			t.Fatal(err)
		}
		s, err := Open(path, Options{Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			var ce *CorruptError
			if !errors.As(err, &ce) {
				t.Fatalf("Open failed without a *CorruptError: %v", err)
			}
			raw, _ := os.ReadFile(path)
			if !bytes.Equal(raw, content) {
				t.Fatal("a refused file was modified")
			}
			return
		}
		n := s.Len()
		if err := s.Append(rec("fuzz-new-id-\x01", "m")); err != nil && !errors.Is(err, ErrDuplicate) {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		raw, _ := os.ReadFile(path)
		count := 0
		if err := Scan(bytes.NewReader(raw), func(Record) error { count++; return nil }); err != nil {
			t.Fatalf("file after Open+Append does not scan cleanly: %v", err)
		}
		if count < n || count > n+1 {
			t.Fatalf("file holds %d records, Open found %d", count, n)
		}
	})
}

func sameRecord(a, b Record) bool {
	return a.MessageID == b.MessageID && a.Queue == b.Queue && a.Sender == b.Sender &&
		bytes.Equal(a.Message, b.Message) && a.ReceivedAt.Equal(b.ReceivedAt) && a.StoredAt.Equal(b.StoredAt) &&
		a.Redelivered == b.Redelivered
}

// FuzzCanonicalAgreesWithJSON: whatever line the fast path accepts, the
// general decoder accepts too, with the same record. So the fast path can
// never let through a line the strict decoder would call corrupt.
func FuzzCanonicalAgreesWithJSON(f *testing.F) {
	r := rec("id\"\n", "m\x01\\")
	f.Add(appendRecord(nil, &r))
	r.Redelivered = true
	f.Add(appendRecord(nil, &r))
	r2 := Record{MessageID: "b", Message: []byte{0xff}}
	f.Add(appendRecord(nil, &r2))
	f.Add([]byte(`{"message_id":"x","queue":"","sender":"","received_at":"2026-01-01T00:00:00Z","stored_at":"2026-01-01T00:00:00Z","message":""}`))
	f.Fuzz(func(t *testing.T, line []byte) {
		line = bytes.TrimSuffix(line, []byte("\n"))
		var scratch []byte
		fast, ok := parseCanonical(line, &scratch, true)
		if !ok {
			return
		}
		slow, err := decodeRecordJSON(line)
		if err != nil {
			t.Fatalf("fast path accepts %q, encoding/json refuses it: %v", line, err)
		}
		if !sameRecord(fast, slow) {
			t.Fatalf("disagreement on %q:\n fast %+v\n json %+v", line, fast, slow)
		}
		idOnly, ok := parseCanonical(line, &scratch, false)
		if !ok || idOnly.MessageID != fast.MessageID {
			t.Fatalf("id-only mode disagrees on %q", line)
		}
	})
}

// FuzzCanonicalShapes puts raw fuzzed text into the canonical line shape,
// so the fast path's string, escape, timestamp and base64 handling meet
// hostile input; it must never accept what encoding/json refuses.
func FuzzCanonicalShapes(f *testing.F) {
	f.Add("id", `a\"b`, `\u0001`, "2026-11-26T10:00:00.1Z", "2026-11-26T10:00:00Z", "hi", false)
	f.Add("x", "", "", "2026-11-26T24:00:00Z", "2026-02-30T10:00:00+01:00", "QQ==", true)
	f.Add("x", "", "", "2026-11-26T10:00:00.Z", "2026-11-26t10:00:00z", "QQ", true)
	f.Fuzz(func(t *testing.T, id, queue, sender, received, stored, msg string, b64 bool) {
		field := `"message":"` + msg + `"`
		if b64 {
			field = `"message_base64":"` + msg + `"`
		}
		line := []byte(`{"message_id":"` + id + `","queue":"` + queue + `","sender":"` + sender +
			`","received_at":"` + received + `","stored_at":"` + stored + `",` + field + `}`)
		var scratch []byte
		fast, ok := parseCanonical(line, &scratch, true)
		if !ok {
			return
		}
		slow, err := decodeRecordJSON(line)
		if err != nil {
			t.Fatalf("fast path accepts %q, encoding/json refuses it: %v", line, err)
		}
		if !sameRecord(fast, slow) {
			t.Fatalf("disagreement on %q:\n fast %+v\n json %+v", line, fast, slow)
		}
	})
}
