package mgmt_test

import (
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/ciphermq/ciphermq/broker"
	"github.com/ciphermq/ciphermq/broker/mgmt"
	"github.com/ciphermq/ciphermq/broker/mgmt/mgmttest"
	"github.com/ciphermq/ciphermq/broker/server"
)

const benchQueues = 10_000

// benchBroker is a broker without users (the API answers loopback
// anonymously: no password verification in the figures) holding n queues.
func benchBroker(b *testing.B, n int, opts mgmt.Options) *mgmttest.Broker {
	cfg := server.DefaultConfig()
	cfg.MaxQueues, cfg.MaxBindings = 2*n, 2*n
	br := mgmttest.StartWith(b, cfg, nil, opts)
	br.Server.Admin(func(core *broker.Core, _ time.Time) {
		for i := range n {
			if err := core.DeclareQueue(fmt.Sprintf("q%05d", i), broker.QueueOptions{}); err != nil {
				b.Fatal(err)
			}
		}
	})
	return br
}

func benchGet(b *testing.B, url string) {
	b.ReportAllocs()
	var bytes int64
	start := time.Now()
	for b.Loop() {
		resp, err := http.Get(url)
		if err != nil {
			b.Fatal(err)
		}
		n, _ := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			b.Fatalf("%s: %d", url, resp.StatusCode)
		}
		bytes = n
	}
	b.ReportMetric(float64(time.Since(start).Microseconds())/float64(b.N)/1000, "ms/req")
	b.ReportMetric(float64(bytes), "bytes/answer")
}

// BenchmarkAPI: the cost of management requests with 10,000 queues.
// overview-cold sums every queue at each request (OverviewMaxAge < 0);
// overview-reused is a console polling within a second; queues-first-page
// is GET /api/queues (1,000 queues).
func BenchmarkAPI(b *testing.B) {
	b.Run("overview-cold", func(b *testing.B) {
		br := benchBroker(b, benchQueues, mgmt.Options{OverviewMaxAge: -1})
		benchGet(b, br.URL+"/api/overview")
	})
	b.Run("overview-reused", func(b *testing.B) {
		br := benchBroker(b, benchQueues, mgmt.Options{OverviewMaxAge: time.Hour})
		benchGet(b, br.URL+"/api/overview")
	})
	b.Run("queues-first-page", func(b *testing.B) {
		br := benchBroker(b, benchQueues, mgmt.Options{})
		benchGet(b, br.URL+"/api/queues")
	})
	b.Run("queues-page-of-20", func(b *testing.B) {
		br := benchBroker(b, benchQueues, mgmt.Options{})
		benchGet(b, br.URL+"/api/queues?page_size=20")
	})
	b.Run("whoami", func(b *testing.B) {
		br := benchBroker(b, benchQueues, mgmt.Options{})
		benchGet(b, br.URL+"/api/whoami")
	})
}
