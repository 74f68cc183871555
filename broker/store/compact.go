package store

import (
	"fmt"
	"slices"
)

// compact deletes segments from the oldest while none of their messages
// is live, and, while the log is much larger than what is live, rewrites
// the live messages of the oldest segment forward into the active one so
// that it can go too. Only a prefix is ever deleted: a later segment may
// hold the settle records that keep earlier messages settled, and a
// segment's snapshot covers the topology and dedup window of everything
// before it. So the segments on disk are always a suffix of the log, and
// every suffix that starts at a segment replays to the same state.
//
// The bound: after compact, Bytes <= 2*LiveBytes + 2*SegmentSize, unless
// the oldest segment could not be relocated (an error fails the store).
func (s *Store) compact() error {
	s.compacting = true
	defer func() { s.compacting = false }()
	for budget := len(s.segs); ; budget-- {
		if err := s.dropSettledPrefix(); err != nil {
			return err
		}
		st := s.Stats()
		if len(s.segs) < 2 || budget <= 0 || st.Bytes <= 2*st.LiveBytes+2*s.opts.SegmentSize {
			return nil
		}
		if err := s.relocate(s.segs[0]); err != nil {
			return err
		}
	}
}

func (s *Store) dropSettledPrefix() error {
	for len(s.segs) > 1 && s.segs[0].live == 0 {
		sg := s.segs[0]
		name := segName(sg.num)
		if err := sg.file.Close(); err != nil {
			s.log.Warn("store: close settled segment", "segment", name, "err", err)
		}
		if err := s.fs.Remove(name); err != nil {
			return s.fail(fmt.Errorf("remove settled segment %s: %w", name, err))
		}
		// One directory sync per removal keeps the surviving segments a
		// suffix of the log even if the disk reorders directory updates.
		if err := s.fs.SyncDir(); err != nil {
			return s.fail(fmt.Errorf("sync data directory after removing %s: %w", name, err))
		}
		s.segs = s.segs[1:]
		delete(s.st.segs, sg.num)
		s.log.Info("store: removed settled segment", "segment", name)
	}
	return nil
}

// relocate appends a fresh RecPublish (same Seq, current targets and
// delivery counts) for every live message of sg, then syncs, after which
// sg holds nothing live.
func (s *Store) relocate(sg *segment) error {
	var seqs []uint64
	for seq, m := range s.st.live {
		if m.seg == sg.num {
			seqs = append(seqs, seq)
		}
	}
	slices.Sort(seqs) // map order must never decide what is written
	for _, seq := range seqs {
		m := s.st.live[seq]
		r, err := s.readRecord(m)
		if err != nil {
			return s.fail(fmt.Errorf("relocate message %d: %w", seq, err))
		}
		r.Targets = slices.Clone(m.targets)
		if _, err := s.Append(r); err != nil {
			return err
		}
	}
	if err := s.syncActive(); err != nil {
		return err
	}
	if sg.live != 0 {
		return s.fail(fmt.Errorf("segment %s still has %d live messages after relocation (bug)", segName(sg.num), sg.live))
	}
	s.log.Info("store: relocated live messages forward", "segment", segName(sg.num), "messages", len(seqs))
	return nil
}
