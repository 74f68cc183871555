package access

import (
	"reflect"
	"testing"
)

// FuzzParseFile checks that ParseFile never panics on any input, and that
// whatever it accepts encodes (EncodeFile) to a file that parses back to the
// same value and re-encodes to the same bytes. Seeds: testdata/fuzz/FuzzParseFile.
func FuzzParseFile(f *testing.F) {
	f.Add([]byte(fullFile))
	f.Fuzz(func(t *testing.T, data []byte) {
		parsed, err := ParseFile(data)
		if err != nil {
			return
		}
		enc, err := EncodeFile(parsed)
		if err != nil {
			t.Fatalf("EncodeFile refused what ParseFile accepted: %v", err)
		}
		back, err := ParseFile(enc)
		if err != nil {
			t.Fatalf("ParseFile(EncodeFile(f)): %v\n%s", err, enc)
		}
		if !reflect.DeepEqual(back, parsed) {
			t.Fatalf("round trip changed the file:\n%#v\n%#v", parsed, back)
		}
		enc2, err := EncodeFile(back)
		if err != nil || string(enc2) != string(enc) {
			t.Fatalf("EncodeFile is not deterministic: %v\n%s\n%s", err, enc, enc2)
		}
	})
}
