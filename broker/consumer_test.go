package broker

import (
	"fmt"
	"testing"
	"time"
)

func TestConsumeRefusals(t *testing.T) {
	tests := []struct {
		name string
		conn ConnID
		opts ConsumeOptions
		code Code
	}{
		{"connection not open", 9, ConsumeOptions{Queue: "q"}, CodeProtocol},
		{"unknown queue", 1, ConsumeOptions{Queue: "nope"}, CodeQueueNotFound},
		{"negative prefetch", 1, ConsumeOptions{Queue: "q", Prefetch: -1}, CodeInvalidArgument},
		{"negative ack timeout", 1, ConsumeOptions{Queue: "q", AckTimeout: -time.Second}, CodeInvalidArgument},
		{"tag in use", 1, ConsumeOptions{Queue: "q", Tag: "taken"}, CodeInUse},
		{"tag with space", 1, ConsumeOptions{Queue: "q", Tag: "a b"}, CodeInvalidArgument},
		{"consumer limit", 1, ConsumeOptions{Queue: "q"}, CodeResourceLimit},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, Config{MaxConsumers: 2})
			h.topology("q")
			h.open(1)
			h.consume(1, ConsumeOptions{Queue: "q", Tag: "taken"})
			if tc.code == CodeResourceLimit {
				h.consume(1, ConsumeOptions{Queue: "q"})
			}
			before := h.c.Stats().Consumers
			_, err := h.c.Consume(tc.conn, tc.opts, h.now)
			wantCode(t, err, tc.code)
			h.check()
			if got := h.c.Stats().Consumers; got != before {
				t.Fatalf("refused consume changed the consumer count %d → %d", before, got)
			}
		})
	}
}

func TestConsumeGeneratedTagsAreUnique(t *testing.T) {
	h := newHarness(t, Config{})
	h.topology("q")
	h.open(1)
	h.consume(1, ConsumeOptions{Queue: "q", Tag: "ctag-2"}) // squats a generated name
	seen := map[string]bool{"ctag-2": true}
	for i := 0; i < 3; i++ {
		tag, _ := h.consume(1, ConsumeOptions{Queue: "q"})
		if seen[tag] {
			t.Fatalf("generated tag %s twice", tag)
		}
		seen[tag] = true
	}
}

func TestPrefetchAndRoundRobin(t *testing.T) {
	h := newHarness(t, Config{})
	h.topology("q")
	h.open(1)
	h.open(2)
	h.consume(1, ConsumeOptions{Queue: "q", Tag: "a", Prefetch: 1})
	h.consume(2, ConsumeOptions{Queue: "q", Tag: "b", Prefetch: 2})
	var got []string
	for i := 1; i <= 5; i++ {
		for _, d := range h.mustConfirm(1, "x", "q", fmt.Sprint("m", i), "") {
			got = append(got, d.ConsumerTag+":"+d.MessageID)
		}
	}
	// a takes m1 and is full; b takes m2, m3 and is full; m4, m5 wait.
	want := []string{"a:m1", "b:m2", "b:m3"}
	if !equalStrings(got, want) {
		t.Fatalf("deliveries %v, want %v", got, want)
	}
	if s := h.stats("q"); s.Ready != 2 || s.Unacked != 3 {
		t.Fatalf("stats %+v, want 2 ready 3 unacked", s)
	}
	// Acking a's delivery frees a: it gets the next one.
	ds := h.ack(1, 1, false)
	if len(ds) != 1 || ds[0].ConsumerTag != "a" || ds[0].MessageID != "m4" || ds[0].Tag != 2 {
		t.Fatalf("after ack: %+v, want m4 to a with tag 2", ds)
	}
}

func TestRoundRobinAlternates(t *testing.T) {
	h := newHarness(t, Config{})
	h.topology("q")
	h.open(1)
	for _, tag := range []string{"a", "b", "c"} {
		h.consume(1, ConsumeOptions{Queue: "q", Tag: tag})
	}
	var got []string
	for i := 0; i < 6; i++ {
		ds := h.mustConfirm(1, "x", "q", fmt.Sprint("m", i), "")
		got = append(got, ds[0].ConsumerTag)
	}
	if !equalStrings(got, []string{"a", "b", "c", "a", "b", "c"}) {
		t.Fatalf("consumers in turn %v", got)
	}
	// Cancelling b keeps the rotation fair between the others.
	if err := h.c.Cancel(1, "b", h.now); err != nil {
		t.Fatal(err)
	}
	got = nil
	for i := 6; i < 10; i++ {
		ds := h.mustConfirm(1, "x", "q", fmt.Sprint("m", i), "")
		got = append(got, ds[0].ConsumerTag)
	}
	if !equalStrings(got, []string{"a", "c", "a", "c"}) {
		t.Fatalf("after cancel %v", got)
	}
}

func TestDeliveryTagsPerConnection(t *testing.T) {
	h := newHarness(t, Config{})
	h.topology("q", "r")
	h.open(1)
	h.open(2)
	h.consume(1, ConsumeOptions{Queue: "q"})
	h.consume(2, ConsumeOptions{Queue: "r"})
	var tags1, tags2 []uint64
	for i := 0; i < 3; i++ {
		d := h.mustConfirm(1, "x", "q", fmt.Sprint("q", i), "")[0]
		tags1 = append(tags1, d.Tag)
		d = h.mustConfirm(1, "x", "r", fmt.Sprint("r", i), "")[0]
		tags2 = append(tags2, d.Tag)
	}
	h.mustConfirm(1, "x", "r", "extra", "")
	h.c.Cancel(2, "ctag-1", h.now)
	h.mustConfirm(1, "x", "r", "fetched", "")
	fd, _ := h.fetch(2, "r")
	tags2 = append(tags2, fd.Tag)
	want1 := []uint64{1, 2, 3}
	want2 := []uint64{1, 2, 3, 5}
	if fmt.Sprint(tags1) != fmt.Sprint(want1) || fmt.Sprint(tags2) != fmt.Sprint(want2) {
		t.Fatalf("tags %v %v, want %v %v", tags1, tags2, want1, want2)
	}
}

func TestAckRefusals(t *testing.T) {
	tests := []struct {
		name     string
		conn     ConnID
		tag      uint64
		multiple bool
		code     Code
	}{
		{"connection not open", 9, 1, false, CodeProtocol},
		{"tag zero", 1, 0, false, CodeUnknownDeliveryTag},
		{"never issued", 1, 99, false, CodeUnknownDeliveryTag},
		{"never issued multiple", 1, 99, true, CodeUnknownDeliveryTag},
		{"already acked", 1, 1, false, CodeUnknownDeliveryTag},
		{"multiple with none outstanding", 1, 1, true, CodeUnknownDeliveryTag},
		{"other connection's tag", 2, 2, false, CodeUnknownDeliveryTag},
	}
	for _, tc := range tests {
		for _, op := range []string{"ack", "nack", "reject"} {
			if op == "reject" && tc.multiple {
				continue // reject has no multiple form
			}
			t.Run(tc.name+"/"+op, func(t *testing.T) {
				h := newHarness(t, Config{})
				h.topology("q")
				h.open(1)
				h.open(2)
				h.mustConfirm(1, "x", "q", "m1", "")
				h.mustConfirm(1, "x", "q", "m2", "")
				d1, _ := h.fetch(1, "q")
				h.fetch(1, "q") // tag 2 stays outstanding on connection 1
				h.ack(1, d1.Tag, false)
				before := h.c.Held()
				var err error
				switch op {
				case "ack":
					err = h.c.Ack(tc.conn, tc.tag, tc.multiple, h.now)
				case "nack":
					err = h.c.Nack(tc.conn, tc.tag, tc.multiple, true, h.now)
				case "reject":
					err = h.c.Reject(tc.conn, tc.tag, h.now)
				}
				wantCode(t, err, tc.code)
				h.check()
				if after := h.c.Held(); fmt.Sprint(after) != fmt.Sprint(before) {
					t.Fatalf("refused %s changed state: %+v → %+v", op, before, after)
				}
			})
		}
	}
}

func TestAckMultiple(t *testing.T) {
	h := newHarness(t, Config{})
	h.topology("q")
	h.open(1)
	for i := 1; i <= 5; i++ {
		h.mustConfirm(1, "x", "q", fmt.Sprint("m", i), "")
	}
	for i := 0; i < 5; i++ {
		h.fetch(1, "q")
	}
	h.ack(1, 2, false)
	// Tag 2 is settled; multiple up to 4 covers 1, 3 and 4.
	h.ack(1, 4, true)
	held := h.c.Held()
	if len(held) != 1 || held[0].MessageID != "m5" || held[0].Tag != 5 {
		t.Fatalf("held %+v, want only m5 (tag 5)", held)
	}
	if s := h.stats("q"); s.Acked != 4 || s.Unacked != 1 {
		t.Fatalf("stats %+v", s)
	}
	wantCode(t, h.c.Ack(1, 4, true, h.now), CodeUnknownDeliveryTag)
}

func TestCancelKeepsDeliveriesOutstanding(t *testing.T) {
	h := newHarness(t, Config{})
	h.topology("q")
	h.open(1)
	tag, _ := h.consume(1, ConsumeOptions{Queue: "q", Prefetch: 2})
	d1 := h.mustConfirm(1, "x", "q", "m1", "")[0]
	h.mustConfirm(1, "x", "q", "m2", "")
	if err := h.c.Cancel(1, tag, h.now); err != nil {
		t.Fatal(err)
	}
	h.check()
	wantCode(t, h.c.Cancel(1, tag, h.now), CodeConsumerNotFound)
	wantCode(t, h.c.Cancel(9, tag, h.now), CodeProtocol)
	// No more pushes to the cancelled consumer.
	if ds := h.mustConfirm(1, "x", "q", "m3", ""); len(ds) != 0 {
		t.Fatalf("cancelled consumer got %v", ids(ds))
	}
	h.ack(1, d1.Tag, false)
	if s := h.stats("q"); s.Unacked != 1 || s.Ready != 1 || s.Consumers != 0 {
		t.Fatalf("stats %+v", s)
	}
	// Closing the connection requeues what is still outstanding.
	h.close(1)
	if got := h.readyIDs("q"); !equalStrings(got, []string{"m2", "m3"}) {
		t.Fatalf("ready after close %v, want [m2 m3]", got)
	}
}

func TestFetch(t *testing.T) {
	h := newHarness(t, Config{})
	h.topology("q")
	h.open(1)
	if _, ok := h.fetch(1, "q"); ok {
		t.Fatal("fetch from an empty queue returned a message")
	}
	_, _, err := h.c.Fetch(1, "nope", h.now)
	wantCode(t, err, CodeQueueNotFound)
	_, _, err = h.c.Fetch(9, "q", h.now)
	wantCode(t, err, CodeProtocol)
	h.mustConfirm(1, "x", "q", "m1", "body")
	d, ok := h.fetch(1, "q")
	if !ok || d.ConsumerTag != "" || d.MessageID != "m1" || d.DeliveryCount != 1 || d.Redelivered || d.Queue != "q" {
		t.Fatalf("fetched %+v", d)
	}
	if s := h.stats("q"); s.Unacked != 1 || s.Ready != 0 || s.Delivered != 1 {
		t.Fatalf("stats after fetch %+v", s)
	}
	if _, ok := h.fetch(1, "q"); ok {
		t.Fatal("an unacked message was fetched twice")
	}
	h.ack(1, d.Tag, false)
	if s := h.stats("q"); s.Unacked != 0 || s.Acked != 1 || s.Bytes != 0 {
		t.Fatalf("stats after ack %+v", s)
	}
}

func TestConnectionLifecycle(t *testing.T) {
	h := newHarness(t, Config{})
	h.open(1)
	defer func() {
		if recover() == nil {
			t.Fatal("opening an open connection did not panic")
		}
	}()
	h.close(7) // unknown: no-op
	if h.c.Stats().Connections != 1 {
		t.Fatal("closing an unknown connection changed the count")
	}
	h.open(1)
}
