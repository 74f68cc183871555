package wal

import "fmt"

// tmpSuffix marks a segment whose roll is not finished: its predecessor
// may still have unsynced bytes, so it must not yet count as a segment
// (only a segment whose predecessors were fsync'd may carry a real name:
// replay treats damage anywhere but in the last segment as corruption).
const tmpSuffix = ".new"

// pendingRoll is a roll that the next sync task finishes: fsync the sealed
// segment and the new active one, then give the new one its real name.
type pendingRoll struct {
	sealed    *segment
	tmp, name string
}

// roll starts the next segment under a temporary name and makes it active.
// It writes the header and snapshot into the page cache and syncs nothing:
// the fsyncs, the rename and the directory sync are the next sync task's
// (SyncTask.Run), which a driver runs without holding its lock. Until that
// task ends, Append does not roll again (the active segment may grow past
// SegmentSize meanwhile).
func (s *Store) roll() error {
	num := s.active().num + 1
	name := segName(num)
	sg, err := s.createSegment(name+tmpSuffix, num)
	if err != nil {
		return s.fail(err)
	}
	s.rolling = &pendingRoll{sealed: s.active(), tmp: name + tmpSuffix, name: name}
	s.segs = append(s.segs, sg)
	s.st.segs[num] = sg
	s.appendedSinceRoll = 0
	return nil
}

// SyncTask is the disk work of one group commit: the fsyncs that make
// everything appended before BeginSync durable, the end of a pending
// segment roll, and the removal of settled segments. BeginSync takes it
// under the driver's lock (cheap), Run does the blocking work without the
// lock, EndSync records the outcome under the lock again.
type SyncTask struct {
	fs     FS
	upTo   LSN
	files  []*segment // fsync'd in this order
	roll   *pendingRoll
	doomed []*segment // settled prefix: closed and removed in order
}

// BeginSync starts a sync task covering everything appended so far.
// Appends may run while the task runs; Sync, BeginSync, EndSync and Close
// may not.
func (s *Store) BeginSync() (*SyncTask, error) {
	if err := s.usable(); err != nil {
		return nil, err
	}
	t := &SyncTask{fs: s.fs, upTo: s.appended, roll: s.rolling}
	if t.roll != nil {
		t.files = append(t.files, t.roll.sealed)
	}
	if t.roll != nil || s.appended > s.durable {
		t.files = append(t.files, s.active())
	}
	t.doomed = s.detachSettledPrefix()
	return t, nil
}

// Run does the task's disk work; a driver calls it without its lock.
func (t *SyncTask) Run() error {
	for _, sg := range t.files {
		if err := sg.file.Sync(); err != nil {
			return fmt.Errorf("fsync segment %d: %w", sg.num, err)
		}
	}
	if r := t.roll; r != nil {
		// The sealed segment is durable, so the new one may take its name.
		if err := t.fs.Rename(r.tmp, r.name); err != nil {
			return fmt.Errorf("rename %s to %s: %w", r.tmp, r.name, err)
		}
		if err := t.fs.SyncDir(); err != nil {
			return fmt.Errorf("sync data directory after starting %s: %w", r.name, err)
		}
	}
	for i, sg := range t.doomed {
		name := segName(sg.num)
		_ = sg.file.Close() // nothing in it is needed any more; removing it is what matters
		if err := t.fs.Remove(name); err != nil {
			t.doomed = t.doomed[:i]
			return fmt.Errorf("remove settled segment %s: %w", name, err)
		}
		// One directory sync per removal keeps the surviving segments a
		// suffix of the log even if the disk reorders directory updates.
		if err := t.fs.SyncDir(); err != nil {
			return fmt.Errorf("sync data directory after removing %s: %w", name, err)
		}
	}
	return nil
}

// EndSync records the outcome of a task's Run: an error fails the store;
// success makes everything up to the task's LSN durable, finishes the roll
// and runs one bounded compaction step (see compactStep), so that the
// driver's lock is never held for a whole segment's relocation.
func (s *Store) EndSync(t *SyncTask, runErr error) (LSN, error) {
	if err := s.usable(); err != nil {
		return s.durable, err
	}
	if runErr != nil {
		return s.durable, s.fail(runErr)
	}
	s.durable = max(s.durable, t.upTo)
	if t.roll != nil && s.rolling == t.roll {
		s.rolling = nil
	}
	for _, sg := range t.doomed {
		s.log.Info("store: removed settled segment", "segment", segName(sg.num))
	}
	if err := s.compactStep(); err != nil {
		return s.durable, err
	}
	return s.durable, nil
}

// Pending reports whether a sync task has work to do: records not yet
// durable, a roll to finish, settled segments to remove, or compaction to
// continue. A driver runs tasks until it is false.
func (s *Store) Pending() bool {
	if s.closed || s.failed != nil {
		return false
	}
	return s.appended > s.durable || s.rolling != nil || s.removable() || s.wantRelocation()
}
