package sender

import (
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// IDs names the message of a given index (see Options.FirstIndex).
type IDs func(index uint64) (string, error)

// RandomIDs names every message with a random (version 4) UUID, the id
// format of the reference clients, read from r (crypto/rand.Reader in
// production, a fixed stream in tests).
func RandomIDs(r io.Reader) IDs {
	return func(uint64) (string, error) {
		var b [16]byte
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return "", fmt.Errorf("random message id: %w", err)
		}
		b[6] = b[6]&0x0f | 0x40
		b[8] = b[8]&0x3f | 0x80
		return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16]), nil
	}
}

// ErrBadIDPrefix is returned by Sequential for a prefix that cannot make
// message ids.
var ErrBadIDPrefix = errors.New("sender: bad message id prefix")

// Sequential names message N "prefix-N", so a sender restarted with the
// index it stopped at continues the same sequence, and a checker can tell
// which ids to expect. The prefix must be non-empty printable ASCII without
// spaces (ids go into logs and JSON unchanged).
func Sequential(prefix string) (IDs, error) {
	if prefix == "" {
		return nil, fmt.Errorf("%w: empty: give a short name such as the publisher's", ErrBadIDPrefix)
	}
	if i := strings.IndexFunc(prefix, func(r rune) bool { return r <= ' ' || r > '~' }); i >= 0 {
		return nil, fmt.Errorf("%w: %q has a space, control or non-ASCII character at byte %d: use letters, digits and punctuation", ErrBadIDPrefix, prefix, i)
	}
	return func(index uint64) (string, error) {
		return prefix + "-" + strconv.FormatUint(index, 10), nil
	}, nil
}
