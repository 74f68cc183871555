package broker

// idSet is an open-addressing hash set of dedup keys with linear probing
// and backward-shift deletion. The dedup window inserts and deletes one key
// per message forever; Go maps degrade under that churn (deleted slots
// lengthen probes until a rehash), while backward-shift deletion leaves no
// tombstones at all. Keys are already uniformly mixed hashes, so the first
// word picks the slot directly. The zero key marks an empty slot and must
// never be inserted.
type idSet struct {
	slots []dedupKey // len is zero or a power of two
	n     int
}

func (s *idSet) len() int { return s.n }

func (s *idSet) mask() uint64 { return uint64(len(s.slots) - 1) }

// find returns the slot holding k, or the empty slot where it would go.
func (s *idSet) find(k dedupKey) (uint64, bool) {
	m := s.mask()
	for i := k[0] & m; ; i = (i + 1) & m {
		switch s.slots[i] {
		case k:
			return i, true
		case dedupKey{}:
			return i, false
		}
	}
}

// slotOf returns the home slot of k, for a caller that wants its cache
// line loaded early. The set must not be empty.
func (s *idSet) slotOf(k dedupKey) dedupKey { return s.slots[k[0]&s.mask()] }

func (s *idSet) contains(k dedupKey) bool {
	if s.n == 0 {
		return false
	}
	_, ok := s.find(k)
	return ok
}

// insert adds k and reports false if it was already present.
func (s *idSet) insert(k dedupKey) bool {
	if k == (dedupKey{}) {
		panic("broker: the zero dedup key is reserved for empty slots")
	}
	if (s.n+1)*2 > len(s.slots) { // keep the load factor at most 1/2
		s.grow()
	}
	i, ok := s.find(k)
	if ok {
		return false
	}
	s.slots[i] = k
	s.n++
	return true
}

// remove deletes k and reports whether it was present. Later entries of
// the same probe run shift back into the hole, so lookups never need
// tombstones.
func (s *idSet) remove(k dedupKey) bool {
	if s.n == 0 {
		return false
	}
	i, ok := s.find(k)
	if !ok {
		return false
	}
	m := s.mask()
	for j := (i + 1) & m; s.slots[j] != (dedupKey{}); j = (j + 1) & m {
		home := s.slots[j][0] & m
		// Move slots[j] into the hole at i unless its home lies cyclically
		// in (i, j], where it would no longer be found.
		if (j-home)&m >= (j-i)&m {
			s.slots[i] = s.slots[j]
			i = j
		}
	}
	s.slots[i] = dedupKey{}
	s.n--
	return true
}

func (s *idSet) grow() {
	old := s.slots
	size := 2 * len(old)
	if size < 64 {
		size = 64
	}
	s.slots = make([]dedupKey, size)
	s.n = 0
	for _, k := range old {
		if k != (dedupKey{}) {
			i, _ := s.find(k)
			s.slots[i] = k
			s.n++
		}
	}
}
