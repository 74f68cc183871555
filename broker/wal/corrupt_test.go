package wal

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// segmentLayout returns the start offset of every record of a segment file.
func segmentLayout(t *testing.T, data []byte) []int {
	t.Helper()
	var starts []int
	for off := segHeaderSize; off < len(data); {
		_, n, err := DecodeRecord(data[off:], DefaultMaxRecordSize)
		if err != nil {
			t.Fatalf("layout: offset %d: %v", off, err)
		}
		starts = append(starts, off)
		off += n
	}
	return starts
}

// recordAt returns the index of the record holding byte p (-1: the header).
func recordAt(starts []int, p int) int {
	i := -1
	for j, s := range starts {
		if s <= p {
			i = j
		}
	}
	return i
}

// TestByteFlipsInRealLogFilesAreReported flips every byte of every segment
// of a real log on disk, one at a time, and opens it: damage is never
// accepted silently. In the tail record it is cut and reported; anywhere
// else Open fails naming the segment and the record's offset and leaves
// the files as they were.
func TestByteFlipsInRealLogFilesAreReported(t *testing.T) {
	dir := t.TempDir()
	fsys, err := NewOSFS(dir)
	if err != nil {
		t.Fatal(err)
	}
	opts := Options{Logger: quiet(), SegmentSize: 300}
	s, _ := mustOpen(t, fsys, opts)
	mustAppend(t, s, Record{Type: RecDeclareQueue, Queue: "q"})
	for i := uint64(1); i <= 20; i++ {
		mustAppend(t, s, publish(i, fmt.Sprintf("message number %d", i), "q"))
		mustSync(t, s)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	names, _ := fsys.List()
	var segs []string
	orig := map[string][]byte{}
	for _, n := range names {
		if _, ok := parseSegName(n); ok {
			segs = append(segs, n)
			orig[n], _ = os.ReadFile(filepath.Join(dir, n))
		}
	}
	if len(segs) < 3 {
		t.Fatalf("want at least 3 segments, got %v", segs)
	}
	restore := func() {
		for n, b := range orig {
			if err := os.WriteFile(filepath.Join(dir, n), b, 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
	unchanged := func() bool {
		for n, b := range orig {
			got, _ := os.ReadFile(filepath.Join(dir, n))
			if string(got) != string(b) {
				return false
			}
		}
		return true
	}
	flips := 0
	for si, name := range segs {
		last := si == len(segs)-1
		data := orig[name]
		starts := segmentLayout(t, data)
		for p := range data {
			flipped := append([]byte(nil), data...)
			flipped[p] ^= 0x08
			if err := os.WriteFile(filepath.Join(dir, name), flipped, 0o600); err != nil {
				t.Fatal(err)
			}
			flips++
			j := recordAt(starts, p)
			off := 0
			if j >= 0 {
				off = starts[j]
			}
			s, rec, err := Open(fsys, opts)
			tailRecord := last && j == len(starts)-1
			switch {
			case tailRecord:
				if err != nil {
					t.Fatalf("%s byte %d (tail record): Open: %v", name, p, err)
				}
				if len(rec.Damage) != 1 || rec.Damage[0].Segment != name || rec.Damage[0].Offset != int64(off) {
					t.Fatalf("%s byte %d: damage %v, want a cut at %d", name, p, rec.Damage, off)
				}
				s.Close()
				restore()
			default:
				if !errors.Is(err, ErrCorrupt) {
					if s != nil {
						s.Close()
					}
					t.Fatalf("%s byte %d (record at %d): Open error %v, want ErrCorrupt", name, p, off, err)
				}
				if msg := err.Error(); !strings.Contains(msg, name) || !strings.Contains(msg, fmt.Sprintf("offset %d", off)) {
					t.Fatalf("%s byte %d: error %q does not name the segment and offset %d", name, p, msg, off)
				}
				if !unchangedExcept(t, dir, name, orig) {
					t.Fatalf("%s byte %d: a refused Open changed the files", name, p)
				}
				restore()
			}
		}
	}
	if !unchanged() {
		t.Fatal("files not restored")
	}
	t.Logf("%d single-byte flips over %d segments, all reported", flips, len(segs))
}

// unchangedExcept: every file is as in orig, except name, which differs in
// exactly the one flipped byte (so nothing was truncated or rewritten).
func unchangedExcept(t *testing.T, dir, name string, orig map[string][]byte) bool {
	t.Helper()
	for n, b := range orig {
		got, _ := os.ReadFile(filepath.Join(dir, n))
		if len(got) != len(b) {
			return false
		}
		diff := 0
		for i := range got {
			if got[i] != b[i] {
				diff++
			}
		}
		if (n == name && diff != 1) || (n != name && diff != 0) {
			return false
		}
	}
	return true
}

func TestRepairCorruptTailCutsAndReports(t *testing.T) {
	fsys := NewMemFS()
	s, _ := mustOpen(t, fsys, testOpts())
	for i := uint64(1); i <= 5; i++ {
		mustAppend(t, s, publish(i, "x", "q"))
	}
	s.Close()
	name := segName(1)
	data, _ := fsys.ReadFile(name)
	starts := segmentLayout(t, data)
	data[starts[2]+headerSize] ^= 1 // third record's payload
	fsys.WriteFile(name, data)
	if _, _, err := Open(fsys, testOpts()); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "valid record follows") {
		t.Fatalf("Open: %v", err)
	}
	opts := testOpts()
	opts.RepairCorruptTail = true
	s, rec := mustOpen(t, fsys, opts)
	defer s.Close()
	if len(rec.Damage) != 1 || rec.Damage[0].Offset != int64(starts[2]) || len(rec.Messages[0].Messages) != 2 {
		t.Fatalf("repair: damage %v messages %+v", rec.Damage, rec.Messages)
	}
}
