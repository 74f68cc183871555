//go:build unix

package runner

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/ciphermq/ciphermq/clients"
	"github.com/ciphermq/ciphermq/clients/envelope"
	"github.com/ciphermq/ciphermq/clients/inbox"
	"github.com/ciphermq/ciphermq/clients/receiver"
	"github.com/ciphermq/ciphermq/internal/testutil"
)

// plainOpener passes bodies through: the unencrypted baseline.
type plainOpener struct{}

func (plainOpener) Open(dst []byte, _ string, env []byte, _ time.Time) ([]byte, envelope.SenderInfo, error) {
	return append(dst, env...), envelope.SenderInfo{}, nil
}

// BenchmarkEndToEnd measures the whole client path on one machine: seal,
// publish with confirms (window 256), broker routing, push delivery, open,
// append, one fsync per batch, ack. One op is one message; msg/s is
// reported. "plain" skips the envelope on both sides.
func BenchmarkEndToEnd(b *testing.B) {
	for _, mode := range []string{"modern", "plain"} {
		b.Run(mode, func(b *testing.B) {
			for _, size := range []int{100, 512, 1024} {
				b.Run(fmt.Sprintf("size=%d", size), func(b *testing.B) { benchEndToEnd(b, mode, size) })
			}
		})
	}
}

func benchEndToEnd(b *testing.B, mode string, size int) {
	_, addr := startBroker(b)
	k := newKeys(b, 1)
	var op envelope.Opener = plainOpener{}
	// seal returns the session's constant prefix (cmq1: the header, sent
	// once per connection as a shared prefix) and the rest.
	var seal func(dst []byte, id string, msg []byte) ([]byte, []byte, error)
	if mode == "modern" {
		op = opener(b, k)
		s := sealer(b, k, k.Signer).(envelope.PartsSealer)
		seal = func(dst []byte, id string, msg []byte) ([]byte, []byte, error) {
			return s.SealParts(dst, id, msg, time.Now())
		}
	} else {
		seal = func(dst []byte, _ string, msg []byte) ([]byte, []byte, error) { return nil, append(dst, msg...), nil }
	}
	var handles clients.PrefixHandles
	st, err := inbox.Open(filepath.Join(b.TempDir(), "out.jsonl"), inbox.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	r, _ := receiver.New(st, op)
	ctx, cancel := context.WithCancel(context.Background())
	runDone := make(chan error, 1)
	go func() {
		runDone <- Run(ctx, r, dial(b, addr, "receiver"), Options{Queue: "default_queue", Prefetch: benchPrefetch})
	}()
	pub, err := dial(b, addr, "sender").NewPublisher(clients.PublisherOptions{Exchange: "default_exchange", RoutingKey: "default_key", Window: benchWindow})
	if err != nil {
		b.Fatal(err)
	}
	msg := make([]byte, size)
	for i := range msg {
		msg[i] = 'a' + byte(i%26)
	}
	ids := make([]string, b.N)
	for i := range ids {
		ids[i] = "m-" + strconv.Itoa(i)
	}
	var env, prefix []byte
	b.SetBytes(int64(size))
	b.ResetTimer()
	cpu0 := testutil.StartCPUMeter()
	start := time.Now()
	var last *clients.Confirm
	for i := range b.N {
		prefix, env, err = seal(env[:0], ids[i], msg)
		if err != nil {
			b.Fatal(err)
		}
		if last, err = pub.PublishPrefixed(ctx, "default_exchange", "default_key", ids[i], handles.For(prefix), env); err != nil {
			b.Fatal(err)
		}
	}
	if err := last.Wait(ctx); err != nil {
		b.Fatal(err)
	}
	for r.Stats().Stored < uint64(b.N) {
		select {
		case err := <-runDone:
			b.Fatalf("receiver stopped: %v", err)
		case <-time.After(200 * time.Microsecond): // polling interval
		}
	}
	elapsed := time.Since(start)
	cpu, _ := cpu0.Elapsed()
	b.StopTimer()
	// CPU time per message (this process: sender, broker and receiver)
	// is the figure that survives a busy machine; msg/s does not.
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-µs/msg")
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "msg/s")
	b.ReportMetric(float64(b.N)/float64(max(r.Stats().Batches, 1)), "msg/fsync")
	cancel()
	<-runDone
}

// Pipeline depths of the benchmark: the consumer's prefetch (which also
// bounds a batch per fsync) and the publisher's window.
var (
	benchPrefetch = 2048
	benchWindow   = 1024
)
