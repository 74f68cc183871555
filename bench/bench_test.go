package bench

import (
	"testing"
	"time"
)

// The load generator's own per-message costs: they must stay far below a
// broker's, or the benchmark would measure itself.

func BenchmarkHistogramRecord(b *testing.B) {
	h := NewHistogram()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		h.Record(time.Duration(i&0xfffff) * time.Microsecond)
	}
}

func BenchmarkLedgerConfirmReceive(b *testing.B) {
	l := NewLedger(1, 1<<20)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		s := uint64(i & (1<<20 - 1))
		l.Confirmed(0, s)
		l.Received(0, s)
	}
}

func BenchmarkPayloadHeader(b *testing.B) {
	p := make([]byte, 512)
	var id []byte
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		putHeader(p, header{publisher: 1, seq: uint64(i), intended: time.Duration(i)})
		id = messageID(id[:0], "bench0123456789", 1, uint64(i))
		if _, err := readHeader(p); err != nil {
			b.Fatal(err)
		}
	}
}
