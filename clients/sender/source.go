package sender

import (
	"bufio"
	"fmt"
	"io"
	"math/rand/v2"
	"strconv"

	"github.com/ciphermq/ciphermq/clients/envelope"
)

// Source yields the plaintexts to send, one per call: ok is false at the
// end. The returned slice is read before the next call and not kept, so a
// source may reuse its buffer.
type Source func() (plaintext []byte, ok bool, err error)

// Messages yields each string of msgs once, in order.
func Messages(msgs []string) Source {
	i := 0
	return func() ([]byte, bool, error) {
		if i == len(msgs) {
			return nil, false, nil
		}
		i++
		return []byte(msgs[i-1]), true, nil
	}
}

// Lines yields each line of r without its end of line (LF or CRLF). A line
// longer than the largest envelope is an error.
func Lines(r io.Reader) Source {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), envelope.DefaultMaxEnvelopeSize)
	return func() ([]byte, bool, error) {
		if sc.Scan() {
			return sc.Bytes(), true, nil
		}
		if err := sc.Err(); err != nil {
			return nil, false, fmt.Errorf("read messages: %w", err)
		}
		return nil, false, nil
	}
}

// GenerateOptions describe generated messages.
type GenerateOptions struct {
	Count int // how many
	Size  int // bytes each (a message never is shorter than its label)
	// First is the index of the first message (default 1): a restarted
	// sender continuing a sequence passes the index it stopped at.
	First uint64
	// Seed, if set, fills each message after its label with printable
	// pseudo-random characters drawn from (Seed, index), so message N has
	// the same plaintext in every run with this seed, wherever the run
	// started. Without it the filler is dots.
	Seed *uint64
}

// fillerAlphabet keeps generated messages printable, so receivers store them
// as text and a reader can diff two stores.
const fillerAlphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

// Generated yields o.Count messages of o.Size bytes: "message <index> "
// followed by filler.
func Generated(o GenerateOptions) Source {
	first := o.First
	if first == 0 {
		first = 1
	}
	i := 0
	var buf []byte
	return func() ([]byte, bool, error) {
		if i >= o.Count {
			return nil, false, nil
		}
		index := first + uint64(i)
		i++
		buf = GenerateMessage(buf[:0], index, o.Size, o.Seed)
		return buf, true, nil
	}
}

// GenerateMessage appends the generated message number index to dst (see
// Generated), so a checker can recompute a plaintext from its index.
func GenerateMessage(dst []byte, index uint64, size int, seed *uint64) []byte {
	start := len(dst)
	dst = append(dst, "message "...)
	dst = strconv.AppendUint(dst, index, 10)
	dst = append(dst, ' ')
	label := len(dst) - start
	if label > size {
		return dst[:start+max(size, 0)]
	}
	if seed == nil {
		for range size - label {
			dst = append(dst, '.')
		}
		return dst
	}
	rng := rand.New(rand.NewPCG(*seed, index))
	for range size - label {
		dst = append(dst, fillerAlphabet[rng.IntN(len(fillerAlphabet))])
	}
	return dst
}
