package inbox

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

// BenchmarkOpenRebuild measures the rebuild of the id set at Open: one op
// is one record read back and validated.
func BenchmarkOpenRebuild(b *testing.B) {
	path := filepath.Join(b.TempDir(), "out.jsonl")
	s, err := Open(path, Options{})
	if err != nil {
		b.Fatal(err)
	}
	r := rec("", "0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789")
	for i := range b.N {
		r.MessageID = "9b2f6c1e-4d3a-4f5b-8c7d-" + strconv.Itoa(100000000000+i)
		if err := s.Append(r); err != nil {
			b.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	s, err = Open(path, Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	if s.Len() != b.N {
		b.Fatalf("rebuilt %d ids, want %d", s.Len(), b.N)
	}
	_ = s.Close()
}
