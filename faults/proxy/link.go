package proxy

import (
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"sync"
	"time"
)

// chunkBuf is the most one read takes from a socket.
const chunkBuf = 32 << 10

// queueDepth bounds the chunks read but not yet written per direction, so a
// slow (delayed, throttled) direction pushes back on its sender.
const queueDepth = 64

// chunk is one read, due for writing at due.
type chunk struct {
	data []byte
	due  time.Time
}

// link is one proxied connection: a client and its target connection, with
// a reader and a writer goroutine per direction.
type link struct {
	p      *Proxy
	id     uint64
	client *net.TCPConn
	server *net.TCPConn
	once   sync.Once
	ended  chan struct{} // closed when the link is reset or closed
}

func newLink(p *Proxy, id uint64, client, server *net.TCPConn) *link {
	return &link{p: p, id: id, client: client, server: server, ended: make(chan struct{})}
}

// run forwards both directions until both have finished, then closes both
// connections.
func (l *link) run() {
	var wg sync.WaitGroup
	for _, d := range []Direction{Upstream, Downstream} {
		src, dst := l.client, l.server
		if d == Downstream {
			src, dst = l.server, l.client
		}
		ch := make(chan chunk, queueDepth)
		// Each direction has its own PCG streams: the reader's and the
		// writer's choices do not depend on each other's timing.
		seq := 4 * l.id
		if d == Downstream {
			seq += 2
		}
		rd := rand.New(rand.NewPCG(l.p.seed, seq))
		wr := rand.New(rand.NewPCG(l.p.seed, seq+1))
		wg.Go(func() { l.read(d, src, ch, rd) })
		wg.Go(func() { l.write(d, dst, ch, wr) })
	}
	wg.Wait()
	l.closeBoth()
}

// reset aborts the connection at both ends with an RST.
func (l *link) reset(why string) {
	l.once.Do(func() {
		l.p.resets.Add(1)
		l.p.log.Debug("fault proxy: reset", "conn", l.id, "why", why)
		// SetLinger(0) makes Close send RST instead of FIN.
		_ = l.client.SetLinger(0)
		_ = l.server.SetLinger(0)
		l.client.Close()
		l.server.Close()
		close(l.ended)
	})
}

// closeBoth closes both connections normally (FIN).
func (l *link) closeBoth() {
	l.once.Do(func() {
		l.client.Close()
		l.server.Close()
		close(l.ended)
	})
}

// wait blocks until t, the link ends or the proxy closes; false unless t came.
func (l *link) wait(t time.Time) bool {
	d := time.Until(t)
	if d <= 0 {
		select {
		case <-l.ended:
			return false
		default:
			return true
		}
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return true
	case <-l.ended:
		return false
	case <-l.p.done:
		return false
	}
}

// waitUnstalled blocks while d is stalled; false if the link ended meanwhile.
func (l *link) waitUnstalled(d Direction) (DirFaults, bool) {
	for {
		f, changed := l.p.snapshot(d)
		if !f.Stall {
			return f, true
		}
		select {
		case <-changed:
		case <-l.ended:
			return f, false
		case <-l.p.done:
			return f, false
		}
	}
}

// read pumps src into ch, applying the per-chunk faults: stall, black hole,
// reset, delay.
func (l *link) read(d Direction, src *net.TCPConn, ch chan<- chunk, r *rand.Rand) {
	defer close(ch)
	buf := make([]byte, chunkBuf)
	var lastDue time.Time
	for {
		if _, ok := l.waitUnstalled(d); !ok {
			return
		}
		n, err := src.Read(buf)
		if n > 0 {
			// A stall turned on while Read was blocked holds this chunk too.
			f, ok := l.waitUnstalled(d)
			if !ok {
				return
			}
			switch {
			case f.BlackHole:
				l.p.discarded.Add(uint64(n))
			case f.ResetProb > 0 && r.Float64() < f.ResetProb:
				l.reset(d.String() + " reset fault")
				return
			default:
				due := time.Now().Add(delayOf(f, r))
				if due.Before(lastDue) {
					due = lastDue // keep TCP order under jitter
				}
				lastDue = due
				c := chunk{data: append([]byte(nil), buf[:n]...), due: due}
				select {
				case ch <- c:
				case <-l.ended:
					return
				case <-l.p.done:
					return
				}
			}
		}
		if err != nil {
			if !errors.Is(err, io.EOF) {
				// The peer reset or the link was closed: end both sides.
				l.closeBoth()
			}
			return
		}
	}
}

func delayOf(f DirFaults, r *rand.Rand) time.Duration {
	d := f.Latency
	if f.Jitter > 0 {
		d += time.Duration(r.Int64N(int64(2*f.Jitter)+1)) - f.Jitter
	}
	d += f.Delay.Sample(r).Duration()
	return max(d, 0)
}

// write drains ch into dst at each chunk's due time, sliced and throttled.
// When the source finished cleanly it half-closes dst, so EOF propagates.
func (l *link) write(d Direction, dst *net.TCPConn, ch <-chan chunk, r *rand.Rand) {
	counter := &l.p.bytesUp
	if d == Downstream {
		counter = &l.p.bytesDown
	}
	var next time.Time // bandwidth: when the next byte may go
	for c := range ch {
		if !l.wait(c.due) {
			return
		}
		data := c.data
		for len(data) > 0 {
			f, _ := l.p.snapshot(d)
			n := pieceSize(f, len(data), r)
			if f.BandwidthBps > 0 {
				now := time.Now()
				if next.Before(now) {
					next = now
				}
				if !l.wait(next) {
					return
				}
				next = next.Add(time.Duration(int64(n) * int64(time.Second) / f.BandwidthBps))
			}
			w, err := dst.Write(data[:n])
			counter.Add(uint64(w))
			if err != nil {
				l.closeBoth()
				return
			}
			data = data[n:]
			if f.SliceSize > 0 && f.SliceDelay > 0 && len(data) > 0 {
				if !l.wait(time.Now().Add(f.SliceDelay)) {
					return
				}
			}
		}
	}
	select {
	case <-l.ended:
	default:
		_ = dst.CloseWrite()
	}
}

// pieceSize is how many of the remaining bytes go in the next write.
func pieceSize(f DirFaults, remaining int, r *rand.Rand) int {
	n := remaining
	if f.SliceSize > 0 {
		n = f.SliceSize
		if f.SliceVariation > 0 {
			n += r.IntN(2*f.SliceVariation+1) - f.SliceVariation
		}
	}
	if f.BandwidthBps > 0 {
		// Small pieces keep a throttled stream smooth: about 50 per second.
		n = min(n, max(int(f.BandwidthBps/50), 1))
	}
	return min(max(n, 1), remaining)
}
