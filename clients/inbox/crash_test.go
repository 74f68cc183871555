package inbox

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"testing"

	"pgregory.net/rapid"
)

// crashFS is an in-memory disk with the crash semantics the store must
// survive: writes are volatile until Sync; a crash keeps the synced bytes
// plus an arbitrary prefix of the unsynced ones, possibly with garbage
// (zeros) where a torn write left the file extended but not written.
type crashFS struct {
	durable []byte // what survives any crash
	data    []byte // what a reader sees now (durable + unsynced)
	locked  bool
}

func (c *crashFS) OpenLocked(string) (File, error) {
	if c.locked {
		return nil, ErrLocked
	}
	c.locked = true
	return &crashFile{fs: c}, nil
}

// crash loses what was not synced, keeping keep bytes of it, the last
// zeroed of them turned to zeros.
func (c *crashFS) crash(keep, zeroed int) {
	unsynced := c.data[len(c.durable):]
	keep = min(keep, len(unsynced))
	kept := append([]byte(nil), unsynced[:keep]...)
	for i := max(0, keep-zeroed); i < keep; i++ {
		kept[i] = 0
	}
	c.data = append(append([]byte(nil), c.durable...), kept...)
	c.locked = false
}

type crashFile struct{ fs *crashFS }

func (f *crashFile) ReadAt(p []byte, off int64) (int, error) {
	if off >= int64(len(f.fs.data)) {
		return 0, io.EOF
	}
	n := copy(p, f.fs.data[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (f *crashFile) Write(p []byte) (int, error) {
	f.fs.data = append(f.fs.data, p...)
	return len(p), nil
}

func (f *crashFile) Size() (int64, error) { return int64(len(f.fs.data)), nil }

func (f *crashFile) Truncate(size int64) error {
	f.fs.data = f.fs.data[:size]
	if int64(len(f.fs.durable)) > size {
		f.fs.durable = f.fs.durable[:size]
	}
	return nil
}

func (f *crashFile) Sync() error {
	f.fs.durable = append(f.fs.durable[:0], f.fs.data...)
	return nil
}

func (f *crashFile) Close() error {
	f.fs.locked = false
	return nil
}

// TestCrashAnywhereKeepsSyncedRecordsExactlyOnce: whatever sequence of
// appends, syncs and crashes (with torn, zero-filled tails) happens, the
// next Open succeeds, holds every record that was synced before the crash,
// holds each id at most once, and reads back only records that were
// appended, byte for byte.
func TestCrashAnywhereKeepsSyncedRecordsExactlyOnce(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		disk := &crashFS{}
		appended := map[string]string{} // every id ever appended -> message
		synced := map[string]bool{}     // ids synced (must survive)
		next := 0
		open := func() *Store {
			s, err := Open("out.jsonl", Options{FS: disk, BufferBytes: rapid.IntRange(1, 512).Draw(t, "buffer"), Logger: slog.New(slog.DiscardHandler)})
			if err != nil {
				t.Fatalf("Open after a crash: %v", err)
			}
			return s
		}
		s := open()
		steps := rapid.IntRange(1, 60).Draw(t, "steps")
		for range steps {
			switch rapid.IntRange(0, 9).Draw(t, "op") {
			case 0, 1, 2, 3, 4: // append a new message (sometimes a redelivered old id)
				id := fmt.Sprintf("m%d", next)
				if next > 0 && rapid.IntRange(0, 4).Draw(t, "redeliver") == 0 {
					id = fmt.Sprintf("m%d", rapid.IntRange(0, next-1).Draw(t, "old"))
				} else {
					next++
				}
				msg := rapid.StringMatching(`[a-z"\\\n\x00é]{0,40}`).Draw(t, "msg")
				if prev, ok := appended[id]; ok {
					msg = prev // a redelivery carries the same message
				}
				if s.Has(id) {
					if err := s.Append(rec(id, msg)); !errors.Is(err, ErrDuplicate) {
						t.Fatalf("Append of stored id %s: %v, want ErrDuplicate", id, err)
					}
					continue
				}
				if err := s.Append(rec(id, msg)); err != nil {
					t.Fatalf("Append: %v", err)
				}
				appended[id] = msg
			case 5, 6, 7: // group commit
				if err := s.Sync(); err != nil {
					t.Fatalf("Sync: %v", err)
				}
				for id := range appended {
					if s.Seen(id) {
						synced[id] = true
					}
				}
			case 8: // clean restart
				if err := s.Close(); err != nil {
					t.Fatalf("Close: %v", err)
				}
				for id := range appended {
					if s.Seen(id) {
						synced[id] = true
					}
				}
				s = open()
			case 9: // crash: un-synced bytes lost, partly kept, maybe zero-filled
				unsynced := len(disk.data) - len(disk.durable)
				disk.crash(rapid.IntRange(0, unsynced+len(s.buf)).Draw(t, "keep"), rapid.IntRange(0, 8).Draw(t, "zeroed"))
				s = open()
			}
		}
		_ = s.Close()
		// Read the final file back and check it against the history.
		count := map[string]int{}
		err := Scan(bytes.NewReader(disk.data), func(r Record) error {
			count[r.MessageID]++
			if want, ok := appended[r.MessageID]; !ok || string(r.Message) != want {
				t.Fatalf("record %s holds %q, never appended as such", r.MessageID, r.Message)
			}
			return nil
		})
		if err != nil {
			t.Fatalf("final file does not scan: %v", err)
		}
		for id := range synced {
			if count[id] != 1 {
				t.Fatalf("synced id %s is in the file %d times", id, count[id])
			}
		}
		for id, c := range count {
			if c > 1 {
				t.Fatalf("id %s stored %d times", id, c)
			}
		}
	})
}

// A crashed writer's appended-but-unsynced records can survive in the page
// cache, and Open then reports them as stored (Seen). They must be durable
// by then: a second crash (a power loss) must not take them away.
func TestOpenMakesWhatItReadsDurable(t *testing.T) {
	disk := &crashFS{}
	quiet := Options{FS: disk, Logger: slog.New(slog.DiscardHandler)}
	s, err := Open("out.jsonl", quiet)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Append(rec("cached", "m")); err != nil {
		t.Fatal(err)
	}
	if err := s.flushLocked(); err != nil { // written, not fsync'd
		t.Fatal(err)
	}
	disk.crash(len(disk.data), 0) // the process dies; the page cache keeps everything
	s2, err := Open("out.jsonl", quiet)
	if err != nil {
		t.Fatal(err)
	}
	if !s2.Seen("cached") {
		t.Fatal("the record that survived in the page cache is not Seen")
	}
	disk.crash(0, 0) // power loss: only fsync'd bytes remain
	s3, err := Open("out.jsonl", quiet)
	if err != nil {
		t.Fatal(err)
	}
	if !s3.Seen("cached") {
		t.Fatal("a record Open reported as Seen vanished in a later crash: a duplicate of it may have been acked")
	}
}
