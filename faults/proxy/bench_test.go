package proxy

import (
	"net"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkThroughput reports the bytes per second that reach the target
// through the proxy, unlimited and with a bandwidth limit (the limited
// figure should sit at the limit: 4 MiB/s = 4.19 MB/s). The timer stops
// only once the target has received every byte, so bytes parked in socket
// buffers do not flatter the figure.
func BenchmarkThroughput(b *testing.B) {
	for _, c := range []struct {
		name string
		bps  int64
	}{{"unlimited", 0}, {"limit-4MiBps", 4 << 20}} {
		b.Run(c.name, func(b *testing.B) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			defer ln.Close()
			var received atomic.Int64
			go func() {
				for {
					conn, err := ln.Accept()
					if err != nil {
						return
					}
					go func() {
						buf := make([]byte, 64<<10)
						for {
							n, err := conn.Read(buf)
							received.Add(int64(n))
							if err != nil {
								conn.Close()
								return
							}
						}
					}()
				}
			}()
			p, err := New(ln.Addr().String(), WithFaults(Faults{Up: DirFaults{BandwidthBps: c.bps}}))
			if err != nil {
				b.Fatal(err)
			}
			defer p.Close()
			conn, err := net.Dial("tcp", p.Addr())
			if err != nil {
				b.Fatal(err)
			}
			defer conn.Close()
			chunk := make([]byte, 32<<10)
			b.SetBytes(int64(len(chunk)))
			start := received.Load()
			b.ResetTimer()
			for range b.N {
				if _, err := conn.Write(chunk); err != nil {
					b.Fatal(err)
				}
			}
			want := start + int64(b.N)*int64(len(chunk))
			deadline := time.Now().Add(time.Minute)
			for received.Load() < want {
				if time.Now().After(deadline) {
					b.Fatalf("target received %d of %d bytes", received.Load()-start, want-start)
				}
				time.Sleep(100 * time.Microsecond)
			}
			b.StopTimer()
		})
	}
}
