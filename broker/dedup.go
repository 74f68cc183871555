package broker

import (
	"encoding/binary"
	"math/bits"
	"slices"
	"time"
)

// dedupWindow remembers the message ids accepted recently, bounded both by
// age (window) and by count (max): a FIFO of (id key, accepted-at) in
// acceptance order plus a set for lookups. An id is recorded only when it is
// not already present, so it appears in the FIFO at most once.
//
// Ids are remembered by a 128-bit key (two independently seeded 64-bit
// hashes), not by the id bytes: the set and the FIFO then hold no pointers,
// so the garbage collector never scans them (they hold up to 250,000
// entries) and remembering an id costs no allocation. A false "duplicate"
// needs a 128-bit collision among ids inside one window (odds around 2^-90
// for a full window), and forging one gains a publisher nothing that
// publishing the victim's own id would not.
type dedupWindow struct {
	window time.Duration // <= 0: disabled
	max    int
	ids    idSet
	fifo   []dedupEntry
	head   int
	// touched keeps the early load in seen from being optimised away.
	touched uint64
	// total, if set, counts the ids of every window of a dedupScopes (the
	// core's memory accounting).
	total *int64
}

type dedupKey [2]uint64

type dedupEntry struct {
	key dedupKey
	at  int64 // UnixNano of acceptance
}

func newDedupWindow(window time.Duration, max int) dedupWindow {
	return dedupWindow{window: window, max: max}
}

func (d *dedupWindow) enabled() bool { return d.window > 0 }

// seen reports whether id was accepted within the window before now. It
// also returns the id's key for a following record.
func (d *dedupWindow) seen(id []byte, now time.Time) (bool, dedupKey) {
	if !d.enabled() {
		return false, dedupKey{}
	}
	d.expire(now)
	k := keyOf(id)
	if d.ids.len() >= d.max && d.head < len(d.fifo) {
		// The record that follows will evict the oldest id, a random slot
		// of a table far larger than the caches. Load that slot now, next
		// to the lookup's own random load, so the CPU waits for both
		// cache misses at once instead of one after the other.
		d.touched ^= d.ids.slotOf(d.fifo[d.head].key)[0]
	}
	return d.ids.contains(k), k
}

// record remembers an accepted id by the key seen returned; the caller
// has checked seen first.
func (d *dedupWindow) record(k dedupKey, now time.Time) {
	if !d.enabled() {
		return
	}
	if !d.ids.insert(k) {
		panic("broker: recording a message id twice in the dedup window")
	}
	d.fifo = append(d.fifo, dedupEntry{key: k, at: now.UnixNano()})
	if d.total != nil {
		*d.total++
	}
	for d.ids.len() > d.max {
		d.popFront()
	}
}

// expire forgets ids accepted at or before now-window.
func (d *dedupWindow) expire(now time.Time) {
	cutoff := now.Add(-d.window).UnixNano()
	for d.head < len(d.fifo) && d.fifo[d.head].at <= cutoff {
		d.popFront()
	}
}

func (d *dedupWindow) popFront() {
	if !d.ids.remove(d.fifo[d.head].key) {
		panic("broker: dedup FIFO entry missing from the id set")
	}
	if d.total != nil {
		*d.total--
	}
	d.head++
	n := len(d.fifo) - d.head
	if n == 0 {
		d.fifo, d.head = d.fifo[:0], 0
	} else if d.head > 1024 && d.head > n {
		copy(d.fifo, d.fifo[d.head:])
		d.fifo, d.head = d.fifo[:n], 0
	}
}

// nextExpiry is when the oldest remembered id leaves the window.
func (d *dedupWindow) nextExpiry() (time.Time, bool) {
	if !d.enabled() || d.head >= len(d.fifo) {
		return time.Time{}, false
	}
	return time.Unix(0, d.fifo[d.head].at).Add(d.window), true
}

func (d *dedupWindow) len() int { return d.ids.len() }

// keyOf derives the dedup key of an id. The low bit of the second half is
// forced to 1 so that no key equals the zero value idSet uses for "empty".
func keyOf(id []byte) dedupKey {
	return dedupKey{hashID(id, 0x9e3779b97f4a7c15), hashID(id, 0xc2b2ae3d27d4eb4f) | 1}
}

// hashID is a small multiply-rotate hash over 8-byte words with a
// murmur3-style finaliser; seeded differently it gives independent-looking
// 64-bit halves of the dedup key. Deterministic across processes, unlike
// hash/maphash, so runs replay bit for bit.
func hashID(id []byte, seed uint64) uint64 {
	const (
		p1 = 0x9e3779b185ebca87
		p2 = 0xc2b2ae3d27d4eb4f
		p3 = 0x165667b19e3779f9
	)
	h := seed ^ uint64(len(id))*p1
	for len(id) >= 8 {
		k := binary.LittleEndian.Uint64(id) * p2
		h ^= bits.RotateLeft64(k, 31) * p1
		h = bits.RotateLeft64(h, 27)*p1 + p3
		id = id[8:]
	}
	var tail uint64
	for i, b := range id {
		tail |= uint64(b) << (8 * i)
	}
	h ^= bits.RotateLeft64(tail*p2, 31) * p1
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	h *= 0xc4ceb9fe1a85ec53
	h ^= h >> 33
	return h
}

// dedupScopes keeps one dedup window per publishing user. A message id is
// remembered under (user, exchange, id): a user can neither make another
// user's publish a "duplicate" by publishing its id first, nor push
// another user's ids out of the window by flooding it, because each user's
// window is bounded on its own (max ids per user). Users come from the
// broker's users file (or are the one anonymous user), so the number of
// windows is bounded by configuration, not by clients.
type dedupScopes struct {
	window time.Duration // <= 0: disabled
	max    int           // per user
	byUser map[string]*dedupWindow
	users  []string // sorted: a deterministic order for expiry and stats
	buf    []byte   // scratch key material
	total  int64    // ids remembered by all windows
}

func newDedupScopes(window time.Duration, max int) dedupScopes {
	return dedupScopes{window: window, max: max, byUser: make(map[string]*dedupWindow)}
}

func (s *dedupScopes) enabled() bool { return s.window > 0 }

// of returns user's window, creating it on first use.
func (s *dedupScopes) of(user string) *dedupWindow {
	if w := s.byUser[user]; w != nil {
		return w
	}
	w := &dedupWindow{window: s.window, max: s.max, total: &s.total}
	s.byUser[user] = w
	i, _ := slices.BinarySearch(s.users, user)
	s.users = slices.Insert(s.users, i, user)
	return w
}

// material is the key material of a message id: user, exchange and id
// joined by zero bytes, which none of them can contain. It is also what the durable log stores, so a restart rebuilds the same keys.
// The returned slice is scratch: valid until the next call.
func (s *dedupScopes) material(user string, exchange, id []byte) []byte {
	b := append(s.buf[:0], user...)
	b = append(b, 0)
	b = append(b, exchange...)
	b = append(b, 0)
	b = append(b, id...)
	s.buf = b
	return b
}

// userOfMaterial returns the user part of key material written by
// material; material without one (logs written before scoping) belongs to
// the anonymous user "".
func userOfMaterial(m string) string {
	for i := 0; i < len(m); i++ {
		if m[i] == 0 {
			return m[:i]
		}
	}
	return ""
}

func (s *dedupScopes) expire(now time.Time) {
	for _, u := range s.users {
		s.byUser[u].expire(now)
	}
}

func (s *dedupScopes) nextExpiry() (time.Time, bool) {
	var at time.Time
	found := false
	for _, u := range s.users {
		if t, ok := s.byUser[u].nextExpiry(); ok && (!found || t.Before(at)) {
			at, found = t, true
		}
	}
	return at, found
}

func (s *dedupScopes) len() int {
	n := 0
	for _, w := range s.byUser {
		n += w.len()
	}
	return n
}

// oldestAge is how long ago the window's oldest remembered id was
// accepted; false when it remembers none.
func (d *dedupWindow) oldestAge(now time.Time) (time.Duration, bool) {
	if d.head >= len(d.fifo) {
		return 0, false
	}
	return now.Sub(time.Unix(0, d.fifo[d.head].at)), true
}

// full reports that the window is at its id limit, so it evicts ids before
// they age out: its effective window is shorter than the configured one.
func (d *dedupWindow) full() bool { return d.max > 0 && d.ids.len() >= d.max }
