package broker

import (
	"math/rand/v2"
	"testing"
)

// TestIDSetAgainstMap runs random inserts and removes on an idSet and a
// Go map side by side. Keys are drawn from a small space with few distinct
// slot homes so that probe runs collide and wrap around the table end,
// which is where backward-shift deletion can go wrong.
func TestIDSetAgainstMap(t *testing.T) {
	for _, seed := range []uint64{1, 2, 3} {
		rng := rand.New(rand.NewPCG(seed, seed))
		var s idSet
		ref := map[dedupKey]bool{}
		for step := 0; step < 200_000; step++ {
			// At most 48 distinct keys keep the table at 64 or 128 slots;
			// homes 124..131 wrap around the end of either size.
			k := dedupKey{uint64(rng.IntN(8)) + 124, uint64(rng.IntN(6))<<1 | 1}
			switch rng.IntN(3) {
			case 0, 1:
				if got, want := s.insert(k), !ref[k]; got != want {
					t.Fatalf("seed %d step %d: insert %v = %v, want %v", seed, step, k, got, want)
				}
				ref[k] = true
			case 2:
				if got, want := s.remove(k), ref[k]; got != want {
					t.Fatalf("seed %d step %d: remove %v = %v, want %v", seed, step, k, got, want)
				}
				delete(ref, k)
			}
			if s.len() != len(ref) {
				t.Fatalf("seed %d step %d: len %d, want %d", seed, step, s.len(), len(ref))
			}
			if step%97 == 0 {
				for rk := range ref {
					if !s.contains(rk) {
						t.Fatalf("seed %d step %d: lost key %v", seed, step, rk)
					}
				}
			}
		}
	}
}

func TestIDSetRejectsZeroKey(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("inserting the zero key did not panic")
		}
	}()
	var s idSet
	s.insert(dedupKey{})
}

func TestIDSetEmpty(t *testing.T) {
	var s idSet
	if s.contains(dedupKey{1, 1}) || s.remove(dedupKey{1, 1}) || s.len() != 0 {
		t.Fatal("empty set claims to hold a key")
	}
}
