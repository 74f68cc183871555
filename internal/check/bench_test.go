package check

import (
	"fmt"
	"testing"
)

// BenchmarkCheck measures a history of 10,000 messages from 10 publishers,
// each routed to two of four ordered queues (about 50,000 events).
func BenchmarkCheck(b *testing.B) {
	var h History
	queues := []string{"q0", "q1", "q2", "q3"}
	for i := range 10_000 {
		pub := fmt.Sprintf("p%d", i%10)
		id := fmt.Sprintf("m%d", i)
		qs := []string{queues[i%4], queues[(i+1)%4]}
		h.Add(Attempt(ms(i), pub, id, uint64(i/10), plain(id), qs...), Confirmed(ms(i), pub, id))
	}
	for i := range 10_000 {
		id := fmt.Sprintf("m%d", i)
		h.Add(Processed(ms(i), "r-"+queues[i%4], queues[i%4], id, plain(id), false),
			Processed(ms(i), "r-"+queues[(i+1)%4], queues[(i+1)%4], id, plain(id), false))
	}
	opts := Options{OrderedQueues: queues}
	if r := Check(h, opts); !r.OK() {
		b.Fatalf("benchmark history is not correct: %s", r.Summary())
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		Check(h, opts)
	}
	b.ReportMetric(float64(len(h.Events)), "events/op")
}
