package wal

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"time"
)

// Defaults of Options.
const (
	DefaultSegmentSize   = 64 << 20
	DefaultMaxRecordSize = 16<<20 + 64<<10 // a 16 MiB body plus names and ids
	DefaultSyncInterval  = 10 * time.Millisecond
)

// Options configure a Store. Zero values take the defaults.
type Options struct {
	// SegmentSize: a new segment starts once the active one would grow past it.
	SegmentSize int64
	// MaxRecordSize bounds one record; a length above it reads as damage.
	MaxRecordSize int
	// Policy is the driver's fsync policy (see SyncPolicy).
	Policy SyncPolicy
	// SyncInterval is the fsync period under SyncInterval.
	SyncInterval time.Duration
	// DedupWindow: dedup entries older than this before the newest are
	// dropped when a segment starts. Zero keeps them all.
	DedupWindow time.Duration
	// DedupMaxIDs: at most this many (the newest) dedup entries are carried
	// into a new segment, like the core's own bound. Zero: no bound.
	DedupMaxIDs int
	// RepairCorruptTail lets Open cut the last segment at damage that is
	// followed by valid records (bit rot, not a torn write). Off by default:
	// Open refuses with ErrCorrupt so an operator decides.
	RepairCorruptTail bool
	// Logger receives one line per event that matters; nil: slog.Default().
	Logger *slog.Logger
}

func (o *Options) fill() {
	if o.SegmentSize <= 0 {
		o.SegmentSize = DefaultSegmentSize
	}
	if o.MaxRecordSize <= 0 {
		o.MaxRecordSize = DefaultMaxRecordSize
	}
	if o.SyncInterval <= 0 {
		o.SyncInterval = DefaultSyncInterval
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
}

// LSN counts the records a Store has appended since Open: the first
// Append's first record is LSN 1. Sync reports the highest durable LSN.
type LSN uint64

// Store is the broker's write-ahead log: one segmented, append-only log
// per broker. It is not safe for concurrent use, starts no goroutines and
// reads no clock: the driver serialises calls and decides when to Sync.
type Store struct {
	fs   FS
	lock io.Closer
	opts Options
	log  *slog.Logger

	segs []*segment // oldest first; the last is active
	st   *state
	buf  []byte

	appended, durable LSN
	failed            error
	closed            bool
	// appendedSinceRoll counts records appended to the active segment
	// after its snapshot; a segment holding only a snapshot never rolls.
	appendedSinceRoll int
	// rolling is the roll the next sync task finishes: the segment before
	// the active one may still have unsynced bytes and the active one still
	// has its temporary name. At most one roll is pending (see roll).
	rolling *pendingRoll
	// relocSeqs are the messages of segment relocSeg that compaction has
	// still to move forward (computed once per segment).
	relocSeg  uint64
	relocSeqs []uint64
}

// Open locks the data directory, replays the log and returns the store
// ready to append, with what it recovered. A torn tail is cut and listed
// in Recovered.Damage; damage anywhere else is ErrCorrupt naming the
// segment and offset, and nothing is changed.
func Open(fsys FS, opts Options) (*Store, *Recovered, error) {
	opts.fill()
	lock, err := fsys.Lock()
	if err != nil {
		return nil, nil, err
	}
	s := &Store{fs: fsys, lock: lock, opts: opts, log: opts.Logger, st: newState()}
	rec, err := s.replay()
	if err != nil {
		s.closeFiles()
		_ = lock.Close()
		return nil, nil, err
	}
	return s, rec, nil
}

func (s *Store) replay() (*Recovered, error) {
	names, err := s.fs.List()
	if err != nil {
		return nil, fmt.Errorf("store: list data directory: %w", err)
	}
	var nums, tmps []uint64
	for _, n := range names {
		if num, ok := parseSegName(n); ok {
			nums = append(nums, num)
		} else if base, ok := strings.CutSuffix(n, tmpSuffix); ok {
			if num, ok := parseSegName(base); ok {
				tmps = append(tmps, num)
			}
		}
	}
	slices.Sort(nums)
	rec := &Recovered{}
	lastTorn := false
	for i, num := range nums {
		last := i == len(nums)-1
		damaged := len(rec.Damage)
		if err := s.replaySegment(num, last, rec); err != nil {
			return nil, err
		}
		lastTorn = last && len(rec.Damage) > damaged
	}
	if err := s.finishInterruptedRoll(nums, tmps, lastTorn, rec); err != nil {
		return nil, err
	}
	if len(s.segs) == 0 {
		next := uint64(1)
		if len(nums) > 0 {
			next = nums[len(nums)-1] + 1
		}
		if err := s.newSegment(next); err != nil {
			return nil, fmt.Errorf("store: start the log: %w", err)
		}
	}
	rec.Exchanges = s.st.exchangeList()
	rec.Queues = s.st.queueList()
	rec.Bindings = s.st.bindingList()
	rec.Messages = s.st.queueMessages()
	// Every segment's snapshot repeats the window: keep one entry per id.
	rec.Dedup = s.st.window.rebuild()
	rec.NextSeq = s.st.nextSeq
	rec.Orphans = s.st.orphans
	for _, d := range rec.Damage {
		s.log.Warn("store: cut a damaged log tail", "segment", d.Segment, "offset", d.Offset, "dropped_bytes", d.Dropped, "reason", d.Reason)
	}
	s.log.Info("store: log replayed", "segments", len(s.segs), "records", rec.Records, "live_messages", len(s.st.live), "queues", len(rec.Queues))
	return rec, nil
}

// finishInterruptedRoll deals with segments left under their temporary
// name by a roll whose sync task never ended. The one right after the last
// segment is adopted (renamed, then replayed as the last segment) when that
// segment replayed whole: after a process crash the page cache kept both,
// and under SyncInterval its records may have been confirmed. After a
// power loss that tore the last segment, the temporary one is dropped (and
// reported): nothing in it was confirmed under SyncAlways, since confirms
// wait for the task that fsyncs the sealed segment first, and keeping it
// would put records behind a hole. Any other temporary segment is stale.
func (s *Store) finishInterruptedRoll(nums, tmps []uint64, lastTorn bool, rec *Recovered) error {
	slices.Sort(tmps)
	for _, num := range tmps {
		tmp := segName(num) + tmpSuffix
		if len(nums) > 0 && num == nums[len(nums)-1]+1 && len(s.segs) > 0 && !lastTorn {
			if err := s.fs.Rename(tmp, segName(num)); err != nil {
				return fmt.Errorf("store: finish the roll to %s: %w", segName(num), err)
			}
			if err := s.fs.SyncDir(); err != nil {
				return fmt.Errorf("store: sync data directory: %w", err)
			}
			if err := s.replaySegment(num, true, rec); err != nil {
				return err
			}
			continue
		}
		size := int64(-1)
		if f, err := s.fs.Open(tmp); err == nil {
			size, _ = f.Size()
			_ = f.Close()
		}
		if err := s.fs.Remove(tmp); err != nil {
			return fmt.Errorf("store: remove unfinished segment %s: %w", tmp, err)
		}
		if err := s.fs.SyncDir(); err != nil {
			return fmt.Errorf("store: sync data directory: %w", err)
		}
		rec.Damage = append(rec.Damage, Damage{Segment: tmp, Offset: 0, Dropped: max(size, 0),
			Reason: "unfinished segment roll after a torn or missing previous segment (never confirmed under fsync always)"})
	}
	return nil
}

func (s *Store) replaySegment(num uint64, last bool, rec *Recovered) error {
	name := segName(num)
	f, err := s.fs.Open(name)
	if err != nil {
		return fmt.Errorf("store: open segment %s: %w", name, err)
	}
	data, err := readAll(f)
	if err != nil {
		_ = f.Close()
		return fmt.Errorf("store: read segment %s: %w", name, err)
	}
	nextSeq, herr := checkSegHeader(data, num)
	if herr != nil {
		if last && len(data) < segHeaderSize {
			// Crashed while creating the segment: nothing in it was ever
			// synced, so it goes away and a fresh one replaces it.
			_ = f.Close()
			if err := s.fs.Remove(name); err != nil {
				return fmt.Errorf("store: remove torn segment %s: %w", name, err)
			}
			if err := s.fs.SyncDir(); err != nil {
				return fmt.Errorf("store: sync data directory: %w", err)
			}
			rec.Damage = append(rec.Damage, Damage{Segment: name, Offset: 0, Dropped: int64(len(data)), Reason: herr.Error()})
			return nil
		}
		_ = f.Close()
		return fmt.Errorf("%w: segment %s offset 0: %v", ErrCorrupt, name, herr)
	}
	sg := &segment{num: num, file: f, size: int64(len(data))}
	s.segs = append(s.segs, sg)
	s.st.segs[num] = sg
	s.st.nextSeq = max(s.st.nextSeq, nextSeq)
	off := segHeaderSize
	for off < len(data) {
		r, n, derr := decodeRecord(data[off:], s.opts.MaxRecordSize, false)
		if derr != nil {
			if !last {
				return fmt.Errorf("%w: segment %s offset %d: %v (only the last segment may have a torn tail; restore this file from a backup or move it away knowing its messages are lost)", ErrCorrupt, name, off, derr)
			}
			if at, ok := validRecordAfter(data, off, s.opts.MaxRecordSize); ok && !s.opts.RepairCorruptTail {
				return fmt.Errorf("%w: segment %s offset %d: %v, but a valid record follows at offset %d, so this is not a torn write (set RepairCorruptTail to cut the segment here and lose what follows)", ErrCorrupt, name, off, derr, at)
			}
			if err := f.Truncate(int64(off)); err != nil {
				return fmt.Errorf("store: cut torn tail of %s at %d: %w", name, off, err)
			}
			if err := f.Sync(); err != nil {
				return fmt.Errorf("store: sync %s after cutting its tail: %w", name, err)
			}
			rec.Damage = append(rec.Damage, Damage{Segment: name, Offset: int64(off), Dropped: int64(len(data) - off), Reason: derr.Error()})
			sg.size = int64(off)
			break
		}
		s.st.apply(&r, num, int64(off), data[off:off+n])
		rec.Records++
		off += n
	}
	return nil
}

// newSegment creates segment num, writes its header and a snapshot of the
// topology and dedup window (so older segments are never needed for
// those), syncs it and its directory entry, and makes it active. Only Open
// uses it; a running store rolls with roll, which leaves the syncs to the
// next sync task.
func (s *Store) newSegment(num uint64) error {
	name := segName(num)
	sg, err := s.createSegment(name, num)
	if err != nil {
		return err
	}
	if err := sg.file.Sync(); err != nil {
		_ = sg.file.Close()
		return fmt.Errorf("sync segment %s: %w", name, err)
	}
	if err := s.fs.SyncDir(); err != nil {
		_ = sg.file.Close()
		return fmt.Errorf("sync data directory after creating %s: %w", name, err)
	}
	s.segs = append(s.segs, sg)
	s.st.segs[num] = sg
	return nil
}

// createSegment creates the file name for segment num and writes its
// header and snapshot, without syncing anything: the header and topology
// with one write, then the dedup window's records as they are (one write
// per chunk of the window, nothing to sort or encode).
func (s *Store) createSegment(name string, num uint64) (*segment, error) {
	f, err := s.fs.Create(name)
	if err != nil {
		return nil, fmt.Errorf("create segment %s: %w", name, err)
	}
	s.st.pruneDedup(s.opts.DedupWindow, s.opts.DedupMaxIDs)
	b, err := s.st.appendTopology(segHeader(num, s.st.nextSeq))
	if err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("snapshot into %s: %w", name, err)
	}
	if err := writeAll(f, b); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("write segment %s: %w", name, err)
	}
	n, err := s.st.window.writeTo(f)
	if err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("write segment %s: %w", name, err)
	}
	return &segment{num: num, file: f, size: int64(len(b)) + n}, nil
}

func writeAll(f File, b []byte) error {
	n, err := f.Write(b)
	if err == nil && n != len(b) {
		err = io.ErrShortWrite
	}
	return err
}

func (s *Store) usable() error {
	if s.closed {
		return ErrClosed
	}
	if s.failed != nil {
		return fmt.Errorf("%w: %w", ErrFailed, s.failed)
	}
	return nil
}

// fail puts the store into the failed state: after a failed write or
// fsync nobody knows which of the unsynced bytes reached the disk, so the
// store writes nothing more. Reopening replays what is really there.
func (s *Store) fail(err error) error {
	s.failed = err
	s.log.Error("store: failed; durable writes are refused until the store is reopened", "err", err)
	return fmt.Errorf("%w: %w", ErrFailed, err)
}

func (s *Store) active() *segment { return s.segs[len(s.segs)-1] }

// Append writes records to the log with one write call and returns the LSN
// of the last one. They are durable only once Sync returns an LSN at least
// as high. A record that cannot be encoded is refused before anything is
// written; a write error fails the store.
func (s *Store) Append(recs ...Record) (LSN, error) {
	if err := s.usable(); err != nil {
		return s.appended, err
	}
	if len(recs) == 0 {
		return s.appended, nil
	}
	b := s.buf[:0]
	ends := make([]int, 0, len(recs))
	for i := range recs {
		var err error
		if b, err = AppendRecord(b, &recs[i]); err != nil {
			return s.appended, fmt.Errorf("store: record %d of %d (%s): %w", i+1, len(recs), recs[i].Type, err)
		}
		if n := len(b) - ends0(ends); n > s.opts.MaxRecordSize+headerSize {
			return s.appended, fmt.Errorf("store: record %d of %d (%s) is %d bytes: %w (limit %d)", i+1, len(recs), recs[i].Type, n, ErrTooLarge, s.opts.MaxRecordSize)
		}
		ends = append(ends, len(b))
	}
	s.buf = b
	if a := s.active(); s.rolling == nil && s.appendedSinceRoll > 0 && a.size+int64(len(b)) > s.opts.SegmentSize {
		if err := s.roll(); err != nil {
			return s.appended, err
		}
	}
	a := s.active()
	if err := writeAll(a.file, b); err != nil {
		return s.appended, s.fail(fmt.Errorf("write to segment %s: %w", segName(a.num), err))
	}
	start := 0
	for i := range recs {
		s.st.apply(&recs[i], a.num, a.size+int64(start), b[start:ends[i]])
		start = ends[i]
	}
	a.size += int64(len(b))
	s.appended += LSN(len(recs))
	s.appendedSinceRoll += len(recs)
	return s.appended, nil
}

func ends0(ends []int) int {
	if len(ends) == 0 {
		return 0
	}
	return ends[len(ends)-1]
}

// Sync makes everything appended so far durable (one fsync for however
// many records: group commit) and returns the highest durable LSN. It also
// finishes a pending segment roll and deletes or compacts segments whose
// messages are all settled, running sync tasks until none is left to do.
// A driver that must not block while the disk works uses BeginSync,
// SyncTask.Run and EndSync instead. An fsync error fails the store.
func (s *Store) Sync() (LSN, error) {
	if err := s.usable(); err != nil {
		return s.durable, err
	}
	// Each pass relocates a bounded step; the bound on passes only guards
	// against a bug looping forever (compaction converges well before).
	for passes := 4*len(s.segs) + 8 + 3*len(s.st.live)/relocateStep; passes > 0; passes-- {
		t, err := s.BeginSync()
		if err != nil {
			return s.durable, err
		}
		if _, err := s.EndSync(t, t.Run()); err != nil {
			return s.durable, err
		}
		if !s.Pending() {
			break
		}
	}
	return s.durable, nil
}

// Durable is the highest LSN made durable by Sync.
func (s *Store) Durable() LSN { return s.durable }

// Appended is the LSN of the last appended record.
func (s *Store) Appended() LSN { return s.appended }

// Policy is the fsync policy the store was opened with.
func (s *Store) Policy() SyncPolicy { return s.opts.Policy }

// SyncInterval is the fsync period under SyncInterval.
func (s *Store) SyncInterval() time.Duration { return s.opts.SyncInterval }

// Err is the error that failed the store, or nil.
func (s *Store) Err() error { return s.failed }

// NextSeq is the first message sequence number not used in the log.
func (s *Store) NextSeq() uint64 { return s.st.nextSeq }

// ReadMessage returns the contents of live message seq.
func (s *Store) ReadMessage(seq uint64) (Message, error) {
	if s.closed {
		return Message{}, ErrClosed
	}
	m := s.st.live[seq]
	if m == nil {
		return Message{}, fmt.Errorf("store: message %d is not live (settled, or never stored)", seq)
	}
	r, err := s.readRecord(m)
	if err != nil {
		return Message{}, err
	}
	return Message{Seq: r.Seq, ID: r.MessageID, Exchange: r.Exchange, RoutingKey: r.Key, Body: r.Body, Reason: r.Reason}, nil
}

func (s *Store) readRecord(m *liveMsg) (Record, error) {
	sg := s.st.segs[m.seg]
	if sg == nil {
		return Record{}, fmt.Errorf("store: segment %d of a live message is gone (bug)", m.seg)
	}
	b := make([]byte, m.size)
	if _, err := sg.file.ReadAt(b, m.off); err != nil {
		return Record{}, fmt.Errorf("store: read %s at %d: %w", segName(m.seg), m.off, err)
	}
	r, _, err := DecodeRecord(b, s.opts.MaxRecordSize)
	if err != nil {
		return Record{}, fmt.Errorf("%w: segment %s offset %d: %v", ErrCorrupt, segName(m.seg), m.off, err)
	}
	return r, nil
}

// Stats describe the log's size.
type Stats struct {
	Segments     int
	Bytes        int64 // all segment bytes
	LiveMessages int
	LiveBytes    int64 // record bytes of live messages
	Appended     LSN
	Durable      LSN
}

// Stats returns the current sizes.
func (s *Store) Stats() Stats {
	st := Stats{Segments: len(s.segs), LiveMessages: len(s.st.live), Appended: s.appended, Durable: s.durable}
	for _, sg := range s.segs {
		st.Bytes += sg.size
		st.LiveBytes += sg.liveBytes
	}
	return st
}

// Close syncs (unless the store failed), closes the files and releases the
// directory lock.
func (s *Store) Close() error {
	if s.closed {
		return nil
	}
	var err error
	if s.failed == nil {
		_, err = s.Sync()
	}
	s.closed = true
	s.closeFiles()
	if lerr := s.lock.Close(); err == nil {
		err = lerr
	}
	return err
}

func (s *Store) closeFiles() {
	var errs []error
	for _, sg := range s.segs {
		errs = append(errs, sg.file.Close())
	}
	if err := errors.Join(errs...); err != nil {
		s.log.Warn("store: closing segment files", "err", err)
	}
}
