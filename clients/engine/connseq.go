package engine

// seqRing maps a connection's publish sequence numbers to the publisher
// that sent each one and that publisher's own number. The connection hands
// sequence numbers out one after the other and the broker confirms them
// roughly in order, so a slice indexed by (seq - base) does the job of a map
// with no hashing: adding is an append, taking one clears its slot, and the
// front advances over cleared slots.
type seqRing struct {
	refs []seqRef // refs[head] is sequence number base
	head int
	base uint64
}

// reset forgets every entry; the next add may start anywhere.
func (r *seqRing) reset() {
	clear(r.refs)
	r.refs, r.head, r.base = r.refs[:0], 0, 0
}

// len is how many slots lie between the oldest untaken entry and the
// newest one (taken slots in between included).
func (r *seqRing) len() int { return len(r.refs) - r.head }

// add records ref for seq. Sequence numbers must be added in increasing,
// consecutive order within a session.
func (r *seqRing) add(seq uint64, ref seqRef) {
	if r.len() == 0 {
		r.refs, r.head, r.base = r.refs[:0], 0, seq
	} else if seq != r.base+uint64(r.len()) {
		panic("engine: publish sequence numbers must be added consecutively")
	}
	r.refs = append(r.refs, ref)
}

// take removes and returns the entry of seq, if there is one.
func (r *seqRing) take(seq uint64) (seqRef, bool) {
	if seq < r.base || seq-r.base >= uint64(r.len()) {
		return seqRef{}, false
	}
	i := r.head + int(seq-r.base)
	ref := r.refs[i]
	if ref.pub == nil {
		return seqRef{}, false
	}
	r.refs[i] = seqRef{}
	r.advance()
	return ref, true
}

// span clamps [first, last] to the sequence numbers the ring may hold, so
// a hostile range near 2^64 costs no more than what is in flight. ok is
// false when nothing can match.
func (r *seqRing) span(first, last uint64) (lo, hi uint64, ok bool) {
	return clampSpan(r.base, uint64(r.len()), first, last)
}

// clampSpan clamps [first, last] to the n numbers from base on (seqRing
// and seqIndex hold such a window).
func clampSpan(base, n, first, last uint64) (lo, hi uint64, ok bool) {
	if n == 0 || first > last {
		return 0, 0, false
	}
	end := base + n - 1
	if last < base || first > end {
		return 0, 0, false
	}
	return max(first, base), min(last, end), true
}

// advance moves the front over taken slots and compacts the slice once the
// dead prefix is the larger part.
func (r *seqRing) advance() {
	for r.head < len(r.refs) && r.refs[r.head].pub == nil {
		r.head++
		r.base++
	}
	if r.head == len(r.refs) {
		r.refs, r.head = r.refs[:0], 0
		return
	}
	if r.head > 1024 && r.head > len(r.refs)/2 {
		n := copy(r.refs, r.refs[r.head:])
		clear(r.refs[n:])
		r.refs, r.head = r.refs[:n], 0
	}
}

// seqRef is one entry of a seqRing: the publisher that sent a connection
// sequence number, and the number its own engine gave the frame.
type seqRef struct {
	pub   *Publisher
	local uint64
}
