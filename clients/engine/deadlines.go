package engine

import (
	"container/heap"
	"time"
)

// deadlineHeap orders in-flight publishes by the instant their confirm is
// overdue, so NextDeadline is O(1) and Tick pops only what expired. Entries
// remember their index so a confirm can remove them in O(log n).
type deadlineHeap []*pubEntry

func (h deadlineHeap) Len() int { return len(h) }

func (h deadlineHeap) Less(i, j int) bool {
	if h[i].deadline.Equal(h[j].deadline) {
		// Ties broken by add order so the resend order is deterministic.
		return h[i].order < h[j].order
	}
	return h[i].deadline.Before(h[j].deadline)
}

func (h deadlineHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].heapIdx = i
	h[j].heapIdx = j
}

func (h *deadlineHeap) Push(x any) {
	e := x.(*pubEntry)
	e.heapIdx = len(*h)
	*h = append(*h, e)
}

func (h *deadlineHeap) Pop() any {
	old := *h
	n := len(old)
	e := old[n-1]
	old[n-1] = nil
	e.heapIdx = -1
	*h = old[:n-1]
	return e
}

// schedule puts e in the heap at deadline d, or moves it there.
func (h *deadlineHeap) schedule(e *pubEntry, d time.Time) {
	e.deadline = d
	if e.heapIdx >= 0 {
		heap.Fix(h, e.heapIdx)
		return
	}
	heap.Push(h, e)
}

// remove takes e out of the heap if it is there.
func (h *deadlineHeap) remove(e *pubEntry) {
	if e.heapIdx >= 0 {
		heap.Remove(h, e.heapIdx)
	}
}

// clear empties the heap, leaving every entry marked as not scheduled.
func (h *deadlineHeap) clear() {
	for _, e := range *h {
		e.heapIdx = -1
	}
	*h = (*h)[:0]
}
