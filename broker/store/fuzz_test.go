package store

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
