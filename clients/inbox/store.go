package inbox

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"sync"
	"syscall"
)

// DefaultMaxRecordBytes bounds one encoded record (one line). Append refuses
// bigger records, so that everything written can be read back by Open.
const DefaultMaxRecordBytes = 64 << 20

// DefaultBufferBytes is the default write buffer: Appends are collected in
// memory and written to the file when the buffer fills or on Sync.
const DefaultBufferBytes = 256 << 10

// Options tune Open. The zero value is the production configuration.
type Options struct {
	// FS opens the file; nil means OSFS.
	FS FS
	// Logger receives one line per repair; nil means slog.Default().
	Logger *slog.Logger
	// BufferBytes is the write buffer size; 0 means DefaultBufferBytes.
	BufferBytes int
	// MaxRecordBytes bounds one line; 0 means DefaultMaxRecordBytes.
	MaxRecordBytes int
}

// Recovery says what Open found in the file, and what it cut.
type Recovery struct {
	// Records is the number of complete records in the file.
	Records int
	// CutBytes is the length of the torn tail Open removed (0: none).
	CutBytes int64
	// CutOffset is where the torn tail began; the file now ends there.
	CutOffset int64
	// CutLine is the line number of the torn tail.
	CutLine int
	// CutReason says why the tail was not a complete record.
	CutReason string
	// CutPreview shows the start of what was cut, quoted.
	CutPreview string
}

// Repaired reports whether Open cut a torn tail.
func (r Recovery) Repaired() bool { return r.CutBytes > 0 }

// Store is an open store file. Its methods are safe for concurrent use, but
// the intended caller is one receiver loop: Seen and Append per delivery,
// Sync per batch.
type Store struct {
	path     string
	maxRec   int
	recovery Recovery

	mu sync.Mutex
	f  File
	// ids holds every stored id, mapped to whether it is durable: the only
	// per-message memory. pending lists the ids appended since the last
	// successful Sync (bounded by the batch size).
	ids     map[string]bool
	pending []string
	buf     []byte // appended, not yet written to f
	dirty   bool   // appended since the last successful Sync
	bufCap  int
	err     error // sticky: ErrBroken or ErrClosed, wrapped with the cause
}

// Open opens (creating if needed) the store file at path, locks it, rebuilds
// the set of stored message ids, and repairs a torn last line (see the
// package documentation). The caller must Close the Store.
func Open(path string, opts Options) (*Store, error) {
	fsys := opts.FS
	if fsys == nil {
		fsys = OSFS{}
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	s := &Store{
		path:   path,
		maxRec: opts.MaxRecordBytes,
		bufCap: opts.BufferBytes,
		ids:    make(map[string]bool),
	}
	if s.maxRec <= 0 {
		s.maxRec = DefaultMaxRecordBytes
	}
	if s.bufCap <= 0 {
		s.bufCap = DefaultBufferBytes
	}
	f, err := fsys.OpenLocked(path)
	if err != nil {
		return nil, describeOpenError(path, err)
	}
	if err := s.rebuild(f); err != nil {
		_ = f.Close()
		return nil, err
	}
	if s.recovery.Repaired() {
		log.Warn("store: cut a torn last line left by a crash",
			"path", path, "line", s.recovery.CutLine, "offset", s.recovery.CutOffset,
			"bytes", s.recovery.CutBytes, "reason", s.recovery.CutReason,
			"preview", s.recovery.CutPreview)
	}
	s.f = f
	s.buf = make([]byte, 0, s.bufCap)
	return s, nil
}

// describeOpenError turns an open failure into advice.
func describeOpenError(path string, err error) error {
	switch {
	case errors.Is(err, ErrLocked):
		return fmt.Errorf("open store file %s: %w", path, err)
	case errors.Is(err, fs.ErrPermission):
		return fmt.Errorf("open store file %s: permission denied: "+
			"choose an output file in a directory you can write, or fix its permissions: %w", path, err)
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("open store file %s: its directory does not exist: create it first: %w", path, err)
	case errors.Is(err, syscall.EISDIR):
		return fmt.Errorf("open store file %s: it is a directory: give a file name: %w", path, err)
	case errors.Is(err, syscall.ENOTDIR):
		return fmt.Errorf("open store file %s: a part of the path is not a directory: %w", path, err)
	}
	return fmt.Errorf("open store file %s: %w", path, err)
}

// rebuild reads f, fills s.ids and cuts a torn tail.
func (s *Store) rebuild(f File) error {
	size, err := f.Size()
	if err != nil {
		return fmt.Errorf("open store file %s: %w", s.path, err)
	}
	var torn *line
	var tornData, scratch []byte
	err = scanLines(io.NewSectionReader(f, 0, size), s.maxRec, func(l *line) error {
		if torn != nil {
			// A bad line followed by more data: not a crash artefact.
			return &CorruptError{Path: s.path, Line: torn.no, Offset: torn.off, Reason: s.recovery.CutReason}
		}
		reason := ""
		switch {
		case !l.newline:
			reason = "no newline at the end (write interrupted)"
		case l.tooLong:
			reason = fmt.Sprintf("line longer than %d bytes", s.maxRec)
		default:
			rec, ok := parseCanonical(l.data, &scratch, false)
			if !ok {
				var err error
				if rec, err = decodeRecordJSON(l.data); err != nil {
					reason = err.Error()
					break
				}
			}
			if _, dup := s.ids[rec.MessageID]; dup {
				return &CorruptError{Path: s.path, Line: l.no, Offset: l.off,
					Reason: fmt.Sprintf("message id %q is stored twice (this store never writes a duplicate)", rec.MessageID)}
			}
			s.ids[rec.MessageID] = true
			s.recovery.Records++
			return nil
		}
		c := *l
		torn = &c
		tornData = append([]byte(nil), l.data[:min(len(l.data), 64)]...)
		s.recovery.CutReason = reason
		return nil
	})
	if err != nil {
		var ce *CorruptError
		if errors.As(err, &ce) {
			return err
		}
		return fmt.Errorf("read store file %s: %w", s.path, err)
	}
	if torn == nil {
		// What a crashed writer wrote but never fsync'd may still sit in
		// the page cache, readable now and gone after a power loss. The
		// ids just read count as durable (Seen), so make them so.
		if err := f.Sync(); err != nil {
			return fmt.Errorf("sync store file %s after reading it: %w", s.path, err)
		}
		return nil
	}
	s.recovery.CutOffset = torn.off
	s.recovery.CutBytes = size - torn.off
	s.recovery.CutLine = torn.no
	s.recovery.CutPreview = quotePreview(tornData, 64)
	if s.recovery.CutBytes > 64 {
		s.recovery.CutPreview += fmt.Sprintf(" (%d bytes in all)", s.recovery.CutBytes)
	}
	if err := f.Truncate(torn.off); err != nil {
		return fmt.Errorf("cut torn last line of store file %s at byte %d: %w", s.path, torn.off, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("sync store file %s after cutting its torn last line: %w", s.path, err)
	}
	return nil
}

// Path is the file the Store writes.
func (s *Store) Path() string { return s.path }

// Recovery says what Open found and repaired.
func (s *Store) Recovery() Recovery { return s.recovery }

// Len is the number of stored records, durable or appended since the last
// Sync.
func (s *Store) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.ids)
}

// Seen reports whether id is stored durably: its record was fsync'd, so a
// delivery of it may be acked at once as a duplicate. An id appended since
// the last Sync is not Seen yet (acking a copy of it before the fsync could
// lose the message in a crash); Has reports those too.
func (s *Store) Seen(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ids[id]
}

// Has reports whether id is stored, durable or appended since the last
// Sync. Append refuses exactly the ids Has reports.
func (s *Store) Has(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.ids[id]
	return ok
}

// Append adds rec to the file. It is buffered: the record is durable only
// once Sync returns nil. Append refuses a message id that is already stored
// (ErrDuplicate) and records that are not valid (ErrInvalidRecord); those
// refusals leave the Store usable. A failed write breaks it (ErrBroken).
func (s *Store) Append(rec Record) error {
	if err := rec.validate(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return s.err
	}
	if _, dup := s.ids[rec.MessageID]; dup {
		return fmt.Errorf("append %q: %w", rec.MessageID, ErrDuplicate)
	}
	start := len(s.buf)
	s.buf = appendRecord(s.buf, &rec)
	if n := len(s.buf) - start; n > s.maxRec+1 {
		s.buf = s.buf[:start]
		return fmt.Errorf("%w: message %q encodes to %d bytes, above the limit of %d", ErrInvalidRecord, rec.MessageID, n, s.maxRec)
	}
	s.ids[rec.MessageID] = false
	s.pending = append(s.pending, rec.MessageID)
	s.dirty = true
	if len(s.buf) >= s.bufCap {
		return s.flushLocked()
	}
	return nil
}

// flushLocked writes the buffer to the file (no fsync).
func (s *Store) flushLocked() error {
	if len(s.buf) == 0 {
		return nil
	}
	n, err := s.f.Write(s.buf)
	if err == nil && n != len(s.buf) {
		err = io.ErrShortWrite
	}
	if err != nil {
		s.err = fmt.Errorf("%w: write %s: %v", ErrBroken, s.path, err)
		return s.err
	}
	if cap(s.buf) > 4*s.bufCap {
		// One huge record grew the buffer; do not keep it forever.
		s.buf = make([]byte, 0, s.bufCap)
	} else {
		s.buf = s.buf[:0]
	}
	return nil
}

// Sync writes every appended record to the file and fsyncs it. When it
// returns nil, every record appended so far is durable and may be acked.
// After a failure the Store is broken: the page cache may have dropped the
// data, so only a fresh Open can tell what is on disk.
func (s *Store) Sync() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.syncLocked()
}

func (s *Store) syncLocked() error {
	if s.err != nil {
		return s.err
	}
	if !s.dirty {
		// Nothing appended since the last fsync (a batch of duplicates
		// only): everything is durable already.
		return nil
	}
	if err := s.flushLocked(); err != nil {
		return err
	}
	if err := s.f.Sync(); err != nil {
		s.err = fmt.Errorf("%w: fsync %s: %v", ErrBroken, s.path, err)
		return s.err
	}
	s.dirty = false
	for _, id := range s.pending {
		s.ids[id] = true
	}
	clear(s.pending) // drop the strings' references before reuse
	s.pending = s.pending[:0]
	return nil
}

// Close syncs what was appended, then closes the file and releases its
// lock. After Close every method returns ErrClosed.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if errors.Is(s.err, ErrClosed) {
		return nil
	}
	syncErr := s.syncLocked()
	closeErr := s.f.Close()
	s.err = ErrClosed
	if syncErr != nil {
		return syncErr
	}
	if closeErr != nil {
		return fmt.Errorf("close store file %s: %w", s.path, closeErr)
	}
	return nil
}
