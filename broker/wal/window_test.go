package wal

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
	"time"
)

// windowModel is the dedup window as documented: every entry in
// recording order; a roll prunes by time, then by count, oldest first,
// after rebuilding the window (one entry per id, (time, id) order) if a
// time went back; replay keeps one entry per id with its newest time.
type windowModel struct {
	ents     []DedupEntry
	newest   int64
	unsorted bool
}

func (m *windowModel) record(id string, t int64) {
	if n := len(m.ents); n > 0 && t < m.ents[n-1].Time {
		m.unsorted = true
	}
	m.ents = append(m.ents, DedupEntry{ID: id, Time: t})
	m.newest = max(m.newest, t)
}

func (m *windowModel) distinct() []DedupEntry {
	newest := map[string]int64{}
	for _, e := range m.ents {
		if t, ok := newest[e.ID]; !ok || e.Time > t {
			newest[e.ID] = e.Time
		}
	}
	out := make([]DedupEntry, 0, len(newest))
	for id, t := range newest {
		out = append(out, DedupEntry{ID: id, Time: t})
	}
	slices.SortFunc(out, func(a, b DedupEntry) int { return cmp.Or(cmp.Compare(a.Time, b.Time), cmp.Compare(a.ID, b.ID)) })
	return out
}

func (m *windowModel) prune(window time.Duration, maxIDs int) {
	if m.unsorted {
		m.ents, m.unsorted = m.distinct(), false
	}
	for window > 0 && len(m.ents) > 0 && m.ents[0].Time < m.newest-int64(window) {
		m.ents = m.ents[1:]
	}
	for maxIDs > 0 && len(m.ents) > maxIDs {
		m.ents = m.ents[1:]
	}
}

// windowEntries decodes the store's window, oldest first.
func windowEntries(t *testing.T, w *dedupWindow) []DedupEntry {
	t.Helper()
	out := []DedupEntry{}
	if err := w.each(func(raw []byte) error {
		r, _, err := DecodeRecord(raw, len(raw))
		out = append(out, DedupEntry{ID: r.MessageID, Time: r.Time})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if len(out) != w.len() {
		t.Fatalf("window has %d records and %d times", len(out), w.len())
	}
	return out
}

// TestDedupWindowAcrossRolls streams dedup entries through many rolls of
// tiny segments, settling every message so that old segments go and each
// new segment's snapshot is all that carries the window. Ids come back
// with newer times (two entries for one id), the clock steps back now and
// then (the window must rebuild in time order), and every time is
// distinct. After every step the store's window must equal the model's,
// entry for entry, and what a reopened store recovers must be the model's
// ids with their newest times, after a process crash and after a power
// cut.
func TestDedupWindowAcrossRolls(t *testing.T) {
	for _, tc := range []struct {
		name   string
		window time.Duration
		maxIDs int
	}{
		{"count", 0, 40},
		{"time", 300, 0},
		{"both", 500, 60},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(7, uint64(len(tc.name))))
			fsys := NewMemFS()
			opts := Options{Logger: quiet(), SegmentSize: 2048, DedupWindow: tc.window, DedupMaxIDs: tc.maxIDs}
			s, _ := mustOpen(t, fsys, opts)
			m := &windowModel{}
			used := map[int64]bool{}
			clock := int64(1000)
			rolls, stale, back := 0, 0, 0
			for seq := uint64(1); seq <= 1500; seq++ {
				clock += 1 + rng.Int64N(3)
				at := clock
				if rng.IntN(100) == 0 {
					at = clock - 200 - rng.Int64N(100) // a clock that stepped back
					back++
				}
				for used[at] {
					at++
				}
				used[at] = true
				id := fmt.Sprintf("id-%d", seq)
				if rng.IntN(10) == 0 && seq > 20 {
					id = fmt.Sprintf("id-%d", seq-uint64(1+rng.IntN(20))) // recorded again
					stale++
				}
				// A roll prunes the window before it writes the snapshot: in
				// an Append, before the batch it did not fit; in a Sync (a
				// compaction step appends), after everything before it.
				step := func(do func()) {
					active := s.active().num
					do()
					if s.active().num != active {
						m.prune(tc.window, tc.maxIDs)
						rolls++
					}
				}
				step(func() { mustAppend(t, s, publish(seq, "body", "q"), Record{Type: RecDedup, MessageID: id, Time: at}) })
				m.record(id, at)
				step(func() { mustAppend(t, s, settle(seq, "q")) })
				step(func() { mustSync(t, s) })
				if got, want := windowEntries(t, &s.st.window), append([]DedupEntry{}, m.ents...); !reflect.DeepEqual(got, want) {
					t.Fatalf("after message %d (%d rolls): window\n%v\nwant\n%v", seq, rolls, got, want)
				}
			}
			if rolls < 20 || stale == 0 || back == 0 {
				t.Fatalf("the stream did not exercise the window: %d rolls, %d ids recorded again, %d clock steps back", rolls, stale, back)
			}
			if st := s.Stats(); st.Segments > 3 {
				t.Fatalf("settled segments kept (the snapshot would not be all that carries the window): %+v", st)
			}

			// kill -9: the page cache keeps every byte.
			s2, rec := mustOpen(t, processCrash(t, fsys), opts)
			if want := m.distinct(); !reflect.DeepEqual(rec.Dedup, want) {
				t.Fatalf("after a process crash: recovered window\n%v\nwant\n%v", rec.Dedup, want)
			}
			if err := s2.Close(); err != nil {
				t.Fatal(err)
			}
			// A power cut keeps what was synced: everything, here.
			fsys.Crash(1)
			s, rec = mustOpen(t, fsys, opts)
			defer s.Close()
			if want := m.distinct(); !reflect.DeepEqual(rec.Dedup, want) {
				t.Fatalf("after a power cut: recovered window\n%v\nwant\n%v", rec.Dedup, want)
			}
			// Every segment's snapshot repeated the window; the reopened
			// store keeps one entry per id (or its next roll would count the
			// copies against DedupMaxIDs).
			if got, want := windowEntries(t, &s.st.window), m.distinct(); !reflect.DeepEqual(got, want) {
				t.Fatalf("after a power cut: the reopened store's window\n%v\nwant\n%v", got, want)
			}
		})
	}
}
