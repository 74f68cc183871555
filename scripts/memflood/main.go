// Command memflood offers a broker more publishes than its memory budget
// holds, with no consumer, and reports how much was confirmed, whether the
// broker blocked the publishers, and the broker's peak RSS (VmHWM from
// /proc/PID/status). It is the measurement behind docs/performance.md,
// "Memory budget (issue #11)":
//
//	ciphermq server --memory-high-watermark 256MiB &
//	go run ./scripts/memflood --addr 127.0.0.1:5672 --pid $! --offer 2GiB
package main

import (
	"bufio"
	"flag"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ciphermq/ciphermq/broker/wire"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:5672", "broker address")
	pid := flag.Int("pid", 0, "broker pid, for its peak RSS")
	offer := flag.Int64("offer", 2<<30, "bytes of publishes to offer in all")
	size := flag.Int("size", 64<<10, "body size of each publish")
	pubs := flag.Int("publishers", 4, "publisher connections")
	stall := flag.Duration("stall", 3*time.Second, "stop once nothing was confirmed for this long while blocked")
	flag.Parse()

	var confirmed, blocked, blocks atomic.Int64
	per := *offer / int64(*pubs) / int64(*size)
	body := make([]byte, *size)
	start := time.Now()
	var wg sync.WaitGroup
	conns := make([]net.Conn, *pubs)
	for p := range *pubs {
		nc, err := net.Dial("tcp", *addr)
		if err != nil {
			fmt.Fprintln(os.Stderr, "dial:", err)
			os.Exit(1)
		}
		conns[p] = nc
		nc.Write(wire.AppendHello(wire.AppendPreamble(nil), &wire.Hello{Version: wire.ProtocolVersion, ClientName: "memflood"}))
		r := wire.NewReader(nc, 0)
		wg.Add(1)
		go func() { // reader: confirms and alarm frames
			defer wg.Done()
			for {
				typ, payload, err := r.ReadFrame()
				if err != nil {
					return
				}
				switch typ {
				case wire.FrameConfirm:
					var c wire.Confirm
					if wire.DecodeConfirm(payload, &c) == nil {
						confirmed.Add(int64(c.Last - c.First + 1))
					}
				case wire.FrameBlocked:
					blocked.Add(1)
					blocks.Add(1)
				case wire.FrameUnblocked:
					blocked.Add(-1)
				case wire.FrameNack:
					var n wire.Nack
					wire.DecodeNack(payload, &n)
					fmt.Fprintf(os.Stderr, "nack %d: %d %s\n", n.Seq, n.Code, n.Reason)
				}
			}
		}()
		go func() { // writer: stalls once the broker stops reading
			var buf []byte
			for i := int64(1); i <= per; i++ {
				buf = wire.AppendPublish(buf[:0], &wire.Publish{Seq: uint64(i), Exchange: []byte("default_exchange"),
					RoutingKey: []byte("default_key"), MessageID: []byte(fmt.Sprintf("p%d-%d", p, i)), Body: body})
				if _, err := nc.Write(buf); err != nil {
					return
				}
			}
		}()
	}
	last, lastAt := int64(-1), time.Now()
	for {
		time.Sleep(100 * time.Millisecond)
		c := confirmed.Load()
		if c != last {
			last, lastAt = c, time.Now()
		}
		if c >= per*int64(*pubs) || (blocks.Load() > 0 && time.Since(lastAt) > *stall) {
			break
		}
	}
	c := confirmed.Load()
	fmt.Printf("offered %.0f MiB in %d-byte publishes on %d connections; confirmed %d (%.1f MiB) in %v; broker sent Blocked %d times, blocked now on %d connections\n",
		float64(per*int64(*pubs)*int64(*size))/(1<<20), *size, *pubs, c, float64(c*int64(*size))/(1<<20),
		time.Since(start).Round(time.Millisecond), blocks.Load(), blocked.Load())
	if *pid > 0 {
		fmt.Printf("broker pid %d: VmHWM %s, VmRSS %s\n", *pid, status(*pid, "VmHWM"), status(*pid, "VmRSS"))
	}
	for _, nc := range conns {
		nc.Close()
	}
	wg.Wait()
}

func status(pid int, key string) string {
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return "?"
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), key+":"); ok {
			return strings.TrimSpace(v)
		}
	}
	return "?"
}
