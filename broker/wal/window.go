package wal

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"slices"
)

// dedupWindow is the dedup window: the dedup records in the order they
// were recorded, kept encoded. A record's bytes do not depend on where it
// sits in a file, so the dedup part of a new segment's snapshot is the
// window's bytes from its oldest entry on, written as they are: a roll
// sorts and encodes nothing, and the driver's lock is held for a copy into
// the page cache instead of ~45 ms of CPU per 100,000 ids. Recording an id
// costs a copy of its record (no map, no string per id).
//
// The core records an id only when its own window does not hold it, so an
// id has one entry unless the core forgot it (its window is shorter than
// the store's, which prunes at rolls only) and it came back: then the
// older entry stays until it is pruned. Replay keeps an id's newest time,
// so the duplicate is harmless; it counts as an entry against DedupMaxIDs.
type dedupWindow struct {
	times    []int64 // of the entries, oldest first
	chunks   []windowChunk
	first    int  // offset of the oldest entry's record in chunks[0]
	unsorted bool // an entry was recorded with an older time than the one before it
}

// windowChunk holds the records of consecutive entries; a record never
// spans two chunks.
type windowChunk struct {
	b []byte
	n int // entries whose record is in b and that are still in the window
}

const (
	windowChunkMin = 4 << 10
	windowChunkMax = 1 << 20
)

func (w *dedupWindow) len() int { return len(w.times) }

// push records an entry at time t; raw is its encoded dedup record (copied).
func (w *dedupWindow) push(t int64, raw []byte) {
	if n := len(w.times); n > 0 && t < w.times[n-1] {
		w.unsorted = true
	}
	k := len(w.chunks)
	if k == 0 || cap(w.chunks[k-1].b)-len(w.chunks[k-1].b) < len(raw) {
		size := windowChunkMin
		if k > 0 {
			size = min(2*cap(w.chunks[k-1].b), windowChunkMax)
		}
		w.chunks = append(w.chunks, windowChunk{b: make([]byte, 0, max(size, len(raw)))})
		k++
	}
	c := &w.chunks[k-1]
	c.b = append(c.b, raw...)
	c.n++
	w.times = append(w.times, t)
}

// pop forgets the oldest entry; the window must not be empty.
func (w *dedupWindow) pop() {
	w.times = w.times[1:]
	c := &w.chunks[0]
	c.n--
	if c.n == 0 {
		w.chunks[0] = windowChunk{}
		w.chunks = w.chunks[1:]
		w.first = 0
		return
	}
	// The record's length field (its first 4 bytes) counts the payload
	// after the header.
	w.first += headerSize + int(binary.LittleEndian.Uint32(c.b[w.first:]))
}

// each calls f with every entry's record, oldest first.
func (w *dedupWindow) each(f func(raw []byte) error) error {
	for i, c := range w.chunks {
		b := c.b
		if i == 0 {
			b = b[w.first:]
		}
		for len(b) > 0 {
			n := headerSize + int(binary.LittleEndian.Uint32(b))
			if err := f(b[:n]); err != nil {
				return err
			}
			b = b[n:]
		}
	}
	return nil
}

// list returns one entry per id, with its newest time, in (time, id)
// order.
func (w *dedupWindow) list() []DedupEntry {
	newest := make(map[string]int64, w.len())
	err := w.each(func(raw []byte) error {
		r, _, err := DecodeRecord(raw, len(raw))
		if err != nil || r.Type != RecDedup {
			return fmt.Errorf("dedup window holds a bad record (%v): bug", err)
		}
		if t, ok := newest[r.MessageID]; !ok || r.Time > t {
			newest[r.MessageID] = r.Time
		}
		return nil
	})
	if err != nil {
		panic(err) // the window holds only records it was given encoded and checked
	}
	out := make([]DedupEntry, 0, len(newest))
	for id, t := range newest {
		out = append(out, DedupEntry{ID: id, Time: t})
	}
	slices.SortFunc(out, func(a, b DedupEntry) int { return cmp.Or(cmp.Compare(a.Time, b.Time), cmp.Compare(a.ID, b.ID)) })
	return out
}

// rebuild replaces the window by one entry per id, in (time, id) order,
// and returns those entries.
func (w *dedupWindow) rebuild() []DedupEntry {
	list := w.list()
	*w = dedupWindow{}
	r := Record{Type: RecDedup}
	var b []byte
	for _, d := range list {
		r.MessageID, r.Time = d.ID, d.Time
		b, _ = AppendRecord(b[:0], &r) // cannot fail: the id was decoded from a record
		w.push(d.Time, b)
	}
	return list
}

// writeTo writes the records of every entry, oldest first, with one write
// per chunk, and returns how many bytes it wrote.
func (w *dedupWindow) writeTo(f File) (int64, error) {
	var n int64
	for i, c := range w.chunks {
		b := c.b
		if i == 0 {
			b = b[w.first:]
		}
		if err := writeAll(f, b); err != nil {
			return n, err
		}
		n += int64(len(b))
	}
	return n, nil
}
