package sender

import (
	"bytes"
	"errors"
	"io"
	"regexp"
	"testing"
)

func TestSequentialIDs(t *testing.T) {
	ids, err := Sequential("pub-a")
	if err != nil {
		t.Fatal(err)
	}
	for index, want := range map[uint64]string{1: "pub-a-1", 41: "pub-a-41"} {
		if got, err := ids(index); err != nil || got != want {
			t.Errorf("ids(%d) = %q, %v; want %q", index, got, err, want)
		}
	}
	for _, bad := range []string{"", "has space", "tab\t", "é"} {
		if _, err := Sequential(bad); !errors.Is(err, ErrBadIDPrefix) {
			t.Errorf("Sequential(%q) = %v, want ErrBadIDPrefix", bad, err)
		}
	}
}

var uuidV4 = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

func TestRandomIDsAreUUIDv4FromTheGivenReader(t *testing.T) {
	stream := bytes.Repeat([]byte{0xff}, 32)
	ids := RandomIDs(bytes.NewReader(stream))
	a, err := ids(1)
	if err != nil {
		t.Fatal(err)
	}
	if !uuidV4.MatchString(a) || a != "ffffffff-ffff-4fff-bfff-ffffffffffff" {
		t.Fatalf("id %q is not the UUIDv4 of an all-ones stream", a)
	}
	if _, err := ids(2); err != nil {
		t.Fatalf("second id: %v", err)
	}
	if _, err := ids(3); !errors.Is(err, io.EOF) {
		t.Fatalf("exhausted reader: %v, want io.EOF", err)
	}
}
