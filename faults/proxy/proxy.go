package proxy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
)

// ErrClosed is returned by operations on a closed Proxy.
var ErrClosed = errors.New("fault proxy closed")

// Option configures New.
type Option func(*Proxy)

// WithSeed seeds the proxy's random choices (jitter, delay samples, resets,
// slice sizes). Connection n uses its own PCG streams derived from the seed.
func WithSeed(seed uint64) Option { return func(p *Proxy) { p.seed = seed } }

// WithLogger sets the logger for connection events (default: slog.Default()).
func WithLogger(l *slog.Logger) Option { return func(p *Proxy) { p.log = l } }

// WithFaults sets the initial faults.
func WithFaults(f Faults) Option { return func(p *Proxy) { p.faults = f } }

// Stats are the proxy's counters since New.
type Stats struct {
	Accepted  uint64 // client connections accepted
	Resets    uint64 // connections reset (by ResetProb or CutAll)
	BytesUp   uint64 // bytes written to targets
	BytesDown uint64 // bytes written to clients
	Discarded uint64 // bytes swallowed by a black hole
}

// Proxy forwards loopback TCP connections to a target with faults.
type Proxy struct {
	target string
	seed   uint64
	log    *slog.Logger
	ln     net.Listener

	mu      sync.Mutex
	faults  Faults
	changed chan struct{} // closed and replaced whenever faults change
	links   map[*link]struct{}
	nextID  uint64
	closed  bool

	done   chan struct{}
	ctx    context.Context // cancelled by Close, for dials in progress
	cancel context.CancelFunc
	wg     sync.WaitGroup

	accepted, resets, bytesUp, bytesDown, discarded atomic.Uint64
}

// New starts a proxy on 127.0.0.1 with an ephemeral port, forwarding to
// target (host:port). Close it when done.
func New(target string, opts ...Option) (*Proxy, error) {
	p := &Proxy{
		target:  target,
		log:     slog.Default(),
		changed: make(chan struct{}),
		links:   map[*link]struct{}{},
		done:    make(chan struct{}),
	}
	p.ctx, p.cancel = context.WithCancel(context.Background())
	for _, o := range opts {
		o(p)
	}
	if err := p.faults.Validate(); err != nil {
		p.cancel()
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		p.cancel()
		return nil, fmt.Errorf("fault proxy: listen on loopback: %w", err)
	}
	p.ln = ln
	p.wg.Add(1)
	go p.acceptLoop()
	return p, nil
}

// Addr is the address clients dial instead of the target.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Target is the address the proxy forwards to.
func (p *Proxy) Target() string { return p.target }

// Faults returns the current faults.
func (p *Proxy) Faults() Faults {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.faults
}

// Set replaces the faults of both directions; open connections follow from
// their next chunk on.
func (p *Proxy) Set(f Faults) error {
	if err := f.Validate(); err != nil {
		return err
	}
	p.update(func(cur *Faults) { *cur = f })
	return nil
}

// BlackHole turns the black hole of one direction on or off.
func (p *Proxy) BlackHole(d Direction, on bool) {
	p.update(func(f *Faults) { f.dir(d).BlackHole = on })
}

// Stall stops (on) or resumes (off) one direction.
func (p *Proxy) Stall(d Direction, on bool) {
	p.update(func(f *Faults) { f.dir(d).Stall = on })
}

func (p *Proxy) update(edit func(*Faults)) {
	p.mu.Lock()
	edit(&p.faults)
	close(p.changed)
	p.changed = make(chan struct{})
	p.mu.Unlock()
}

// snapshot returns the faults of d and a channel closed at the next change.
func (p *Proxy) snapshot(d Direction) (DirFaults, <-chan struct{}) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return *p.faults.dir(d), p.changed
}

// CutAll resets every open connection at both ends now (RST), as a crashed
// middlebox or a pulled cable followed by a timeout would. New connections
// are still accepted.
func (p *Proxy) CutAll() {
	p.mu.Lock()
	links := make([]*link, 0, len(p.links))
	for l := range p.links {
		links = append(links, l)
	}
	p.mu.Unlock()
	for _, l := range links {
		l.reset("cut")
	}
}

// Conns returns the number of open proxied connections.
func (p *Proxy) Conns() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.links)
}

// Stats returns the counters.
func (p *Proxy) Stats() Stats {
	return Stats{
		Accepted:  p.accepted.Load(),
		Resets:    p.resets.Load(),
		BytesUp:   p.bytesUp.Load(),
		BytesDown: p.bytesDown.Load(),
		Discarded: p.discarded.Load(),
	}
}

// Close stops accepting, closes every connection and waits until all the
// proxy's goroutines have returned. It is safe to call more than once.
func (p *Proxy) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	close(p.done)
	p.cancel()
	links := make([]*link, 0, len(p.links))
	for l := range p.links {
		links = append(links, l)
	}
	p.mu.Unlock()
	err := p.ln.Close()
	for _, l := range links {
		l.closeBoth()
	}
	p.wg.Wait()
	return err
}

func (p *Proxy) acceptLoop() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			select {
			case <-p.done:
			default:
				p.log.Warn("fault proxy: accept failed; no longer accepting", "addr", p.Addr(), "err", err)
			}
			return
		}
		p.accepted.Add(1)
		p.wg.Add(1)
		go p.serve(c.(*net.TCPConn))
	}
}

// serve dials the target for one client and runs the link until it ends.
func (p *Proxy) serve(client *net.TCPConn) {
	defer p.wg.Done()
	var d net.Dialer
	sc, err := d.DialContext(p.ctx, "tcp", p.target)
	if err != nil {
		p.log.Warn("fault proxy: target unreachable; closing the client", "target", p.target, "err", err)
		client.Close()
		return
	}
	server := sc.(*net.TCPConn)
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		client.Close()
		server.Close()
		return
	}
	id := p.nextID
	p.nextID++
	l := newLink(p, id, client, server)
	p.links[l] = struct{}{}
	p.mu.Unlock()

	l.run()

	p.mu.Lock()
	delete(p.links, l)
	p.mu.Unlock()
}
