package sim

import (
	"crypto/sha256"
	"encoding/hex"
	"hash"
	"io"
	"strconv"
)

// Trace records what happened in a run as compact text lines, one per event
// that matters ("t=1200us c3 up deliver tag=7 id=p1-42"), and hashes every
// line. The hash is the run's fingerprint: the same seed and plan must give
// the same hash, bit for bit. Lines are written to W only when W is set
// (--trace); the hash is always kept.
//
// What is hashed is chosen so that a run is reproducible even though the
// modern envelope's KEM draws from crypto/rand internally: the trace names
// frames by type, length and identifiers and names message bodies by the
// digest of their plaintext, never by ciphertext bytes.
type Trace struct {
	w     io.Writer
	h     hash.Hash
	line  []byte
	lines uint64
	err   error
}

// newTrace starts a trace; w may be nil.
func newTrace(w io.Writer) *Trace {
	return &Trace{w: w, h: sha256.New(), line: make([]byte, 0, 128)}
}

// begin starts a line at virtual time t with the node that acted.
func (tr *Trace) begin(t VTime, who string) *Trace {
	tr.line = tr.line[:0]
	tr.line = append(tr.line, 't', '=')
	tr.line = strconv.AppendInt(tr.line, int64(t)/1000, 10)
	tr.line = append(tr.line, ' ')
	tr.line = append(tr.line, who...)
	return tr
}

// word appends a space and s.
func (tr *Trace) word(s string) *Trace {
	tr.line = append(tr.line, ' ')
	tr.line = append(tr.line, s...)
	return tr
}

// bytesWord appends a space and b as text.
func (tr *Trace) bytesWord(b []byte) *Trace {
	tr.line = append(tr.line, ' ')
	tr.line = append(tr.line, b...)
	return tr
}

// num appends " key=value".
func (tr *Trace) num(key string, v uint64) *Trace {
	tr.line = append(tr.line, ' ')
	tr.line = append(tr.line, key...)
	tr.line = append(tr.line, '=')
	tr.line = strconv.AppendUint(tr.line, v, 10)
	return tr
}

// str appends " key=value".
func (tr *Trace) str(key, v string) *Trace {
	tr.line = append(tr.line, ' ')
	tr.line = append(tr.line, key...)
	tr.line = append(tr.line, '=')
	tr.line = append(tr.line, v...)
	return tr
}

// end finishes the line: hash it and, with --trace, write it out.
func (tr *Trace) end() {
	tr.line = append(tr.line, '\n')
	tr.h.Write(tr.line)
	tr.lines++
	if tr.w != nil && tr.err == nil {
		_, tr.err = tr.w.Write(tr.line)
	}
}

// Lines is the number of lines recorded so far.
func (tr *Trace) Lines() uint64 { return tr.lines }

// Hash is the hex SHA-256 of every line so far.
func (tr *Trace) Hash() string { return hex.EncodeToString(tr.h.Sum(nil)) }

// Err reports the first error writing the trace out, if any.
func (tr *Trace) Err() error { return tr.err }
