package broker

import (
	"os"
	"runtime"
	"strconv"
	"testing"
)

// TestMemoryPerQueuedMessage queues messages of 512 bytes in a core with no
// consumer and reports the heap bytes each one costs (runtime.MemStats,
// after a GC, minus the heap before), the figure behind issue #5's
// "1,000,000 queued 512-byte messages with <= 1 GiB broker RSS". It asserts
// only a generous bound (what a leak or a per-message copy too many would
// break), never a timing. CIPHERMQ_QUEUED sets the count (default 100,000,
// so the test stays quick; 1000000 for the figure).
func TestMemoryPerQueuedMessage(t *testing.T) {
	n := 100_000
	if s := os.Getenv("CIPHERMQ_QUEUED"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v <= 0 {
			t.Fatalf("CIPHERMQ_QUEUED=%q: want a positive count", s)
		}
		n = v
	}
	perMsg, total := queuedHeap(t, n, 512, nil, Config{})
	t.Logf("%d queued 512-byte messages (dedup window on): %.0f bytes per message, %.1f MiB heap in all", n, perMsg, float64(total)/(1<<20))
	perMsgNoDedup, _ := queuedHeap(t, n, 512, nil, Config{DedupWindow: -1})
	t.Logf("same without the dedup window: %.0f bytes per message", perMsgNoDedup)
	// 512 bytes of body, an id and key, a message record and a queue slot:
	// well under 2 KiB. Twice that means something is kept twice.
	if perMsg > 2048 {
		t.Fatalf("%.0f heap bytes per queued 512-byte message, want at most 2048", perMsg)
	}
}

// cmq1 sizes of a 512-byte plaintext for one recipient: the session's
// constant part (magic, version, header length, signed header) and the rest
// (counter, id, ciphertext, tag), rounded.
const (
	cmq1PrefixSize = 1200
	cmq1RestSize   = 560
)

// TestMemoryPerQueuedCmq1Message: the same for cmq1 envelopes of 512-byte
// plaintexts, published whole and with the session header as a shared
// prefix (docs/performance.md "Shared prefixes"). With the prefix a message
// must cost less than its whole envelope's bytes: the header is stored once.
func TestMemoryPerQueuedCmq1Message(t *testing.T) {
	n := 100_000
	if s := os.Getenv("CIPHERMQ_QUEUED"); s != "" {
		if v, err := strconv.Atoi(s); err == nil && v > 0 {
			n = v
		}
	}
	whole, _ := queuedHeap(t, n, cmq1PrefixSize+cmq1RestSize, nil, Config{})
	shared, _ := queuedHeap(t, n, cmq1RestSize, NewPrefix(make([]byte, cmq1PrefixSize)), Config{})
	t.Logf("%d queued cmq1 messages (512-byte plaintext): whole envelope %.0f bytes per message, shared prefix %.0f", n, whole, shared)
	if shared >= cmq1PrefixSize+cmq1RestSize {
		t.Fatalf("with a shared prefix a message costs %.0f bytes, not less than its whole %d-byte envelope: the prefix is copied", shared, cmq1PrefixSize+cmq1RestSize)
	}
}

// queuedHeap publishes n messages of size bytes (after prefix, if any) into
// one queue nobody consumes and returns the heap growth per message and in
// all.
func queuedHeap(t *testing.T, n, size int, prefix *Prefix, cfg Config) (float64, uint64) {
	t.Helper()
	cfg.NoDefaults = true
	before := heapInUse()
	c := xqk(t, cfg)
	p := &Publish{Exchange: []byte("x"), RoutingKey: []byte("k"), Prefix: prefix, Body: make([]byte, size)}
	id := make([]byte, 0, 32)
	for i := range n {
		id = strconv.AppendUint(append(id[:0], "queued-"...), uint64(i), 10)
		p.Seq, p.MessageID = uint64(i+1), id
		c.Publish(1, p, t0)
		for _, e := range c.Drain() {
			if e.Kind != EffectConfirm {
				t.Fatalf("message %d: %s, want a confirm", i, describe([]Effect{e}))
			}
		}
	}
	if got, ok := c.Queue("q"); !ok || got.Ready != n {
		t.Fatalf("queue holds %d ready messages, want %d", got.Ready, n)
	}
	after := heapInUse()
	runtime.KeepAlive(c)
	grown := after - min(before, after)
	return float64(grown) / float64(n), grown
}

func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}
