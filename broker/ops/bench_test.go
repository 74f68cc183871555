package ops_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ciphermq/ciphermq/broker/ops"
	"github.com/ciphermq/ciphermq/broker/server"
	"github.com/ciphermq/ciphermq/clients"
)

// benchQueues is the broker size of the scrape benchmarks.
const benchQueues = 10_000

// brokerWithQueues starts an in-memory broker with n queues bound to the
// direct exchange "x" (queue qNNNNN by its own name) and its operations
// listener.
func brokerWithQueues(b *testing.B, n int) (*server.Server, *clients.Conn, string) {
	b.Helper()
	cfg := inMemory()
	cfg.MaxQueues, cfg.MaxBindings = 2*n, 2*n
	srv, err := server.New(cfg, nil)
	if err != nil {
		b.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go srv.Serve(l)
	o := ops.New(ops.Config{}, srv)
	hs := httptest.NewServer(o.Handler())
	b.Cleanup(func() {
		hs.Close()
		srv.Shutdown(context.Background())
	})
	ctx := context.Background()
	conn, err := clients.Dial(ctx, l.Addr().String(), clients.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { conn.Close() })
	if err := conn.DeclareExchange(ctx, "x", clients.Direct); err != nil {
		b.Fatal(err)
	}
	for i := range n {
		q := fmt.Sprintf("q%05d", i)
		if err := conn.DeclareQueue(ctx, q, clients.QueueOptions{}); err != nil {
			b.Fatal(err)
		}
		if err := conn.Bind(ctx, "x", q, q); err != nil {
			b.Fatal(err)
		}
	}
	return srv, conn, hs.URL
}

func scrapeOnce(b *testing.B, url string) int64 {
	resp, err := http.Get(url)
	if err != nil {
		b.Fatal(err)
	}
	n, err := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK {
		b.Fatalf("scrape %s: %s, %v", url, resp.Status, err)
	}
	return n
}

// BenchmarkScrape10kQueues measures one scrape of each endpoint, HTTP and
// text encoding included, on a broker with 10,000 queues.
func BenchmarkScrape10kQueues(b *testing.B) {
	_, _, base := brokerWithQueues(b, benchQueues)
	for _, path := range []string{"/metrics", "/metrics/per-object"} {
		b.Run(path, func(b *testing.B) {
			var size int64
			b.ReportAllocs()
			for b.Loop() {
				size = scrapeOnce(b, base+path)
			}
			b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/scrape")
			b.ReportMetric(float64(size), "bytes/scrape")
		})
	}
}

// BenchmarkPublishWithScraper measures confirmed publish throughput (one
// publisher, 256 confirms in flight, 100-byte bodies, to one of the 10,000
// queues) without and with a scraper fetching /metrics and
// /metrics/per-object every second beside it. Run with -benchtime=10s or
// more so that several scrapes fall inside a run.
func BenchmarkPublishWithScraper(b *testing.B) {
	_, conn, base := brokerWithQueues(b, benchQueues)
	ctx := context.Background()
	body := make([]byte, 100)
	for _, scraping := range []bool{false, true} {
		b.Run(fmt.Sprintf("scraper=%v", scraping), func(b *testing.B) {
			pub, err := conn.NewPublisher(clients.PublisherOptions{Exchange: "x", RoutingKey: "q00042"})
			if err != nil {
				b.Fatal(err)
			}
			defer pub.Close(ctx)
			stop := make(chan struct{})
			done := make(chan struct{})
			var scrapes atomic.Int64
			go func() {
				defer close(done)
				if !scraping {
					return
				}
				t := time.NewTicker(time.Second)
				defer t.Stop()
				for {
					select {
					case <-stop:
						return
					case <-t.C:
						scrapeOnce(b, base+"/metrics")
						scrapeOnce(b, base+"/metrics/per-object")
						scrapes.Add(1)
					}
				}
			}()
			var window [256]*clients.Confirm
			id := 0
			for b.Loop() {
				slot := id % len(window)
				if c := window[slot]; c != nil {
					if err := c.Wait(ctx); err != nil {
						b.Fatal(err)
					}
				}
				id++
				c, err := pub.Publish(ctx, fmt.Sprintf("%s-%d", b.Name(), id), body)
				if err != nil {
					b.Fatal(err)
				}
				window[slot] = c
			}
			for _, c := range window {
				if c != nil {
					if err := c.Wait(ctx); err != nil {
						b.Fatal(err)
					}
				}
			}
			close(stop)
			<-done
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
			b.ReportMetric(float64(scrapes.Load()), "scrapes")
		})
	}
}
