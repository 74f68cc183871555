package engine

import (
	"bytes"
	"testing"
	"time"

	"github.com/ciphermq/ciphermq/broker/wire"
)

func TestPublisherAddCopyOwnsTheBody(t *testing.T) {
	p := newPub(t, PublisherConfig{})
	body := []byte("original body")
	if err := p.AddCopy(Message{ID: "m1", Exchange: "ex", RoutingKey: "rk", Body: body}); err != nil {
		t.Fatal(err)
	}
	copy(body, "XXXXXXXXXXXXX") // the caller reuses its buffer at once
	fs := p.Poll(t0)
	if len(fs) != 1 {
		t.Fatalf("Poll sent %d frames, want 1", len(fs))
	}
	f := fs[0]
	if string(f.Body) != "original body" || string(f.MessageID) != "m1" || string(f.Exchange) != "ex" || string(f.RoutingKey) != "rk" {
		t.Fatalf("frame = id %q ex %q rk %q body %q; want the values at AddCopy time", f.MessageID, f.Exchange, f.RoutingKey, f.Body)
	}
	// The fields share one buffer: none may run into the next.
	if cap(f.MessageID) != len(f.MessageID) || cap(f.Exchange) != len(f.Exchange) || cap(f.RoutingKey) != len(f.RoutingKey) {
		t.Fatal("a frame field's capacity reaches into the next field")
	}
}

func TestPublisherAddKeepsTheBodyByReference(t *testing.T) {
	p := newPub(t, PublisherConfig{})
	body := []byte("shared")
	if err := p.Add(Message{ID: "m1", Exchange: "ex", Body: body}); err != nil {
		t.Fatal(err)
	}
	fs := p.Poll(t0)
	if len(fs) != 1 || &fs[0].Body[0] != &body[0] {
		t.Fatal("Add copied the body; it documents keeping it by reference")
	}
}

func TestPublisherResolvedEntriesReleaseTheirBuffers(t *testing.T) {
	// Entries live in slabs; a resolved one must not pin its body while a
	// neighbour in the same slab is still pending.
	p := newPub(t, PublisherConfig{})
	for _, id := range []string{"a", "b"} {
		if err := p.AddCopy(Message{ID: id, Exchange: "ex", Body: bytes.Repeat([]byte{1}, 100)}); err != nil {
			t.Fatal(err)
		}
	}
	p.Poll(t0)
	ea := p.pending["a"]
	if p.HandleConfirm(wire.Confirm{First: 1, Last: 1}) != 1 {
		t.Fatal("confirm of seq 1 resolved nothing")
	}
	if ea.msg.Body != nil || ea.id != nil || ea.exchange != nil || ea.rkey != nil {
		t.Fatal("a resolved entry still references its buffers")
	}
	if rs := p.Resolutions(); len(rs) != 1 || rs[0].ID != "a" {
		t.Fatalf("resolutions = %+v, want a", rs)
	}
	if !p.IsPending("b") {
		t.Fatal("b was resolved too")
	}
}

func TestPublisherAddCopyAllocatesLittle(t *testing.T) {
	p := newPub(t, PublisherConfig{Window: 1 << 20})
	body := make([]byte, 512)
	ids := make([]string, 2000)
	for i := range ids {
		ids[i] = "id-" + string(rune('a'+i%26)) + string(rune('a'+i/26%26)) + string(rune('a'+i/676))
	}
	i := 0
	// Maps grow now and then; the per-message cost is the one buffer plus
	// a share of an entry slab.
	allocs := testing.AllocsPerRun(1000, func() {
		_ = p.AddCopy(Message{ID: ids[i], Exchange: "ex", RoutingKey: "rk", Body: body})
		i++
	})
	if allocs > 1.5 {
		t.Fatalf("AddCopy: %.2f allocations per message, want at most 1.5 (one buffer, a slab share, amortised map growth)", allocs)
	}
}

func TestPublisherAppendResolutionsReusesTheCallersSlice(t *testing.T) {
	p := newPub(t, PublisherConfig{}, "a", "b")
	p.Poll(t0)
	p.HandleConfirm(wire.Confirm{First: 1, Last: 1})
	dst := make([]Resolution, 0, 4)
	got := p.AppendResolutions(dst)
	if len(got) != 1 || got[0].ID != "a" || got[0].Outcome != Confirmed || &got[:1][0] != &dst[:1][0] {
		t.Fatalf("AppendResolutions = %+v, want a confirmed, in the given slice", got)
	}
	if again := p.AppendResolutions(got[:0]); len(again) != 0 {
		t.Fatalf("the same resolution came back: %+v", again)
	}
	p.HandleConfirm(wire.Confirm{First: 2, Last: 2})
	if rs := p.Resolutions(); len(rs) != 1 || rs[0].ID != "b" {
		t.Fatalf("Resolutions after AppendResolutions = %+v, want b", rs)
	}
}

func TestPublisherTokensComeBackInResolutionsAndPendingTokens(t *testing.T) {
	p := newPub(t, PublisherConfig{})
	for i, id := range []string{"a", "b", "c"} {
		if err := p.Add(Message{ID: id, Exchange: "ex", Token: i}); err != nil {
			t.Fatal(err)
		}
	}
	p.Poll(t0)
	p.HandleConfirm(wire.Confirm{First: 2, Last: 2})
	if rs := p.Resolutions(); len(rs) != 1 || rs[0].ID != "b" || rs[0].Token != 1 {
		t.Fatalf("resolutions = %+v, want b with token 1", rs)
	}
	got := p.PendingTokens(nil)
	if len(got) != 2 || got[0] != 0 || got[1] != 2 {
		t.Fatalf("PendingTokens = %v, want [0 2] in add order", got)
	}
}

func TestConsumerRecordsLeavingOutstandingAreZeroed(t *testing.T) {
	// Records live in slabs; one that left outstanding must not keep its
	// id (which may share a buffer with a whole body) alive.
	c := NewConsumer(ConsumerConfig{})
	c.Connected()
	var recs []*inDelivery
	for tag := uint64(1); tag <= 3; tag++ {
		d := &wire.Deliver{DeliveryTag: tag, MessageID: []byte{'m', byte('0' + tag)}}
		ref, dec := c.HandleSeenID(d, string(d.MessageID), nil)
		if dec != Process {
			t.Fatalf("tag %d: %v", tag, dec)
		}
		recs = append(recs, c.outstanding[tag])
		res := Stored
		if tag == 3 {
			res = Transient
		}
		if err := c.Settle(ref, res); err != nil {
			t.Fatal(err)
		}
	}
	if got := c.Poll(); len(got) != 2 {
		t.Fatalf("Poll = %+v, want a multiple ack and a nack", got)
	}
	for i, r := range recs {
		if r.id != "" || r.twins != nil {
			t.Fatalf("record %d still holds id %q / twins %v after leaving outstanding", i+1, r.id, r.twins)
		}
	}
	d := &wire.Deliver{DeliveryTag: 4, MessageID: []byte("m4")}
	c.HandleSeenID(d, "m4", nil)
	r := c.outstanding[4]
	c.Disconnected()
	if r.id != "" {
		t.Fatal("a record forgotten by Disconnected still holds its id")
	}
}

func TestConsumerHandleSeenIDRefusesAnotherID(t *testing.T) {
	c := NewConsumer(ConsumerConfig{})
	c.Connected()
	defer func() {
		if recover() == nil {
			t.Fatal("HandleSeenID with an id that is not the frame's did not panic")
		}
	}()
	c.HandleSeenID(&wire.Deliver{DeliveryTag: 1, MessageID: []byte("a")}, "b", nil)
}

func TestPublisherReusesResolvedBuffersAndEntries(t *testing.T) {
	// In steady state (add, send, confirm) a publish allocates nothing: the
	// entry and the buffer of a confirmed message serve the next one.
	p := newPub(t, PublisherConfig{Window: 8})
	body := make([]byte, 512)
	var rs []Resolution
	i := 0
	step := func() {
		body[0] = byte(i)
		id := ids512[i%len(ids512)]
		i++
		if err := p.AddCopy(Message{ID: id, Exchange: "ex", RoutingKey: "rk", Body: body}); err != nil {
			t.Fatal(err)
		}
		fs := p.Poll(t0)
		if len(fs) != 1 || string(fs[0].MessageID) != id || fs[0].Body[0] != byte(i-1) || string(fs[0].Exchange) != "ex" || string(fs[0].RoutingKey) != "rk" {
			t.Fatalf("frame %d carries id %q body[0] %d, want %q and %d", i, fs[0].MessageID, fs[0].Body[0], id, byte(i-1))
		}
		p.HandleConfirm(wire.Confirm{First: fs[0].Seq, Last: fs[0].Seq})
		rs = p.AppendResolutions(rs[:0])
		if len(rs) != 1 || rs[0].ID != id {
			t.Fatalf("resolutions %+v, want %q", rs, id)
		}
	}
	for range 100 { // warm up: maps, scratch slices and the first slab
		step()
	}
	if allocs := testing.AllocsPerRun(1000, step); allocs != 0 {
		t.Fatalf("%.1f allocations per confirmed AddCopy in steady state, want 0", allocs)
	}
}

var ids512 = func() []string {
	ids := make([]string, 512)
	for i := range ids {
		ids[i] = "id-" + string(rune('a'+i%26)) + string(rune('a'+i/26))
	}
	return ids
}()

func TestPublisherReusedEntryOnTheDueListIsSentOnce(t *testing.T) {
	// An entry confirmed after its timeout put it on the due list stays
	// there until the next Poll, and the next add reuses it: that Poll
	// must send the new message once, not once as a resend and once as new.
	p := newPub(t, PublisherConfig{Window: 4, ConfirmTimeout: time.Second, Jitter: -1})
	if err := p.AddCopy(Message{ID: "a", Exchange: "ex", Body: []byte("a")}); err != nil {
		t.Fatal(err)
	}
	first := p.Poll(t0)
	p.Tick(t0.Add(2 * time.Second)) // "a" is overdue: on the due list
	if p.HandleConfirm(wire.Confirm{First: first[0].Seq, Last: first[0].Seq}) != 1 {
		t.Fatal("the confirm resolved nothing")
	}
	if err := p.AddCopy(Message{ID: "b", Exchange: "ex", Body: []byte("b")}); err != nil {
		t.Fatal(err)
	}
	fs := p.Poll(t0.Add(2 * time.Second))
	if len(fs) != 1 || string(fs[0].MessageID) != "b" {
		ids := make([]string, len(fs))
		for i, f := range fs {
			ids[i] = string(f.MessageID)
		}
		t.Fatalf("Poll sent %q, want [b] once", ids)
	}
}

func TestConsumerReusesForgottenRecords(t *testing.T) {
	// A delivery acked and sent forgets its record; the next delivery
	// takes it, so the steady state allocates nothing per delivery.
	c := NewConsumer(ConsumerConfig{Prefetch: 8})
	c.Connected()
	d := wire.Deliver{Body: []byte("body")}
	idBytes := make([][]byte, len(ids512))
	for i, id := range ids512 {
		idBytes[i] = []byte(id)
	}
	tag := uint64(0)
	step := func() {
		tag++
		i := tag % uint64(len(ids512))
		id := ids512[i]
		d.DeliveryTag, d.MessageID = tag, idBytes[i]
		ref, dec := c.HandleSeenID(&d, id, nil)
		if dec != Process {
			t.Fatalf("delivery %d: decision %v", tag, dec)
		}
		if err := c.Settle(ref, Stored); err != nil {
			t.Fatal(err)
		}
		if out := c.Poll(); len(out) != 1 || out[0].DeliveryTag != tag {
			t.Fatalf("delivery %d: settlements %+v", tag, out)
		}
	}
	for range 100 {
		step()
	}
	// Records come from slabs of 64, so an allocation count per delivery
	// would round a missing reuse down to 0: check the record itself.
	step()
	tag++
	d.DeliveryTag, d.MessageID = tag, idBytes[0]
	if len(c.free) == 0 {
		t.Fatal("no forgotten record kept for reuse")
	}
	before := c.free[len(c.free)-1]
	if _, dec := c.HandleSeenID(&d, ids512[0], nil); dec != Process {
		t.Fatalf("decision %v", dec)
	}
	if c.outstanding[tag] != before {
		t.Fatal("a new delivery got a fresh record while a forgotten one was free")
	}
}
