package wire_test

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"pgregory.net/rapid"

	"github.com/ciphermq/ciphermq/broker/wire"
)

// TestJoinedFramesEqualPlainFramesOfTheWholeBody: a sender without the
// feature writes prefix ‖ body into a plain frame; the bytes must be those
// of the plain frame built from the concatenation.
func TestJoinedFramesEqualPlainFramesOfTheWholeBody(t *testing.T) {
	pre, rest := []byte("HEADER"), []byte("rest")
	whole := append(append([]byte(nil), pre...), rest...)
	p := wire.Publish{Seq: 7, Exchange: []byte("x"), RoutingKey: []byte("k"), MessageID: []byte("m"), Body: rest}
	pw := p
	pw.Body = whole
	if got, want := wire.AppendPublishJoined(nil, &p, pre), wire.AppendPublish(nil, &pw); !bytes.Equal(got, want) {
		t.Fatalf("joined publish % x\nwant           % x", got, want)
	}
	d := wire.Deliver{ConsumerTag: []byte("c"), DeliveryTag: 3, DeliveryCount: 1, Queue: []byte("q"), MessageID: []byte("m"), Body: rest}
	dw := d
	dw.Body = whole
	if got, want := wire.AppendDeliverJoined(nil, &d, pre), wire.AppendDeliver(nil, &dw); !bytes.Equal(got, want) {
		t.Fatalf("joined deliver % x\nwant           % x", got, want)
	}
	f := wire.FetchOK{ReqID: 4, Deliver: d}
	fw := wire.FetchOK{ReqID: 4, Deliver: dw}
	if got, want := wire.AppendFetchOKJoined(nil, &f, pre), wire.AppendFetchOK(nil, &fw); !bytes.Equal(got, want) {
		t.Fatalf("joined fetch ok % x\nwant            % x", got, want)
	}
}

func TestPrefixFrameSizeBoundsTheFrame(t *testing.T) {
	for _, n := range []int{1, 127, 128, 16383, 16384, wire.MaxPrefixSize} {
		raw := wire.AppendPrefix(nil, &wire.Prefix{ID: 1<<56 - 1, Bytes: make([]byte, n)})
		if got := wire.PrefixFrameSize(n); got < len(raw) {
			t.Errorf("PrefixFrameSize(%d) = %d, frame is %d bytes", n, got, len(raw))
		}
	}
}

func TestInboundPrefixesSequenceAndWindow(t *testing.T) {
	var w wire.InboundPrefixes[string]
	if _, err := w.Lookup(1); !errors.Is(err, wire.ErrPrefixNotLive) {
		t.Fatalf("lookup in an empty window: %v", err)
	}
	if err := w.Define(2, "two"); !errors.Is(err, wire.ErrPrefixSequence) {
		t.Fatalf("defining 2 first: %v, want ErrPrefixSequence", err)
	}
	for id := uint64(1); id <= wire.PrefixWindow+1; id++ {
		if err := w.Define(id, string(rune('a'+id%26))); err != nil {
			t.Fatalf("define %d: %v", id, err)
		}
	}
	if _, err := w.Lookup(1); !errors.Is(err, wire.ErrPrefixNotLive) {
		t.Fatalf("id 1 after %d later definitions: %v, want not live", wire.PrefixWindow, err)
	}
	if v, err := w.Lookup(2); err != nil || v != string(rune('a'+2)) {
		t.Fatalf("oldest live id: %q %v", v, err)
	}
	if _, err := w.Lookup(wire.PrefixWindow + 2); !errors.Is(err, wire.ErrPrefixNotLive) {
		t.Fatalf("id never defined: %v", err)
	}
	// Any id but the next one is refused, naming both ids, and changes
	// nothing: a repeat of the last id or an older one (an id reused for
	// other bytes), and a skip.
	last := w.Last()
	for _, id := range []uint64{last, 5, 0, last + 2} {
		err := w.Define(id, "other")
		want := fmt.Sprintf("got id %d after id %d", id, last)
		if !errors.Is(err, wire.ErrPrefixSequence) || !strings.Contains(err.Error(), want) {
			t.Fatalf("define %d after %d: %v, want ErrPrefixSequence saying %q", id, last, err, want)
		}
	}
	if v, _ := w.Lookup(last); w.Last() != last || v != string(rune('a'+last%26)) {
		t.Fatalf("a refused definition changed the window: last %d, id %d = %q", w.Last(), last, v)
	}
	w.Reset()
	if _, err := w.Lookup(2); !errors.Is(err, wire.ErrPrefixNotLive) {
		t.Fatalf("after Reset: %v", err)
	}
	if err := w.Define(1, "again"); err != nil {
		t.Fatalf("first id after Reset: %v", err)
	}
}

// TestPrefixWindowsAgree: whatever the sender defines, every id it
// considers live is live on the receiver with the same value, and every
// value it does not consider live must be defined again.
func TestPrefixWindowsAgree(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		type handle struct{ v int }
		handles := make([]*handle, rapid.IntRange(1, 3*wire.PrefixWindow).Draw(t, "handles"))
		for i := range handles {
			handles[i] = &handle{v: i}
		}
		var out wire.OutboundPrefixes[*handle]
		var in wire.InboundPrefixes[int]
		for range rapid.IntRange(1, 500).Draw(t, "steps") {
			h := handles[rapid.IntRange(0, len(handles)-1).Draw(t, "pick")]
			id, live := out.Lookup(h)
			if !live {
				id = out.Define(h)
				if err := in.Define(id, h.v); err != nil {
					t.Fatalf("receiver refused definition %d: %v", id, err)
				}
			}
			got, err := in.Lookup(id)
			if err != nil || got != h.v {
				t.Fatalf("sender thinks id %d is live as %d; receiver has %d, %v", id, h.v, got, err)
			}
		}
	})
}

func TestOutboundPrefixesEvictAndReset(t *testing.T) {
	var out wire.OutboundPrefixes[int]
	for k := 1; k <= wire.PrefixWindow+1; k++ {
		if id := out.Define(k); id != uint64(k) {
			t.Fatalf("key %d got id %d", k, id)
		}
	}
	if _, live := out.Lookup(1); live {
		t.Fatal("the oldest definition is still live after the window moved on")
	}
	if out.Evictions != 1 {
		t.Fatalf("evictions = %d, want 1", out.Evictions)
	}
	out.Reset()
	if _, live := out.Lookup(2); live {
		t.Fatal("live after Reset")
	}
	if id := out.Define(9); id != 1 {
		t.Fatalf("first id after Reset = %d, want 1", id)
	}
}

// TestAppendPublishPrefixed: by reference with a window (defining the
// prefix once), joined without one or when the Prefix frame would not fit
// the frame limit, plain without a prefix.
func TestAppendPublishPrefixed(t *testing.T) {
	pre := []byte("HEADER")
	f := wire.Publish{Seq: 1, Exchange: []byte("x"), MessageID: []byte("m"), Body: []byte("rest")}
	var w wire.OutboundPrefixes[string]
	out := wire.AppendPublishPrefixed(nil, &w, "h", pre, 0, &f)
	out = wire.AppendPublishPrefixed(out, &w, "h", pre, 0, &f)
	var types []wire.FrameType
	for len(out) > 0 {
		typ, p, n, err := wire.SplitFrame(out, 0)
		if err != nil || n == 0 {
			t.Fatalf("split: %v", err)
		}
		if typ == wire.FramePublishRef {
			var r wire.PublishRef
			if err := wire.DecodePublishRef(p, &r); err != nil || r.PrefixID != 1 || string(r.Publish.Body) != "rest" {
				t.Fatalf("PublishRef %+v %v", r, err)
			}
		}
		types = append(types, typ)
		out = out[n:]
	}
	if want := []wire.FrameType{wire.FramePrefix, wire.FramePublishRef, wire.FramePublishRef}; !slices.Equal(types, want) {
		t.Fatalf("frames %v, want %v", types, want)
	}
	whole := f
	whole.Body = []byte("HEADERrest")
	joined := wire.AppendPublish(nil, &whole)
	if got := wire.AppendPublishPrefixed(nil, (*wire.OutboundPrefixes[string])(nil), "h", pre, 0, &f); !bytes.Equal(got, joined) {
		t.Fatal("without a window: not a plain Publish of the whole body")
	}
	var w2 wire.OutboundPrefixes[string]
	if got := wire.AppendPublishPrefixed(nil, &w2, "h", pre, wire.PrefixFrameSize(len(pre))-1, &f); !bytes.Equal(got, joined) {
		t.Fatal("a Prefix frame above the frame limit was sent")
	}
	if got := wire.AppendPublishPrefixed(nil, &w2, "h", nil, 0, &f); !bytes.Equal(got, wire.AppendPublish(nil, &f)) {
		t.Fatal("without a prefix: not a plain Publish")
	}
}
