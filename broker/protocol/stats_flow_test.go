package protocol_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/ciphermq/ciphermq/broker"
	"github.com/ciphermq/ciphermq/broker/protocol"
)

// TestPipelinedStatsStopAtOutputBound sends 300 stats requests in one
// write to a broker with 2,500 queues: each reply lists at most
// MaxStatsEntries queues (truncated, with a cursor), and the session stops
// consuming input once its output is above MaxOutput, so the output never
// exceeds the bound plus one reply. Every request is answered once the
// output drains.
func TestPipelinedStatsStopAtOutputBound(t *testing.T) {
	w := newWorld(t, broker.Config{MaxQueues: 3000})
	for i := 0; i < 2500; i++ {
		if err := w.core.DeclareQueue(fmt.Sprintf("q%04d", i), broker.QueueOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	const bound = 256 << 10
	w.cfg.MaxOutput = bound
	_, s := w.text()
	in := []byte(strings.Repeat("stats\n", 300))
	var replies [][]byte
	maxOut, feeds := 0, 0
	for len(in) > 0 {
		n, err := s.Feed(in, w.now)
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			t.Fatalf("no progress with %d bytes left", len(in))
		}
		in = in[n:]
		feeds++
		out := w.take(s)
		maxOut = max(maxOut, len(out))
		for _, line := range bytes.SplitAfter(out, []byte("\n")) {
			if len(line) > 0 {
				replies = append(replies, line)
			}
		}
	}
	if len(replies) != 300 {
		t.Fatalf("%d replies, want 300", len(replies))
	}
	one := len(replies[0])
	if maxOut > bound+one {
		t.Fatalf("output reached %d bytes, above the bound %d plus one reply of %d", maxOut, bound, one)
	}
	if feeds < 300*one/(bound+one) {
		t.Fatalf("only %d feeds: the session did not stop at its bound", feeds)
	}
	doc, ok := bytes.CutPrefix(bytes.TrimSpace(replies[0]), []byte("Stats: "))
	if !ok {
		t.Fatalf("reply %.60q", replies[0])
	}
	var st broker.Stats
	if err := json.Unmarshal(doc, &st); err != nil {
		t.Fatal(err)
	}
	if len(st.Queues) != protocol.MaxStatsEntries || !st.Truncated || st.NextQueue != st.Queues[len(st.Queues)-1].Name {
		t.Fatalf("reply lists %d queues, truncated %v, next %q", len(st.Queues), st.Truncated, st.NextQueue)
	}
	// The page holds default_queue, default_queue.dlq and q0000 onwards.
	last := fmt.Sprintf("q%04d", protocol.MaxStatsEntries-3)
	if st.Queues[0].Name != "default_queue" || st.Queues[1].Name != "default_queue.dlq" || st.NextQueue != last {
		t.Fatalf("page runs from %s to %s", st.Queues[0].Name, st.NextQueue)
	}
}
