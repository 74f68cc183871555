package inbox

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRedeliveredIsWrittenOnlyWhenSetAndReadsBack(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out.jsonl")
	s := openT(t, path, Options{})
	again := rec("again", "hello")
	again.Redelivered = true
	for _, r := range []Record{rec("first", "hi"), again, {MessageID: "bin", Message: []byte{0xff}, Redelivered: true}} {
		if err := s.Append(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Sync(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	if strings.Contains(lines[0], "redelivered") {
		t.Errorf("a first delivery must not write the key: %s", lines[0])
	}
	if !strings.Contains(lines[1], `"stored_at":"2026-11-26T10:00:00.124456789Z","redelivered":true,"message":"hello"}`) {
		t.Errorf("redelivered record: %s", lines[1])
	}
	if !strings.Contains(lines[2], `,"redelivered":true,"message_base64":"/w=="}`) {
		t.Errorf("redelivered binary record: %s", lines[2])
	}
	got := readRecords(t, path)
	if len(got) != 3 || got[0].Redelivered || !got[1].Redelivered || !got[2].Redelivered {
		t.Fatalf("read back %+v", got)
	}
}

func TestRedeliveredLoadsFromOlderAndOtherSpellings(t *testing.T) {
	lines := []struct {
		line string
		want bool
	}{
		// Written before the field existed: the canonical fast path.
		{`{"message_id":"old","queue":"q","sender":"s","received_at":"2026-11-26T10:00:00Z","stored_at":"2026-11-26T10:00:00Z","message":"x"}`, false},
		// Other spellings go through encoding/json.
		{`{"message_id":"f","queue":"q","sender":"s","received_at":"2026-11-26T10:00:00Z","stored_at":"2026-11-26T10:00:00Z","redelivered":false,"message":"x"}`, false},
		{`{"redelivered":true,"message_id":"t","queue":"q","sender":"s","received_at":"2026-11-26T10:00:00Z","stored_at":"2026-11-26T10:00:00Z","message":"x"}`, true},
	}
	for _, tc := range lines {
		r, err := decodeRecord([]byte(tc.line))
		if err != nil {
			t.Fatalf("%s: %v", tc.line, err)
		}
		if r.Redelivered != tc.want || string(r.Message) != "x" {
			t.Errorf("%s: redelivered %v, want %v", tc.line, r.Redelivered, tc.want)
		}
	}
	if _, err := decodeRecord([]byte(`{"message_id":"b","redelivered":"yes","message":"x"}`)); err == nil {
		t.Error("a non-boolean redelivered must be refused")
	}
	// A store opened over an older file keeps working and appends new
	// records with the flag.
	path := filepath.Join(t.TempDir(), "old.jsonl")
	if err := os.WriteFile(path, []byte(lines[0].line+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s := openT(t, path, Options{})
	if !s.Has("old") {
		t.Fatal("the older record was not loaded")
	}
	r := rec("new", "y")
	r.Redelivered = true
	if err := s.Append(r); err != nil {
		t.Fatal(err)
	}
	if err := s.Sync(); err != nil {
		t.Fatal(err)
	}
	if got := readRecords(t, path); len(got) != 2 || got[0].Redelivered || !got[1].Redelivered {
		t.Fatalf("read back %+v", got)
	}
}
