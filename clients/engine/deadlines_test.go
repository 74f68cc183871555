package engine

import (
	"container/heap"
	"math/rand/v2"
	"testing"
	"time"
)

// refHeap is the deadline heap as container/heap would keep it: the
// reference the hand-written deadlineHeap must match step for step, so the
// order of resends (and the simulator's traces) did not change with it.
type refHeap []*pubEntry

func (h refHeap) Len() int           { return len(h) }
func (h refHeap) Less(i, j int) bool { return before(h[i], h[j]) }
func (h refHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].heapIdx = i
	h[j].heapIdx = j
}
func (h *refHeap) Push(x any) {
	e := x.(*pubEntry)
	e.heapIdx = len(*h)
	*h = append(*h, e)
}
func (h *refHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	e.heapIdx = -1
	*h = old[:len(old)-1]
	return e
}

func TestDeadlineHeapMatchesContainerHeap(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	const n = 64
	// Twin entries: mine[i] lives in the heap under test, ref[i] in the
	// reference; they carry the same order and deadlines.
	mine, ref := make([]*pubEntry, n), make([]*pubEntry, n)
	for i := range n {
		mine[i] = &pubEntry{order: uint64(i), heapIdx: -1}
		ref[i] = &pubEntry{order: uint64(i), heapIdx: -1}
	}
	var h deadlineHeap
	var r refHeap
	base := time.Unix(1000, 0)
	for step := range 20000 {
		i := rng.IntN(n)
		switch op := rng.IntN(4); {
		case op <= 1: // schedule (push or move); few distinct deadlines, so ties happen
			d := base.Add(time.Duration(rng.IntN(16)) * time.Millisecond)
			h.schedule(mine[i], d)
			ref[i].deadline = d
			if ref[i].heapIdx >= 0 {
				heap.Fix(&r, ref[i].heapIdx)
			} else {
				heap.Push(&r, ref[i])
			}
		case op == 2:
			h.remove(mine[i])
			if ref[i].heapIdx >= 0 {
				heap.Remove(&r, ref[i].heapIdx)
			}
		default:
			if len(r) == 0 {
				continue
			}
			got, want := h.pop(), heap.Pop(&r).(*pubEntry)
			if got.order != want.order {
				t.Fatalf("step %d: pop gave entry %d, container/heap %d", step, got.order, want.order)
			}
		}
		if len(h) != len(r) {
			t.Fatalf("step %d: %d entries, container/heap has %d", step, len(h), len(r))
		}
		for k := range h {
			if h[k].order != r[k].order || h[k].heapIdx != k {
				t.Fatalf("step %d: slot %d holds entry %d (index %d), container/heap entry %d", step, k, h[k].order, h[k].heapIdx, r[k].order)
			}
		}
	}
}
