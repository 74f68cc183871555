package receiver

import (
	"path/filepath"
	"testing"

	"github.com/ciphermq/ciphermq/clients/inbox"
)

func TestProcessKeepsTheRedeliveredFlag(t *testing.T) {
	k := newKeys(t, 21)
	path := filepath.Join(t.TempDir(), "out.jsonl")
	r, _ := New(openStore(t, path, inbox.Options{}), opener(t, k))
	s := sealer(t, k, k.Signer)
	first, again := seal(t, s, "first", "a"), seal(t, s, "again", "b")
	again.Redelivered = true
	if _, err := r.Process([]Delivery{first, again}, now, nil); err != nil {
		t.Fatal(err)
	}
	recs := readAll(t, path)
	if len(recs) != 2 || recs[0].Redelivered || !recs[1].Redelivered {
		t.Fatalf("records %+v", recs)
	}
}
