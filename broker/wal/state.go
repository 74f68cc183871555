package wal

import (
	"cmp"
	"slices"
	"time"
)

// state is what the log means: topology, live messages and the dedup
// window, plus where each live message's newest record sits, so that
// segments can be deleted once nothing in them is live. Replay and Append
// update it through the same apply, so a restarted store knows exactly
// what the running one knew.
type state struct {
	exchanges map[string]uint8
	queues    map[string]QueueOptions
	bindings  map[Binding]struct{}
	live      map[uint64]*liveMsg
	newest    int64 // latest dedup time seen
	// window is the dedup window: its records in the order they were
	// recorded, so that a roll writes the snapshot's dedup part without
	// sorting or encoding anything (see dedupWindow).
	window  dedupWindow
	nextSeq uint64
	orphans int // delivered/settle records for messages no longer in the log
	segs    map[uint64]*segment
}

type liveMsg struct {
	seg     uint64
	off     int64
	size    int64
	targets []Target
}

func newState() *state {
	return &state{
		exchanges: map[string]uint8{},
		queues:    map[string]QueueOptions{},
		bindings:  map[Binding]struct{}{},
		live:      map[uint64]*liveMsg{},
		nextSeq:   1,
		segs:      map[uint64]*segment{},
	}
}

func (s *state) setLive(seq uint64, m *liveMsg) {
	if old := s.live[seq]; old != nil {
		s.unlink(old)
	}
	s.live[seq] = m
	if sg := s.segs[m.seg]; sg != nil {
		sg.live++
		sg.liveBytes += m.size
	}
}

func (s *state) unlink(m *liveMsg) {
	if sg := s.segs[m.seg]; sg != nil {
		sg.live--
		sg.liveBytes -= m.size
	}
}

// removeTarget takes queue q off message seq; the message dies with its
// last target.
func (s *state) removeTarget(seq uint64, m *liveMsg, q string) bool {
	i := slices.IndexFunc(m.targets, func(t Target) bool { return t.Queue == q })
	if i < 0 {
		return false
	}
	m.targets = slices.Delete(m.targets, i, i+1)
	if len(m.targets) == 0 {
		s.unlink(m)
		delete(s.live, seq)
	}
	return true
}

// apply folds one record, found at (seg, off) and encoded as raw, into
// the state.
func (s *state) apply(r *Record, seg uint64, off int64, raw []byte) {
	size := int64(len(raw))
	switch r.Type {
	case RecDeclareExchange:
		s.exchanges[r.Exchange] = r.ExchangeType
	case RecDeleteExchange:
		delete(s.exchanges, r.Exchange)
		for b := range s.bindings {
			if b.Exchange == r.Exchange {
				delete(s.bindings, b)
			}
		}
	case RecDeclareQueue:
		s.queues[r.Queue] = r.QueueOptions
	case RecDeleteQueue:
		delete(s.queues, r.Queue)
		for b := range s.bindings {
			if b.Queue == r.Queue {
				delete(s.bindings, b)
			}
		}
		for seq, m := range s.live {
			s.removeTarget(seq, m, r.Queue)
		}
	case RecBind:
		s.bindings[Binding{Exchange: r.Exchange, Queue: r.Queue, Key: r.Key}] = struct{}{}
	case RecUnbind:
		delete(s.bindings, Binding{Exchange: r.Exchange, Queue: r.Queue, Key: r.Key})
	case RecPublish:
		s.setLive(r.Seq, &liveMsg{seg: seg, off: off, size: size, targets: slices.Clone(r.Targets)})
		s.nextSeq = max(s.nextSeq, r.Seq+1)
	case RecDelivered:
		m := s.live[r.Seq]
		if m == nil {
			s.orphans++
			return
		}
		for i := range m.targets {
			if m.targets[i].Queue == r.Queue {
				m.targets[i].Deliveries++
				return
			}
		}
		s.orphans++
	case RecSettle:
		m := s.live[r.Seq]
		if m == nil || !s.removeTarget(r.Seq, m, r.Queue) {
			s.orphans++
		}
	case RecDedup:
		s.window.push(r.Time, raw)
		s.newest = max(s.newest, r.Time)
	}
}

// pruneDedup forgets entries older than the window before the newest
// one, then all but the newest maxIDs entries (oldest first in the order
// they were recorded, which is time order: the core's clock never goes
// back). It costs what it removes, not the window's size, except after a
// clock went back between two runs (rare), when it first rebuilds the
// window in (time, id) order.
func (s *state) pruneDedup(window time.Duration, maxIDs int) {
	w := &s.window
	if w.unsorted {
		w.rebuild()
	}
	if window > 0 {
		cut := s.newest - int64(window)
		for w.len() > 0 && w.times[0] < cut {
			w.pop()
		}
	}
	if maxIDs > 0 {
		for w.len() > maxIDs {
			w.pop()
		}
	}
}

// appendTopology appends the snapshot's topology, encoded as records, in
// an order that replays cleanly (exchanges and queues before bindings;
// dead-letter queues before the queues naming them does not matter to the
// store). The dedup part of a snapshot is s.window's bytes, written as
// they are.
func (s *state) appendTopology(b []byte) ([]byte, error) {
	var err error
	add := func(r *Record) {
		if err == nil {
			b, err = AppendRecord(b, r)
		}
	}
	for _, e := range s.exchangeList() {
		add(&Record{Type: RecDeclareExchange, Exchange: e.Name, ExchangeType: e.Type})
	}
	for _, q := range s.queueList() {
		add(&Record{Type: RecDeclareQueue, Queue: q.Name, QueueOptions: q.Options})
	}
	for _, bd := range s.bindingList() {
		add(&Record{Type: RecBind, Exchange: bd.Exchange, Queue: bd.Queue, Key: bd.Key})
	}
	return b, err
}

func (s *state) exchangeList() []Exchange {
	out := make([]Exchange, 0, len(s.exchanges))
	for n, t := range s.exchanges {
		out = append(out, Exchange{Name: n, Type: t})
	}
	slices.SortFunc(out, func(a, b Exchange) int { return cmp.Compare(a.Name, b.Name) })
	return out
}

func (s *state) queueList() []Queue {
	out := make([]Queue, 0, len(s.queues))
	for n, o := range s.queues {
		out = append(out, Queue{Name: n, Options: o})
	}
	slices.SortFunc(out, func(a, b Queue) int { return cmp.Compare(a.Name, b.Name) })
	return out
}

func (s *state) bindingList() []Binding {
	out := make([]Binding, 0, len(s.bindings))
	for b := range s.bindings {
		out = append(out, b)
	}
	slices.SortFunc(out, func(a, b Binding) int {
		return cmp.Or(cmp.Compare(a.Exchange, b.Exchange), cmp.Compare(a.Queue, b.Queue), cmp.Compare(a.Key, b.Key))
	})
	return out
}

// queueMessages lists each queue's live messages in enqueue (Seq) order.
func (s *state) queueMessages() []QueueMessages {
	byQueue := map[string][]MessageRef{}
	for seq, m := range s.live {
		for _, t := range m.targets {
			byQueue[t.Queue] = append(byQueue[t.Queue], MessageRef{Seq: seq, Deliveries: t.Deliveries})
		}
	}
	out := make([]QueueMessages, 0, len(byQueue))
	for q, refs := range byQueue {
		slices.SortFunc(refs, func(a, b MessageRef) int { return cmp.Compare(a.Seq, b.Seq) })
		out = append(out, QueueMessages{Queue: q, Messages: refs})
	}
	slices.SortFunc(out, func(a, b QueueMessages) int { return cmp.Compare(a.Queue, b.Queue) })
	return out
}
