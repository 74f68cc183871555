package receiver

import (
	"bytes"
	"fmt"
	"maps"
	"slices"

	"github.com/ciphermq/ciphermq/clients/store"
)

// checkExactlyOnce compares a receiver's output file with what was sent and
// confirmed: every confirmed id exactly once with its plaintext, nothing
// that was not sent.
func checkExactlyOnce(raw []byte, sent map[string]string, confirmed map[string]bool) []string {
	var v []string
	count := map[string]int{}
	err := store.Scan(bytes.NewReader(raw), func(r store.Record) error {
		count[r.MessageID]++
		if want, known := sent[r.MessageID]; !known {
			v = append(v, fmt.Sprintf("unexpected record %q", r.MessageID))
		} else if string(r.Message) != want {
			v = append(v, fmt.Sprintf("record %q holds %q, sent %q", r.MessageID, r.Message, want))
		}
		return nil
	})
	if err != nil {
		v = append(v, fmt.Sprintf("output file does not scan: %v", err))
	}
	for _, id := range slices.Sorted(maps.Keys(confirmed)) {
		if count[id] != 1 {
			v = append(v, fmt.Sprintf("confirmed message %s stored %d times, want exactly 1", id, count[id]))
		}
	}
	for id, c := range count {
		if c > 1 && !confirmed[id] {
			v = append(v, fmt.Sprintf("unconfirmed message %s stored %d times", id, c))
		}
	}
	return v
}
