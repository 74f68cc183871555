package wal

import (
	"reflect"
	"testing"
)

// FuzzDecodeRecord: any bytes either fail to decode or decode to a record
// that encodes and decodes back to itself; nothing panics or allocates
// more than the input allows.
func FuzzDecodeRecord(f *testing.F) {
	for _, r := range sampleRecords() {
		b, err := AppendRecord(nil, &r)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
		f.Add(b[:len(b)-1])
	}
	f.Add([]byte{})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 7})
	f.Fuzz(func(t *testing.T, data []byte) {
		r, n, err := DecodeRecord(data, 1<<20)
		if err != nil {
			return
		}
		if n < headerSize || n > len(data) {
			t.Fatalf("consumed %d of %d bytes", n, len(data))
		}
		b, err := AppendRecord(nil, &r)
		if err != nil {
			t.Fatalf("decoded record does not encode: %v (%+v)", err, r)
		}
		r2, _, err := DecodeRecord(b, 1<<20)
		if err != nil {
			t.Fatalf("re-encoded record does not decode: %v", err)
		}
		if !reflect.DeepEqual(r, r2) {
			t.Fatalf("round trip changed the record\n%+v\n%+v", r, r2)
		}
	})
}

// FuzzDecodePayload reaches the field decoders directly: FuzzDecodeRecord
// rarely gets past the checksum with bytes of its own.
func FuzzDecodePayload(f *testing.F) {
	for _, r := range sampleRecords() {
		b, err := AppendRecord(nil, &r)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(byte(r.Type), b[headerSize:])
	}
	f.Fuzz(func(t *testing.T, typ byte, payload []byte) {
		r, err := decodePayload(RecordType(typ), payload, true)
		if err != nil {
			return
		}
		b, err := AppendRecord(nil, &r)
		if err != nil {
			t.Fatalf("decoded record does not encode: %v (%+v)", err, r)
		}
		r2, _, err := DecodeRecord(b, len(b))
		if err != nil || !reflect.DeepEqual(r, r2) {
			t.Fatalf("round trip: %v\n%+v\n%+v", err, r, r2)
		}
	})
}

// FuzzReplay: Open over any bytes after a valid segment header never
// panics; it either refuses with an error or recovers a consistent state
// (and then a second Open of what it left finds no damage).
func FuzzReplay(f *testing.F) {
	var log []byte
	for _, r := range append(sampleRecords(), workload()...) {
		var err error
		if log, err = AppendRecord(log, &r); err != nil {
			f.Fatal(err)
		}
	}
	f.Add(log)
	f.Add(log[:len(log)-3])
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		fsys := NewMemFS()
		fsys.WriteFile(segName(1), append(segHeader(1, 1), data...))
		s, _, err := Open(fsys, testOpts())
		if err != nil {
			return
		}
		checkAccounting(t, s)
		for _, qm := range s.st.queueMessages() {
			for _, m := range qm.Messages {
				if _, err := s.ReadMessage(m.Seq); err != nil {
					t.Fatalf("live message %d unreadable: %v", m.Seq, err)
				}
			}
		}
		s.Close()
		s, rec, err := Open(fsys, testOpts())
		if err != nil || len(rec.Damage) != 0 {
			t.Fatalf("second open: %v, damage %v", err, rec.Damage)
		}
		s.Close()
	})
}
