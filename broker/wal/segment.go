package wal

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"strconv"
	"strings"
)

// A segment file is a 24-byte header and records:
//
//	0..7   magic "CMQLOG\x00\x01" (the last byte is the format version)
//	8..15  segment number, uint64 little endian (equal to the file name's)
//	16..23 next message sequence when the segment started, uint64 LE, so
//	       sequence numbers never go back even when every segment that
//	       held a publish has been deleted
//	24..27 CRC-32C of bytes 0..23
const segHeaderSize = 28

var segMagic = []byte("CMQLOG\x00\x01")

const segSuffix = ".seg"

// segment is one log file and the accounting that decides when it can go.
type segment struct {
	num       uint64
	file      File
	size      int64
	live      int   // live messages whose newest record is here
	liveBytes int64 // their record bytes
	// relocatedAt is the LSN of the last copy compaction relocated from
	// this segment; it may be removed only once that is durable.
	relocatedAt LSN
}

func segName(num uint64) string { return fmt.Sprintf("%020d%s", num, segSuffix) }

// parseSegName returns the number of a segment file name, or false for
// any other file (the lock file, an operator's notes).
func parseSegName(name string) (uint64, bool) {
	digits, ok := strings.CutSuffix(name, segSuffix)
	if !ok || len(digits) != 20 {
		return 0, false
	}
	n, err := strconv.ParseUint(digits, 10, 64)
	if err != nil || n == 0 {
		return 0, false
	}
	return n, true
}

func segHeader(num, nextSeq uint64) []byte {
	h := make([]byte, segHeaderSize)
	copy(h, segMagic)
	binary.LittleEndian.PutUint64(h[8:], num)
	binary.LittleEndian.PutUint64(h[16:], nextSeq)
	binary.LittleEndian.PutUint32(h[24:], crc32.Checksum(h[:24], castagnoli))
	return h
}

// checkSegHeader validates the header and returns its next sequence.
func checkSegHeader(b []byte, num uint64) (uint64, error) {
	if len(b) < segHeaderSize {
		return 0, fmt.Errorf("header is %d bytes, want %d", len(b), segHeaderSize)
	}
	if got, want := crc32.Checksum(b[:24], castagnoli), binary.LittleEndian.Uint32(b[24:28]); got != want {
		return 0, fmt.Errorf("header checksum mismatch (stored %08x, computed %08x)", want, got)
	}
	if !bytes.Equal(b[:8], segMagic) {
		return 0, fmt.Errorf("bad magic %q (not a CipherMQ log segment, or another format version)", b[:8])
	}
	if got := binary.LittleEndian.Uint64(b[8:16]); got != num {
		return 0, fmt.Errorf("header says segment %d, file name says %d", got, num)
	}
	return binary.LittleEndian.Uint64(b[16:24]), nil
}

// readAll reads a whole file.
func readAll(f File) ([]byte, error) {
	size, err := f.Size()
	if err != nil {
		return nil, err
	}
	b := make([]byte, size)
	n, err := f.ReadAt(b, 0)
	if n == len(b) {
		return b, nil
	}
	if err == nil || err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return nil, err
}

// validRecordAfter reports the offset of the first decodable record after
// off, if any. A torn write leaves garbage only at the very end; a valid
// record behind the damage means bytes in the middle went bad.
func validRecordAfter(b []byte, off, maxSize int) (int, bool) {
	for i := off + 1; i+headerSize <= len(b); i++ {
		if _, _, err := DecodeRecord(b[i:], maxSize); err == nil {
			return i, true
		}
	}
	return 0, false
}
