package broker

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestNameIndexAgainstSortedSlice drives the index and a sorted slice with
// the same random inserts and deletes and compares every page.
func TestNameIndexAgainstSortedSlice(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var idx nameIndex[int]
	var ref []string
	for step := 0; step < 20_000; step++ {
		key := fmt.Sprint("k", rng.IntN(2000))
		i, found := slices.BinarySearch(ref, key)
		if rng.IntN(3) == 0 {
			idx.delete(key)
			if found {
				ref = slices.Delete(ref, i, i+1)
			}
		} else {
			idx.set(key, len(key))
			if !found {
				ref = slices.Insert(ref, i, key)
			}
		}
		if idx.len() != len(ref) {
			t.Fatalf("step %d: len %d, want %d", step, idx.len(), len(ref))
		}
		if h := height(idx.root); len(ref) > 0 && int(h) > 2*bitsLen(len(ref))+1 {
			t.Fatalf("step %d: height %d for %d keys", step, h, len(ref))
		}
		if step%97 == 0 {
			after := fmt.Sprint("k", rng.IntN(2000))
			if rng.IntN(4) == 0 {
				after = ""
			}
			var got []string
			idx.ascend(after, func(k string, _ int) bool {
				got = append(got, k)
				return len(got) < 50
			})
			j, _ := slices.BinarySearch(ref, after)
			if j < len(ref) && ref[j] == after {
				j++
			}
			want := ref[j:min(j+50, len(ref))]
			if !slices.Equal(got, want) {
				t.Fatalf("step %d: page after %q = %v, want %v", step, after, got, want)
			}
		}
	}
}

func bitsLen(n int) int {
	b := 0
	for ; n > 0; n >>= 1 {
		b++
	}
	return b
}
