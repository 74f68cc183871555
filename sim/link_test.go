package sim

import (
	"bytes"
	"encoding/binary"
	"testing"
	"time"
)

// tap is a test endpoint that keeps what it receives.
type tap struct {
	who    string
	got    [][]byte
	broken []*Conn
	// hooks, when set, run on each callback (to note the time).
	onBytesHook, onBrokenHook func()
}

func (r *tap) name() string { return r.who }
func (r *tap) onBytes(_ *Conn, b []byte) {
	r.got = append(r.got, append([]byte(nil), b...))
	if r.onBytesHook != nil {
		r.onBytesHook()
	}
}
func (r *tap) onBroken(c *Conn) {
	r.broken = append(r.broken, c)
	if r.onBrokenHook != nil {
		r.onBrokenHook()
	}
}

func (r *tap) joined() []byte { return bytes.Join(r.got, nil) }

// frame builds one native-format frame of type typ with payload p.
func frame(typ byte, p []byte) []byte {
	b := binary.BigEndian.AppendUint32(nil, uint32(len(p)+1))
	b = append(b, typ)
	return append(b, p...)
}

func dialed(t *testing.T, w *World, l *Link) (*Conn, *tap, *tap) {
	t.Helper()
	cl, sv := &tap{who: "client"}, &tap{who: "broker"}
	var c *Conn
	w.net.dial(l, cl, sv, func(nc *Conn) { c = nc }, func() { t.Fatal("dial failed on a healthy link") })
	w.runUntil(1<<62, nil)
	if c == nil {
		t.Fatal("dial never completed")
	}
	return c, cl, sv
}

func TestTCPLinkDeliversInOrderAcrossSplitSegments(t *testing.T) {
	w := newWorld(3, nil)
	l := &Link{Name: "l", Mode: LinkTCP, Faults: LinkFaults{DelayMin: time.Microsecond, DelayMax: time.Millisecond, Split: 0.9}}
	c, _, sv := dialed(t, w, l)
	var want []byte
	for i := 0; i < 50; i++ {
		f := frame(byte(i), bytes.Repeat([]byte{byte(i)}, i+3))
		want = append(want, f...)
		w.net.send(c, up, f)
		w.after(time.Duration(i)*time.Microsecond, func() {})
		w.sched.step()
	}
	w.runUntil(1<<62, nil)
	if !bytes.Equal(sv.joined(), want) {
		t.Fatal("TCP link reordered, lost or changed bytes")
	}
	if len(sv.got) <= 50 {
		t.Fatalf("expected writes to be split into more segments than writes, got %d segments", len(sv.got))
	}
}

func TestTCPBreakLosesInFlightAndTellsBothEnds(t *testing.T) {
	w := newWorld(4, nil)
	l := &Link{Name: "l", Mode: LinkTCP, Faults: LinkFaults{DelayMin: time.Millisecond, DelayMax: time.Millisecond,
		DetectMin: time.Millisecond, DetectMax: 5 * time.Millisecond}}
	c, cl, sv := dialed(t, w, l)
	w.net.send(c, up, frame(1, []byte("lost")))
	w.net.breakConn(c, "test")
	w.net.send(c, up, frame(1, []byte("after")))
	w.runUntil(1<<62, nil)
	if len(sv.got) != 0 {
		t.Fatalf("bytes in flight or sent after a break arrived: %q", sv.joined())
	}
	if len(cl.broken) != 1 || len(sv.broken) != 1 {
		t.Fatalf("break notices: client %d, broker %d; want 1 each", len(cl.broken), len(sv.broken))
	}
}

func TestCrashedEndIsNotToldOfTheBreak(t *testing.T) {
	w := newWorld(5, nil)
	l := &Link{Name: "l", Mode: LinkTCP}
	c, cl, sv := dialed(t, w, l)
	w.net.closeFrom(c, sideClient, "crash")
	w.runUntil(1<<62, nil)
	if len(cl.broken) != 0 || len(sv.broken) != 1 {
		t.Fatalf("break notices: client %d (crashed, want 0), broker %d (want 1)", len(cl.broken), len(sv.broken))
	}
}

func TestTCPPartitionBreaksTheConnectionAndBlocksDials(t *testing.T) {
	w := newWorld(6, nil)
	l := &Link{Name: "l", Mode: LinkTCP}
	c, _, sv := dialed(t, w, l)
	l.blocked[down] = true // one-way is enough to stall TCP
	w.net.send(c, down, frame(1, []byte("x")))
	w.runUntil(1<<62, nil)
	if !c.broken || len(sv.broken) != 1 {
		t.Fatal("a partitioned TCP connection must break")
	}
	failed := false
	w.net.dial(l, &tap{}, sv, func(*Conn) { t.Fatal("dial succeeded across a partition") }, func() { failed = true })
	w.runUntil(1<<62, nil)
	if !failed {
		t.Fatal("dial across a partition never failed")
	}
}

func TestDatagramLinkDropsDuplicatesAndReordersFrames(t *testing.T) {
	w := newWorld(7, nil)
	l := &Link{Name: "l", Mode: LinkDatagram, Faults: LinkFaults{DelayMin: time.Microsecond, DelayMax: 10 * time.Microsecond,
		Drop: 0.2, Duplicate: 0.2, Reorder: 0.3, ReorderDelay: time.Millisecond}}
	c, _, sv := dialed(t, w, l)
	hello := append([]byte("PREAMBLE"), frame(0x01, []byte("hello"))...)
	w.net.send(c, up, hello)
	var batch []byte
	for i := 0; i < 200; i++ {
		batch = append(batch, frame(0x20, []byte{byte(i)})...)
	}
	w.net.send(c, up, batch)
	w.runUntil(1<<62, nil)
	if !bytes.Equal(sv.got[0], hello) {
		t.Fatalf("handshake datagram must arrive first and whole, got %q", sv.got[0])
	}
	seen := map[byte]int{}
	inOrder := true
	last := -1
	for _, g := range sv.got[1:] {
		if len(g) != 6 {
			t.Fatalf("datagram is not exactly one frame: % x", g)
		}
		seen[g[5]]++
		if int(g[5]) < last {
			inOrder = false
		}
		last = int(g[5])
	}
	dups := 0
	for _, n := range seen {
		if n > 1 {
			dups++
		}
	}
	if len(seen) >= 200 || dups == 0 || inOrder {
		t.Fatalf("expected drops, duplicates and reordering; got %d distinct of 200, %d duplicated, in order %v", len(seen), dups, inOrder)
	}
}

func TestDatagramOneWayPartitionBlocksOnlyOneDirection(t *testing.T) {
	w := newWorld(8, nil)
	l := &Link{Name: "l", Mode: LinkDatagram}
	c, cl, sv := dialed(t, w, l)
	w.net.send(c, up, append([]byte("PREAMBLE"), frame(1, nil)...))
	w.net.send(c, down, frame(2, nil)) // handshake reply: reliable
	w.runUntil(1<<62, nil)
	l.blocked[down] = true
	w.net.send(c, up, frame(3, nil))
	w.net.send(c, down, frame(4, nil))
	w.runUntil(1<<62, nil)
	if len(sv.got) != 2 || len(cl.got) != 1 {
		t.Fatalf("one-way partition: broker got %d datagrams (want 2), client %d (want 1)", len(sv.got), len(cl.got))
	}
	if c.broken {
		t.Fatal("a datagram link does not break on a partition")
	}
}

func TestCloseFlushesWhatTheClosingSideSent(t *testing.T) {
	w := newWorld(10, nil)
	l := &Link{Name: "l", Mode: LinkTCP, Faults: LinkFaults{DelayMin: time.Millisecond, DelayMax: 3 * time.Millisecond,
		DetectMin: time.Millisecond, DetectMax: time.Millisecond}}
	c, cl, sv := dialed(t, w, l)
	last := frame(1, []byte("last words"))
	w.net.send(c, up, last)
	w.net.send(c, down, frame(2, []byte("too late")))
	w.net.closeFrom(c, sideClient, "crash")
	w.net.send(c, up, frame(3, []byte("after close")))
	var brokeAt, arrivedAt VTime
	sv.onBrokenHook = func() { brokeAt = w.Now() }
	sv.onBytesHook = func() { arrivedAt = w.Now() }
	w.runUntil(1<<62, nil)
	if !bytes.Equal(sv.joined(), last) {
		t.Fatalf("broker got %q, want exactly what the client sent before closing", sv.joined())
	}
	if len(cl.got) != 0 || len(cl.broken) != 0 {
		t.Fatal("the closed side was still handed bytes or told of the close")
	}
	if len(sv.broken) != 1 || brokeAt < arrivedAt {
		t.Fatalf("broker told of the close %d times, at %v (last byte at %v); want once, after the last byte", len(sv.broken), brokeAt, arrivedAt)
	}
}
