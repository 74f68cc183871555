package clients_test

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ciphermq/ciphermq/broker/server"
	"github.com/ciphermq/ciphermq/clients"
	"github.com/ciphermq/ciphermq/internal/testutil"
)

// BenchmarkUserStyle drives the library only through its public API, the
// way the godoc examples (and an independent load generator) use it:
// publishers on their own connections publishing 512-byte messages with
// confirms (window 256), consumers on their own connections acking by the
// handler's return (prefetch 256), all on one queue at once. b.N counts
// messages both confirmed and handled.
//
// Two publisher styles:
//   - futures: one goroutine per publisher calls Publish, another waits on
//     the Confirm futures in publish order;
//   - callback: PublisherOptions.OnConfirm counts the answers; nothing
//     waits per message.
//
// By default the broker runs in the benchmark's process and cpu-ns/msg is
// the whole process. With CIPHERMQ_BENCH_ADDR=host:port the benchmark uses
// that broker instead, and with CIPHERMQ_BENCH_BROKER_PID=pid (Linux) it
// also reports the broker process's CPU per message (broker-cpu-ns/msg),
// so client-cpu-ns/msg is the library's side alone (publishers and
// consumers together; they share the process).
//
//	go test ./clients -run '^$' -bench UserStyle -benchtime 200000x
func BenchmarkUserStyle(b *testing.B) {
	for _, style := range []string{"futures", "callback"} {
		for _, n := range []int{1, 4} {
			b.Run(fmt.Sprintf("%s/%dx%d", style, n, n), func(b *testing.B) {
				benchUserStyle(b, style == "callback", n, n)
			})
		}
	}
}

const (
	userBodySize = 512
	userWindow   = 256
	userPrefetch = 256
)

func benchUserStyle(b *testing.B, callback bool, pubs, cons int) {
	ctx := context.Background()
	addr := os.Getenv("CIPHERMQ_BENCH_ADDR")
	if addr == "" {
		var stop func()
		addr, stop = startBenchBroker(b)
		defer stop()
	}
	quiet := slog.New(slog.DiscardHandler)
	dial := func(name string) *clients.Conn {
		c, err := clients.Dial(ctx, addr, clients.Options{ClientName: name, Logger: quiet})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = c.Close() })
		return c
	}
	// A fresh queue per run, so an external broker's leftovers do not count.
	queue := "userbench-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	admin := dial("admin")
	if err := admin.DeclareExchange(ctx, "userbench", clients.Direct); err != nil {
		b.Fatal(err)
	}
	if err := admin.DeclareQueue(ctx, queue, clients.QueueOptions{}); err != nil {
		b.Fatal(err)
	}
	if err := admin.Bind(ctx, "userbench", queue, queue); err != nil {
		b.Fatal(err)
	}
	defer func() { _, _ = admin.DeleteQueue(ctx, queue) }()

	total := int64(b.N)
	var handled atomic.Int64
	allHandled := make(chan struct{})
	for i := range cons {
		c := dial(fmt.Sprintf("cons-%d", i))
		_, err := c.Consume(ctx, clients.ConsumerOptions{
			Queue:    queue,
			Prefetch: userPrefetch,
			Handler: func(_ context.Context, d *clients.Delivery) error {
				if handled.Add(1) == total {
					close(allHandled)
				}
				return nil // acked
			},
		})
		if err != nil {
			b.Fatal(err)
		}
	}

	var confirmed, failed atomic.Int64
	type pubConn struct {
		p    *clients.Publisher
		done chan struct{}
	}
	ps := make([]pubConn, pubs)
	for i := range ps {
		c := dial(fmt.Sprintf("pub-%d", i))
		o := clients.PublisherOptions{Exchange: "userbench", RoutingKey: queue, Window: userWindow}
		if callback {
			o.OnConfirm = func(cf *clients.Confirm) {
				if cf.Err() != nil {
					failed.Add(1)
				}
				confirmed.Add(1)
			}
		}
		p, err := c.NewPublisher(o)
		if err != nil {
			b.Fatal(err)
		}
		ps[i] = pubConn{p: p, done: make(chan struct{})}
	}

	brokerPID, _ := strconv.Atoi(os.Getenv("CIPHERMQ_BENCH_BROKER_PID"))
	brokerStart, brokerOK := procCPUTime(brokerPID)
	b.SetBytes(userBodySize)
	b.ReportAllocs()
	b.ResetTimer()
	cpu := testutil.StartCPUMeter()
	start := time.Now()
	var wg sync.WaitGroup
	for i, pc := range ps {
		n := b.N / pubs
		if i < b.N%pubs {
			n++
		}
		// Ids unique per run: the broker's dedup window (per user and
		// exchange) would take a repeated id for a resend.
		prefix := queue + "-" + strconv.Itoa(i) + "-"
		wg.Add(1)
		go func() { // the publisher
			defer wg.Done()
			body := make([]byte, userBodySize)
			var futures chan *clients.Confirm
			var waiter sync.WaitGroup
			if !callback {
				futures = make(chan *clients.Confirm, userWindow)
				waiter.Add(1)
				go func() { // the goroutine that waits on the futures in order
					defer waiter.Done()
					for f := range futures {
						if f.Wait(ctx) != nil {
							failed.Add(1)
						}
						confirmed.Add(1)
					}
				}()
			}
			for j := range n {
				f, err := pc.p.Publish(ctx, prefix+strconv.Itoa(j), body)
				if err != nil {
					b.Error(err)
					break
				}
				if futures != nil {
					futures <- f
				}
			}
			if futures != nil {
				close(futures)
				waiter.Wait()
			}
			if err := pc.p.Close(ctx); err != nil {
				b.Error(err)
			}
		}()
	}
	wg.Wait()
	select {
	case <-allHandled:
	case <-time.After(time.Minute):
		b.Fatalf("only %d of %d messages handled after a minute", handled.Load(), total)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	if confirmed.Load() != total || failed.Load() != 0 {
		b.Fatalf("%d confirms for %d messages, %d refused", confirmed.Load(), total, failed.Load())
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "msg/s")
	if d, ok := cpu.Elapsed(); ok {
		name := "cpu-ns/msg"
		if brokerOK {
			name = "client-cpu-ns/msg"
		}
		b.ReportMetric(float64(d)/float64(b.N), name)
	}
	if brokerOK {
		if end, ok := procCPUTime(brokerPID); ok {
			b.ReportMetric(float64(end-brokerStart)/float64(b.N), "broker-cpu-ns/msg")
		}
	}
}

// startBenchBroker runs an in-process broker with its default configuration.
func startBenchBroker(b *testing.B) (string, func()) {
	srv, err := server.New(server.DefaultConfig(), slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go func() { _ = srv.Serve(l) }()
	return l.Addr().String(), func() { _ = srv.Shutdown(context.Background()) }
}

// procCPUTime reads user+system CPU time of another process from
// /proc/pid/stat (Linux; false elsewhere or for pid 0).
func procCPUTime(pid int) (time.Duration, bool) {
	if pid <= 0 {
		return 0, false
	}
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, false
	}
	// Fields after the command name (which may hold spaces) start after ')'.
	s := string(raw)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(fields) < 13 {
		return 0, false
	}
	utime, err1 := strconv.ParseInt(fields[11], 10, 64)
	stime, err2 := strconv.ParseInt(fields[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, false
	}
	const clockTicks = 100 // USER_HZ on Linux
	return time.Duration(utime+stime) * time.Second / clockTicks, true
}
