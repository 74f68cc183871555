package engine

// seqIndex maps the current connection's sequence numbers to their entries.
// Sequence numbers are handed out one after the other and mostly confirmed
// in order, so a slice indexed by (seq - base) replaces a map: no hashing,
// and a range is walked in order without sorting. Slots of answered
// numbers are nil; the front advances over them.
type seqIndex struct {
	slots []*pubEntry // slots[head] is sequence number base
	head  int
	base  uint64
}

func (x *seqIndex) width() int { return len(x.slots) - x.head }

// reset forgets every number (a connection ended).
func (x *seqIndex) reset() {
	clear(x.slots)
	x.slots, x.head, x.base = x.slots[:0], 0, 0
}

// put records e for seq, the next number after the newest one.
func (x *seqIndex) put(seq uint64, e *pubEntry) {
	if x.width() == 0 {
		x.slots, x.head, x.base = x.slots[:0], 0, seq
	} else if seq != x.base+uint64(x.width()) {
		panic("engine: sequence numbers must be indexed consecutively")
	}
	x.slots = append(x.slots, e)
}

// get returns the entry of seq, or nil.
func (x *seqIndex) get(seq uint64) *pubEntry {
	if seq < x.base || seq-x.base >= uint64(x.width()) {
		return nil
	}
	return x.slots[x.head+int(seq-x.base)]
}

// del forgets seq.
func (x *seqIndex) del(seq uint64) {
	if seq < x.base || seq-x.base >= uint64(x.width()) {
		return
	}
	x.slots[x.head+int(seq-x.base)] = nil
	for x.head < len(x.slots) && x.slots[x.head] == nil {
		x.head++
		x.base++
	}
	if x.head == len(x.slots) {
		x.slots, x.head = x.slots[:0], 0
	} else if x.head > 1024 && x.head > len(x.slots)/2 {
		n := copy(x.slots, x.slots[x.head:])
		clear(x.slots[n:])
		x.slots, x.head = x.slots[:n], 0
	}
}

// span clamps [first, last] to the numbers the index may hold, so a hostile
// range near 2^64 costs no more than what is in flight.
func (x *seqIndex) span(first, last uint64) (lo, hi uint64, ok bool) {
	return clampSpan(x.base, uint64(x.width()), first, last)
}
