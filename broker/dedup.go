package broker

import "time"

// dedupWindow remembers the message ids accepted recently, bounded both by
// age (window) and by count (max): a FIFO of (id, accepted-at) in
// acceptance order plus a set for lookups. An id is recorded only when it is
// not already present, so it appears in the FIFO at most once.
type dedupWindow struct {
	window time.Duration // <= 0: disabled
	max    int
	ids    map[string]struct{}
	fifo   []dedupEntry
	head   int
}

type dedupEntry struct {
	id string
	at time.Time
}

func newDedupWindow(window time.Duration, max int) dedupWindow {
	return dedupWindow{window: window, max: max, ids: make(map[string]struct{})}
}

func (d *dedupWindow) enabled() bool { return d.window > 0 }

// seen reports whether id was accepted within the window before now.
func (d *dedupWindow) seen(id []byte, now time.Time) bool {
	if !d.enabled() {
		return false
	}
	d.expire(now)
	_, ok := d.ids[string(id)]
	return ok
}

// record remembers an accepted id. The caller has checked seen first.
func (d *dedupWindow) record(id string, now time.Time) {
	if !d.enabled() {
		return
	}
	if _, dup := d.ids[id]; dup {
		panic("broker: recording message id " + id + " twice in the dedup window")
	}
	d.ids[id] = struct{}{}
	d.fifo = append(d.fifo, dedupEntry{id: id, at: now})
	for len(d.ids) > d.max {
		d.popFront()
	}
}

// expire forgets ids accepted at or before now-window.
func (d *dedupWindow) expire(now time.Time) {
	for d.head < len(d.fifo) && !now.Before(d.fifo[d.head].at.Add(d.window)) {
		d.popFront()
	}
}

func (d *dedupWindow) popFront() {
	delete(d.ids, d.fifo[d.head].id)
	d.fifo[d.head] = dedupEntry{}
	d.head++
	n := len(d.fifo) - d.head
	if n == 0 {
		d.fifo, d.head = d.fifo[:0], 0
	} else if d.head > 1024 && d.head > n {
		copy(d.fifo, d.fifo[d.head:])
		clear(d.fifo[n:])
		d.fifo, d.head = d.fifo[:n], 0
	}
}

// nextExpiry is when the oldest remembered id leaves the window.
func (d *dedupWindow) nextExpiry() (time.Time, bool) {
	if d.head >= len(d.fifo) {
		return time.Time{}, false
	}
	return d.fifo[d.head].at.Add(d.window), true
}

func (d *dedupWindow) len() int { return len(d.ids) }
