package wal

import (
	"fmt"
	"slices"
)

// relocateStep bounds the messages one EndSync relocates, so that the
// driver's lock is held for a bounded time however large the segment.
const relocateStep = 1024

// Compaction deletes segments from the oldest while none of their messages
// is live, and, while the log is much larger than what is live, rewrites
// the live messages of the oldest segment forward into the active one so
// that it can go too. Only a prefix is ever deleted: a later segment may
// hold the settle records that keep earlier messages settled, and a
// segment's snapshot covers the topology and dedup window of everything
// before it. So the segments on disk are always a suffix of the log, and
// every suffix that starts at a segment replays to the same state.
//
// It runs in steps spread over sync tasks: EndSync relocates at most
// relocateStep messages (appends only), the next task's fsync makes the
// copies durable, and the task after that removes the emptied segment in
// its Run, outside the driver's lock.
//
// The bound: once no task is pending, Bytes <= 2*LiveBytes + 2*SegmentSize,
// unless the oldest segment could not be relocated (an error fails the
// store).

// removable reports whether the oldest segment can be removed: nothing in
// it is live, the copies relocated from it are durable, it is not the
// active segment and not the sealed one of a pending roll (until the roll
// ends, the new segment has no real name, so the sealed one's snapshot is
// still needed).
func (s *Store) removable() bool {
	if len(s.segs) < 2 {
		return false
	}
	sg := s.segs[0]
	return sg.live == 0 && sg.relocatedAt <= s.durable && (s.rolling == nil || s.rolling.sealed != sg)
}

// detachSettledPrefix takes the removable prefix out of the log's
// accounting; the sync task removes the files.
func (s *Store) detachSettledPrefix() []*segment {
	var out []*segment
	for s.removable() {
		sg := s.segs[0]
		out = append(out, sg)
		s.segs = s.segs[1:]
		delete(s.st.segs, sg.num)
		if s.relocSeg == sg.num {
			s.relocSeg, s.relocSeqs = 0, nil
		}
	}
	return out
}

// wantRelocation: the log is above its bound and its oldest segment still
// holds live messages to move forward.
func (s *Store) wantRelocation() bool {
	if len(s.segs) < 2 || s.segs[0].live == 0 {
		return false
	}
	st := s.Stats()
	return st.Bytes > 2*st.LiveBytes+2*s.opts.SegmentSize
}

// compactStep relocates up to relocateStep live messages of the oldest
// segment: a fresh RecPublish (same Seq, current targets and delivery
// counts) appended to the active segment. The segment is removed once
// nothing in it is live and the copies are durable (relocatedAt).
func (s *Store) compactStep() error {
	if !s.wantRelocation() {
		return nil
	}
	_, err := s.relocateFrom(s.segs[0], relocateStep)
	return err
}

// relocateFrom moves up to limit live messages of sg forward and notes in
// sg.relocatedAt the LSN that must be durable before sg may go.
func (s *Store) relocateFrom(sg *segment, limit int) (int, error) {
	if s.relocSeg != sg.num {
		s.relocSeg, s.relocSeqs = sg.num, nil
		for seq, m := range s.st.live {
			if m.seg == sg.num {
				s.relocSeqs = append(s.relocSeqs, seq)
			}
		}
		slices.Sort(s.relocSeqs) // map order must never decide what is written
	}
	moved := 0
	for moved < limit && len(s.relocSeqs) > 0 {
		seq := s.relocSeqs[0]
		s.relocSeqs = s.relocSeqs[1:]
		m := s.st.live[seq]
		if m == nil || m.seg != sg.num {
			continue // settled, or already moved, since the list was made
		}
		r, err := s.readRecord(m)
		if err != nil {
			return moved, s.fail(fmt.Errorf("relocate message %d: %w", seq, err))
		}
		r.Targets = slices.Clone(m.targets)
		if _, err := s.Append(r); err != nil {
			return moved, err
		}
		moved++
	}
	sg.relocatedAt = s.appended
	if len(s.relocSeqs) == 0 {
		if sg.live != 0 {
			return moved, s.fail(fmt.Errorf("segment %s still has %d live messages after relocation (bug)", segName(sg.num), sg.live))
		}
		s.log.Info("store: relocated live messages forward", "segment", segName(sg.num))
	}
	return moved, nil
}
