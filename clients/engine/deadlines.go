package engine

import "time"

// deadlineHeap orders in-flight publishes by the instant their confirm is
// overdue, so NextDeadline is O(1) and Tick pops only what expired. Entries
// remember their index so a confirm can remove them in O(log n).
//
// It is container/heap's algorithm written out for *pubEntry: every message
// is pushed once per send and removed once per confirm, and the interface
// calls of container/heap were a visible share of a publish's cost. The
// steps, and so the heap's layout after each operation, are those of
// container/heap; TestDeadlineHeapMatchesContainerHeap holds them equal.
type deadlineHeap []*pubEntry

// before orders by deadline, ties broken by add order so the resend order
// is deterministic.
func before(a, b *pubEntry) bool {
	if a.deadline.Equal(b.deadline) {
		return a.order < b.order
	}
	return a.deadline.Before(b.deadline)
}

func (h deadlineHeap) swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].heapIdx = i
	h[j].heapIdx = j
}

func (h deadlineHeap) up(j int) {
	for {
		i := (j - 1) / 2 // parent
		if i == j || !before(h[j], h[i]) {
			break
		}
		h.swap(i, j)
		j = i
	}
}

func (h deadlineHeap) down(i0, n int) bool {
	i := i0
	for {
		j1 := 2*i + 1
		if j1 >= n || j1 < 0 { // j1 < 0 after int overflow
			break
		}
		j := j1 // left child
		if j2 := j1 + 1; j2 < n && before(h[j2], h[j1]) {
			j = j2 // right child
		}
		if !before(h[j], h[i]) {
			break
		}
		h.swap(i, j)
		i = j
	}
	return i > i0
}

// push adds e, which is not in the heap.
func (h *deadlineHeap) push(e *pubEntry) {
	e.heapIdx = len(*h)
	*h = append(*h, e)
	h.up(len(*h) - 1)
}

// pop removes and returns the entry with the earliest deadline. The heap
// must not be empty.
func (h *deadlineHeap) pop() *pubEntry {
	n := len(*h) - 1
	h.swap(0, n)
	h.down(0, n)
	return h.cut()
}

// cut removes the last element.
func (h *deadlineHeap) cut() *pubEntry {
	old := *h
	n := len(old) - 1
	e := old[n]
	old[n] = nil
	e.heapIdx = -1
	*h = old[:n]
	return e
}

// schedule puts e in the heap at deadline d, or moves it there.
func (h *deadlineHeap) schedule(e *pubEntry, d time.Time) {
	e.deadline = d
	if i := e.heapIdx; i >= 0 {
		if !h.down(i, len(*h)) {
			h.up(i)
		}
		return
	}
	h.push(e)
}

// remove takes e out of the heap if it is there.
func (h *deadlineHeap) remove(e *pubEntry) {
	i := e.heapIdx
	if i < 0 {
		return
	}
	n := len(*h) - 1
	if n != i {
		h.swap(i, n)
		if !h.down(i, n) {
			h.up(i)
		}
	}
	h.cut()
}

// clear empties the heap, leaving every entry marked as not scheduled.
func (h *deadlineHeap) clear() {
	for _, e := range *h {
		e.heapIdx = -1
	}
	*h = (*h)[:0]
}
