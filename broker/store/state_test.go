package store

import (
	"testing"
	"unsafe"
)

// The dedup window outlives its messages, so it must not keep a caller's id
// string that shares memory with a whole message buffer.
func TestDedupWindowCopiesIDs(t *testing.T) {
	buf := make([]byte, 1<<20)
	copy(buf, "msg-0001")
	id := unsafe.String(&buf[0], 8)
	s := newState()
	r := Record{Type: RecDedup, MessageID: id, Time: 1}
	raw, err := AppendRecord(nil, &r)
	if err != nil {
		t.Fatal(err)
	}
	s.apply(&r, 1, 0, raw)
	if len(s.dedup) != 1 {
		t.Fatalf("dedup holds %d ids, want 1", len(s.dedup))
	}
	for k, v := range s.dedup {
		if k != "msg-0001" || v != 1 {
			t.Fatalf("dedup entry %q=%d", k, v)
		}
		if unsafe.StringData(k) == &buf[0] {
			t.Fatal("the dedup window kept the caller's string, pinning its 1 MiB buffer")
		}
	}
}
