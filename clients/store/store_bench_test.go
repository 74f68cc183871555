package store

import (
	"path/filepath"
	"strconv"
	"testing"
)

// BenchmarkAppendBatchSync measures group commit: 256 appends of a 100-byte
// plaintext per fsync, on the real file system.
func BenchmarkAppendBatchSync(b *testing.B) {
	s, err := Open(filepath.Join(b.TempDir(), "out.jsonl"), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	r := rec("", string(make([]byte, 100)))
	r.Message = []byte("0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789")
	ids := make([]string, b.N)
	for i := range ids {
		ids[i] = "msg-" + strconv.Itoa(i)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		r.MessageID = ids[i]
		if err := s.Append(r); err != nil {
			b.Fatal(err)
		}
		if i%256 == 255 {
			if err := s.Sync(); err != nil {
				b.Fatal(err)
			}
		}
	}
	if err := s.Sync(); err != nil {
		b.Fatal(err)
	}
}
