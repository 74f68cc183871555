package receiver

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/ciphermq/ciphermq/clients/envelope"
	"github.com/ciphermq/ciphermq/clients/inbox"
	"github.com/ciphermq/ciphermq/clients/receiver/receivertest"
)

// The shared helpers of clients/receiver/receivertest, under the names
// these tests use.
var now = receivertest.Now

type keys = receivertest.Keys

var (
	newKeys   = receivertest.NewKeys
	sealer    = receivertest.Sealer
	opener    = receivertest.Opener
	openStore = receivertest.OpenStore
	readAll   = receivertest.ReadAll
)

func seal(t testing.TB, s envelope.Sealer, id, msg string) Delivery {
	t.Helper()
	env, err := s.Seal(nil, id, []byte(msg), now)
	if err != nil {
		t.Fatal(err)
	}
	return Delivery{MessageID: id, Queue: "q", Body: env, ReceivedAt: now}
}

func TestProcessStoresDedupsAndRejects(t *testing.T) {
	k := newKeys(t, 1)
	stranger := newKeys(t, 2)
	path := filepath.Join(t.TempDir(), "out.jsonl")
	st := openStore(t, path, inbox.Options{})
	r, err := New(st, opener(t, k))
	if err != nil {
		t.Fatal(err)
	}
	good := sealer(t, k, k.Signer)
	tampered := seal(t, good, "m-tampered", "x")
	tampered.Body[len(tampered.Body)-1] ^= 1
	replayed := seal(t, good, "m-original", "y")
	replayed.MessageID = "m-replayed"

	batch := []Delivery{
		seal(t, good, "m-1", "hello"),
		seal(t, good, "m-2", "world"),
		seal(t, good, "m-1", "hello"), // the same id twice in one batch
		tampered,
		seal(t, sealer(t, k, stranger.Signer), "m-untrusted", "z"),
		seal(t, sealer(t, stranger, k.Signer), "m-not-mine", "z"),
		replayed,
		{MessageID: "m-garbage", Body: []byte("not an envelope")},
	}
	out, err := r.Process(batch, now.Add(time.Second), nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		v      Verdict
		reason string
	}{
		{Stored, ""}, {Stored, ""}, {Duplicate, ""},
		{Rejected, "tampered"}, {Rejected, "untrusted-sender"}, {Rejected, "not-recipient"},
		{Rejected, "message-id-mismatch"}, {Rejected, "unknown-format"},
	}
	for i, w := range want {
		if out[i].Verdict != w.v || out[i].Reason != w.reason {
			t.Errorf("delivery %d (%s): %v %q (%v), want %v %q", i, batch[i].MessageID, out[i].Verdict, out[i].Reason, out[i].Err, w.v, w.reason)
		}
	}
	s := r.Stats()
	if s.Received != 8 || s.Stored != 2 || s.Duplicates != 1 || s.RejectedTotal() != 5 || s.Batches != 1 {
		t.Errorf("stats = %+v", s)
	}
	// Durable before Process returned: Seen (durable) is true for both.
	if !st.Seen("m-1") || !st.Seen("m-2") || st.Has("m-tampered") {
		t.Error("after Process the stored ids must be durable and rejected ones absent")
	}
	recs := readAll(t, path)
	if len(recs) != 2 || string(recs[0].Message) != "hello" || string(recs[1].Message) != "world" {
		t.Fatalf("records = %+v", recs)
	}
	wantSender := "ed25519:" + envelope.SignerKeyID(k.Signer.Public().(ed25519.PublicKey))
	if recs[0].Sender != wantSender || !recs[0].StoredAt.Equal(now.Add(time.Second)) || !recs[0].ReceivedAt.Equal(now) || recs[0].Queue != "q" {
		t.Errorf("record fields = %+v, want sender %s", recs[0], wantSender)
	}
}

func TestDuplicatesAfterRestart(t *testing.T) {
	k := newKeys(t, 3)
	path := filepath.Join(t.TempDir(), "out.jsonl")
	s := sealer(t, k, k.Signer)
	d1, d2 := seal(t, s, "a", "1"), seal(t, s, "b", "2")

	st, err := inbox.Open(path, inbox.Options{})
	if err != nil {
		t.Fatal(err)
	}
	r, _ := New(st, opener(t, k))
	if _, err := r.Process([]Delivery{d1}, now, nil); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	r2, _ := New(openStore(t, path, inbox.Options{}), opener(t, k))
	out, err := r2.Process([]Delivery{d1, d2}, now, nil)
	if err != nil {
		t.Fatal(err)
	}
	if out[0].Verdict != Duplicate || out[1].Verdict != Stored {
		t.Fatalf("after restart: %v %v, want duplicate stored", out[0].Verdict, out[1].Verdict)
	}
	if recs := readAll(t, path); len(recs) != 2 {
		t.Fatalf("file holds %d records, want 2 (exactly once)", len(recs))
	}
}

func TestSeedFormatIsStoredAsUnauthenticated(t *testing.T) {
	rsaKey, err := envelope.GenerateSeedKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	ss, err := envelope.NewSeedSealer(&rsaKey.PublicKey, nil)
	if err != nil {
		t.Fatal(err)
	}
	so, err := envelope.NewSeedOpener(rsaKey)
	if err != nil {
		t.Fatal(err)
	}
	o, _ := envelope.NewOpener(so, nil)
	path := filepath.Join(t.TempDir(), "out.jsonl")
	r, _ := New(openStore(t, path, inbox.Options{}), o)
	out, err := r.Process([]Delivery{seal(t, ss, "s-1", "legacy"), seal(t, sealer(t, newKeys(t, 4), newKeys(t, 4).Signer), "s-2", "modern")}, now, nil)
	if err != nil {
		t.Fatal(err)
	}
	if out[0].Verdict != Stored || out[1].Verdict != Rejected || out[1].Reason != "format-not-accepted" {
		t.Fatalf("outcomes = %+v", out)
	}
	if recs := readAll(t, path); recs[0].Sender != inbox.SenderUnauthenticated || string(recs[0].Message) != "legacy" {
		t.Fatalf("record = %+v", recs[0])
	}
}

// failingFS makes every fsync fail once armed.
type failingFS struct{ fail bool }

func (f *failingFS) OpenLocked(name string) (inbox.File, error) {
	inner, err := inbox.OSFS{}.OpenLocked(name)
	return &failingFile{File: inner, fs: f}, err
}

type failingFile struct {
	inbox.File
	fs *failingFS
}

func (f *failingFile) Sync() error {
	if f.fs.fail {
		return errors.New("EIO")
	}
	return f.File.Sync()
}

func TestFailedSyncAcksNothing(t *testing.T) {
	k := newKeys(t, 5)
	ffs := &failingFS{}
	st := openStore(t, filepath.Join(t.TempDir(), "out.jsonl"), inbox.Options{FS: ffs})
	r, _ := New(st, opener(t, k))
	s := sealer(t, k, k.Signer)
	ffs.fail = true
	out, err := r.Process([]Delivery{seal(t, s, "a", "1"), {MessageID: "bad", Body: []byte("x")}}, now, nil)
	if !errors.Is(err, inbox.ErrBroken) {
		t.Fatalf("Process with a failing fsync: %v, want ErrBroken", err)
	}
	for i, o := range out {
		if o.Verdict != Retry {
			t.Errorf("outcome %d = %v, want retry: nothing may be acked or rejected when the batch is not durable", i, o.Verdict)
		}
	}
	if s := r.Stats(); s.Stored != 0 || s.Received != 0 {
		t.Errorf("stats count a failed batch: %+v", s)
	}
}

func TestReasonOfUnknownError(t *testing.T) {
	if got := ReasonOf(fmt.Errorf("boom")); got != "other" {
		t.Fatalf("ReasonOf = %q", got)
	}
	if got := ReasonOf(fmt.Errorf("wrapped: %w", envelope.ErrWrongKey)); got != "wrong-key" {
		t.Fatalf("ReasonOf = %q", got)
	}
}

func TestOnStoredSeesDurableRecordsOnly(t *testing.T) {
	k := newKeys(t, 9)
	path := filepath.Join(t.TempDir(), "out.jsonl")
	st := openStore(t, path, inbox.Options{})
	r, _ := New(st, opener(t, k))
	var got []string
	r.OnStored(func(rec inbox.Record) {
		if !st.Seen(rec.MessageID) {
			t.Errorf("OnStored(%s) before the record is durable", rec.MessageID)
		}
		got = append(got, rec.MessageID+"="+string(rec.Message))
	})
	s := sealer(t, k, k.Signer)
	if _, err := r.Process([]Delivery{seal(t, s, "a", "1"), seal(t, s, "b", "22"), seal(t, s, "a", "1"), {MessageID: "x", Body: []byte("?")}}, now, nil); err != nil {
		t.Fatal(err)
	}
	if want := []string{"a=1", "b=22"}; !slices.Equal(got, want) {
		t.Fatalf("OnStored saw %v, want %v (stored records only, plaintext intact)", got, want)
	}
}
