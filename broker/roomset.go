package broker

// roomSet indexes the consumers of one queue that have room for one more
// push (below their prefetch, not parked: see outbound.go),
// ordered by their position in the queue's consumer list. Dispatch asks it
// for the first consumer with room at or after the round-robin cursor,
// wrapping to the first one: the consumer the old scan over the whole list
// found, in O(log n) whatever the number of full consumers.
//
// It is an AVL tree threaded through the consumers themselves (no
// allocation when a consumer gains or loses room). Positions are assigned
// from a per-queue counter when a consumer joins at the tail of the list,
// so position order is list order.
type roomSet struct {
	root *consumer
	n    int
}

// roomNode is the part of a consumer that roomSet uses.
type roomNode struct {
	pos     uint64 // position in the queue's list order; set at pushBack
	inRoom  bool   // a member of its queue's roomSet
	rl, rr  *consumer
	rheight int8
}

func rheight(cs *consumer) int8 {
	if cs == nil {
		return 0
	}
	return cs.rheight
}

func (cs *consumer) rfix() { cs.rheight = max(rheight(cs.rl), rheight(cs.rr)) + 1 }

func rrotRight(n *consumer) *consumer {
	l := n.rl
	n.rl, l.rr = l.rr, n
	n.rfix()
	l.rfix()
	return l
}

func rrotLeft(n *consumer) *consumer {
	r := n.rr
	n.rr, r.rl = r.rl, n
	n.rfix()
	r.rfix()
	return r
}

func rbalance(n *consumer) *consumer {
	n.rfix()
	switch b := rheight(n.rl) - rheight(n.rr); {
	case b > 1:
		if rheight(n.rl.rl) < rheight(n.rl.rr) {
			n.rl = rrotLeft(n.rl)
		}
		return rrotRight(n)
	case b < -1:
		if rheight(n.rr.rr) < rheight(n.rr.rl) {
			n.rr = rrotRight(n.rr)
		}
		return rrotLeft(n)
	}
	return n
}

// insert adds cs (not a member). w counts the nodes visited.
func (s *roomSet) insert(cs *consumer, w *uint64) {
	if cs.inRoom {
		panic("broker: consumer " + cs.tag + " inserted twice into its room set")
	}
	cs.inRoom = true
	cs.rl, cs.rr, cs.rheight = nil, nil, 1
	s.root = rinsert(s.root, cs, w)
	s.n++
}

func rinsert(n, cs *consumer, w *uint64) *consumer {
	*w++
	switch {
	case n == nil:
		return cs
	case cs.pos < n.pos:
		n.rl = rinsert(n.rl, cs, w)
	case cs.pos > n.pos:
		n.rr = rinsert(n.rr, cs, w)
	default:
		panic("broker: two consumers of one queue share a position")
	}
	return rbalance(n)
}

// remove takes cs (a member) out. w counts the nodes visited.
func (s *roomSet) remove(cs *consumer, w *uint64) {
	if !cs.inRoom {
		panic("broker: consumer " + cs.tag + " removed from a room set it is not in")
	}
	s.root = rremove(s.root, cs, w)
	cs.inRoom = false
	cs.rl, cs.rr, cs.rheight = nil, nil, 0
	s.n--
}

func rremove(n, cs *consumer, w *uint64) *consumer {
	*w++
	switch {
	case n == nil:
		panic("broker: consumer " + cs.tag + " missing from its room set")
	case cs.pos < n.pos:
		n.rl = rremove(n.rl, cs, w)
	case cs.pos > n.pos:
		n.rr = rremove(n.rr, cs, w)
	default:
		if n.rl == nil {
			return n.rr
		}
		if n.rr == nil {
			return n.rl
		}
		// Replace n by its successor, the leftmost node on the right.
		var succ *consumer
		right := rremoveMin(n.rr, &succ, w)
		succ.rl, succ.rr = n.rl, right
		n = succ
	}
	return rbalance(n)
}

func rremoveMin(n *consumer, min **consumer, w *uint64) *consumer {
	*w++
	if n.rl == nil {
		*min = n
		return n.rr
	}
	n.rl = rremoveMin(n.rl, min, w)
	return rbalance(n)
}

// ceil returns the member with the smallest position >= pos, or nil.
func (s *roomSet) ceil(pos uint64, w *uint64) *consumer {
	var best *consumer
	for n := s.root; n != nil; {
		*w++
		if n.pos >= pos {
			best, n = n, n.rl
		} else {
			n = n.rr
		}
	}
	return best
}

// first returns the member with the smallest position, or nil.
func (s *roomSet) first(w *uint64) *consumer {
	n := s.root
	if n != nil {
		*w++
	}
	for n != nil && n.rl != nil {
		*w++
		n = n.rl
	}
	return n
}

// roomWanted is what a consumer's membership of its queue's room set
// follows: active, below its prefetch, not parked. Its connection's
// outbound state is not part of it: a full connection's consumers are
// parked lazily (outbound.go), so that a crossing costs O(1).
func (cs *consumer) roomWanted() bool {
	return cs.active && cs.unacked < cs.prefetch && !cs.parked && !cs.conn.closing
}

// syncRoom makes cs's membership of its queue's room set match
// roomWanted. Every change to what it reads (the consumer's unacked count,
// its being active, parked) calls it.
func (c *Core) syncRoom(cs *consumer) {
	want := cs.roomWanted()
	switch {
	case want && !cs.inRoom:
		cs.q.consumers.room.insert(cs, &c.roomWork)
	case !want && cs.inRoom:
		cs.q.consumers.room.remove(cs, &c.roomWork)
	}
}

// checkRoom verifies the room set of a queue's consumer list: membership
// is exactly the consumers with room, in position order, balanced.
func (l *consumerList) checkRoom() (string, bool) {
	want := 0
	var prev uint64
	for cs := l.head; cs != nil; cs = cs.next {
		if cs != l.head && cs.pos <= prev {
			return "consumer positions are not increasing in list order", false
		}
		prev = cs.pos
		// A closing connection's consumers leave the set lazily
		// (teardown.go): in it or not, both are right.
		if cs.inRoom != cs.roomWanted() && !cs.conn.closing {
			return "consumer " + cs.tag + " room set membership does not match its room", false
		}
		if cs.inRoom {
			want++
		}
	}
	if want != l.room.n {
		return "room set count does not match its members", false
	}
	n, ok := checkRoomTree(l.room.root, 0, ^uint64(0))
	if !ok || n != want {
		return "room set tree is not an ordered balanced tree of its members", false
	}
	return "", true
}

func checkRoomTree(n *consumer, lo, hi uint64) (int, bool) {
	if n == nil {
		return 0, true
	}
	if !n.inRoom || n.pos < lo || n.pos > hi {
		return 0, false
	}
	var ln, rn int
	ok := true
	if n.pos > 0 {
		ln, ok = checkRoomTree(n.rl, lo, n.pos-1)
	} else if n.rl != nil {
		ok = false
	}
	if !ok {
		return 0, false
	}
	rn, ok = checkRoomTree(n.rr, n.pos+1, hi)
	if !ok {
		return 0, false
	}
	lh, rh := rheight(n.rl), rheight(n.rr)
	if n.rheight != max(lh, rh)+1 || lh-rh > 1 || rh-lh > 1 {
		return 0, false
	}
	return ln + rn + 1, true
}
