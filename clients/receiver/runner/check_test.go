package runner

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/ciphermq/ciphermq/clients/inbox"
)

// checkExactlyOnce compares a receiver's output file with what was sent and
// confirmed: every confirmed id exactly once with its plaintext, nothing
// that was not sent.
func checkExactlyOnce(raw []byte, sent map[string]string, confirmed map[string]bool) []string {
	var v []string
	count := map[string]int{}
	err := inbox.Scan(bytes.NewReader(raw), func(r inbox.Record) error {
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

func TestCheckExactlyOnceReportsEveryKindOfViolation(t *testing.T) {
	line := func(id, msg string) []byte {
		b, _ := json.Marshal(map[string]string{"message_id": id, "message": msg})
		return append(b, '\n')
	}
	sent := map[string]string{"a": "A", "b": "B", "c": "C"}
	confirmed := map[string]bool{"a": true, "b": true, "c": true}
	good := slices.Concat(line("a", "A"), line("b", "B"), line("c", "C"))
	if v := checkExactlyOnce(good, sent, confirmed); len(v) != 0 {
		t.Fatalf("clean output reported: %v", v)
	}
	cases := map[string]struct {
		raw  []byte
		want string
	}{
		"lost":       {slices.Concat(line("a", "A"), line("c", "C")), "b stored 0 times"},
		"duplicate":  {slices.Concat(good, line("b", "B")), "b stored 2 times"},
		"unexpected": {slices.Concat(good, line("z", "Z")), `unexpected record "z"`},
		"corrupted":  {slices.Concat(line("a", "A"), line("b", "X"), line("c", "C")), `"b" holds "X"`},
		"unreadable": {slices.Concat(good, []byte("junk\n")), "does not scan"},
	}
	for name, tc := range cases {
		v := checkExactlyOnce(tc.raw, sent, confirmed)
		if !slices.ContainsFunc(v, func(s string) bool { return strings.Contains(s, tc.want) }) {
			t.Errorf("%s: violations %v, want one containing %q", name, v, tc.want)
		}
	}
}
