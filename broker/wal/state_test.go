package wal

import (
	"reflect"
	"testing"
)

// The dedup window outlives its messages, so it must copy a caller's
// record, not keep the buffer (the server reuses it, and an id may share
// memory with a whole message).
func TestDedupWindowCopiesRecords(t *testing.T) {
	s := newState()
	r := Record{Type: RecDedup, MessageID: "msg-0001", Time: 1}
	raw, err := AppendRecord(nil, &r)
	if err != nil {
		t.Fatal(err)
	}
	s.apply(&r, 1, 0, raw)
	clear(raw)
	if got, want := s.window.list(), []DedupEntry{{ID: "msg-0001", Time: 1}}; !reflect.DeepEqual(got, want) {
		t.Fatalf("window %v after the caller reused its buffer, want %v", got, want)
	}
}
