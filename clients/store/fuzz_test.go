package store

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
		r := Record{MessageID: id, Queue: queue, Sender: sender, Message: msg, ReceivedAt: t0, StoredAt: t0}
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
		got, err := decodeRecord(line[:len(line)-1])
		if err != nil {
			t.Fatalf("decode of %q: %v", line, err)
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
