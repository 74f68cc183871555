package server

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/ciphermq/ciphermq/broker"
	"github.com/ciphermq/ciphermq/broker/wal"
)

// durability drives the durable log: the driver loop (settle) appends the
// records of every EffectPersist (Append, under s.mu), and one goroutine
// does group commit: it fsyncs whatever was appended since the last fsync
// and then reports the last token appended before it to the loop
// (Synced), which releases the confirms waiting for it. Publishes that
// arrive while an fsync runs form the next batch.
type durability struct {
	s        *Server
	st       *wal.Store
	policy   wal.SyncPolicy
	interval time.Duration
	batch    []wal.Record // records of one outbox drain, not yet appended (s.mu)
	failed   bool         // (s.mu)

	wake      chan struct{}
	stop      chan struct{}
	done      sync.WaitGroup
	closeOnce sync.Once
}

// openStorage opens the data directory, restores the core from it and
// starts the syncer; without a data directory the core refuses durable
// declarations.
func (s *Server) openStorage() error {
	if s.cfg.DataDir == "" {
		s.core = broker.New(s.cfg.Config)
		s.core.StorageFailed("this broker runs without --data-dir", time.Now())
		return nil
	}
	var fsys wal.FS = s.cfg.storageFS
	if fsys == nil {
		osfs, err := wal.NewOSFS(s.cfg.DataDir)
		if err != nil {
			return err
		}
		fsys = osfs
	}
	st, rec, err := wal.Open(fsys, wal.Options{
		Policy: s.cfg.Fsync, SyncInterval: s.cfg.FsyncInterval, DedupWindow: s.cfg.DedupWindow,
		DedupMaxIDs: s.cfg.DedupMaxIDs, Logger: s.log, SegmentSize: s.cfg.storageSegmentSize,
	})
	if err != nil {
		return fmt.Errorf("server: open data directory: %w", err)
	}
	core, err := broker.Restore(s.cfg.Config, rec, st.ReadMessage, time.Now())
	if err != nil {
		_ = st.Close()
		return fmt.Errorf("server: restore from %s: %w", s.cfg.DataDir, err)
	}
	s.core = core
	d := &durability{s: s, st: st, policy: st.Policy(), interval: st.SyncInterval(), wake: make(chan struct{}, 1), stop: make(chan struct{})}
	s.dur = d
	s.log.Info("durable storage open", "data_dir", s.cfg.DataDir, "fsync", d.policy.String(),
		"queues", len(rec.Queues), "damaged_tails", len(rec.Damage))
	d.done.Add(1)
	go s.syncLoop(d)
	return nil
}

// errStorageClosed refuses appends after closeStorage.
var errStorageClosed = errors.New("durable storage is closed")

// Append implements driver.Log: the records of one drain of the core's
// outbox go to the log with one Append (one write(2) under s.mu instead of
// one per effect); under SyncAlways the syncer is woken (under
// SyncInterval the loop releases the confirms at once). s.mu held.
func (d *durability) Append(effects []*broker.Effect) error {
	if d.failed {
		// The loop stops appending after a failure, so the log was closed
		// (closeStorage): the core refuses durable work from now on.
		return errStorageClosed
	}
	for _, e := range effects {
		d.batch = append(d.batch, e.Records...)
	}
	recs := d.batch
	defer func() { clear(recs); d.batch = recs[:0] }()
	if _, err := d.st.Append(recs...); err != nil {
		d.fail(err) // the loop tells the core
		return err
	}
	if d.policy != wal.SyncInterval {
		select {
		case d.wake <- struct{}{}:
		default:
		}
	}
	return nil
}

func (d *durability) fail(err error) {
	d.failed = true
	d.s.log.Error("durable storage failed: refusing publishes to durable queues", "err", err)
}

func (s *Server) storageFailed(err error, now time.Time) {
	s.dur.fail(err)
	s.loop.StorageFailed(err.Error(), now)
}

// syncLoop is the group-commit goroutine. Under s.mu it takes the token to
// release and a sync task (wal.BeginSync: cheap); without the lock it
// runs the task's disk work: the fsyncs, the end of a segment roll, the
// removal of settled segments (connections keep publishing meanwhile, and
// what they append forms the next batch); under s.mu again it records the
// outcome (one bounded compaction step), releases the confirms up to the
// token, and goes round again while the store has work pending.
func (s *Server) syncLoop(d *durability) {
	defer d.done.Done()
	var tick <-chan time.Time
	if d.policy == wal.SyncInterval {
		t := time.NewTicker(d.interval)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case <-d.stop:
			return
		case <-d.wake:
		case <-tick:
		}
		s.mu.Lock()
		if d.failed || !d.st.Pending() {
			s.mu.Unlock()
			continue
		}
		tok := s.loop.Appended()
		task, err := d.st.BeginSync()
		s.mu.Unlock()
		var took time.Duration
		if err == nil {
			// Outside the lock: publishes keep arriving and are appended
			// meanwhile; they form the next batch.
			start := time.Now()
			err = task.Run()
			took = time.Since(start)
		}
		s.mu.Lock()
		now := time.Now()
		more := false
		if err == nil {
			s.ops.fsync.observe(took)
		}
		if !d.failed {
			if _, err = d.st.EndSync(task, err); err != nil {
				s.storageFailed(err, now)
			} else if d.policy == wal.SyncAlways {
				s.loop.Synced(tok, now)
			}
			s.settle(now)
			// Under SyncInterval the ticker paces the tasks.
			more = d.policy == wal.SyncAlways && !d.failed && d.st.Pending()
		}
		s.mu.Unlock()
		if more {
			select {
			case d.wake <- struct{}{}:
			default:
			}
		}
	}
}

// closeStorage stops the syncer and closes the log (which fsyncs what is
// left unless the store failed).
func (s *Server) closeStorage() {
	d := s.dur
	if d == nil {
		return
	}
	d.closeOnce.Do(func() {
		close(d.stop)
		d.done.Wait()
		s.mu.Lock()
		defer s.mu.Unlock()
		if err := d.st.Close(); err != nil {
			s.log.Error("closing durable storage", "err", err)
		}
		d.failed = true // closed: nothing more is written
	})
}
