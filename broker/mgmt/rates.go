package mgmt

import (
	"sync"
	"time"
)

// counters are the monotonic counters rates are computed from.
type counters struct {
	Published, Delivered, Redelivered, Acked, DeadLettered uint64
}

// sample is a counter reading at one instant.
type sample struct {
	at time.Time
	c  counters
}

// series keeps the two latest samples of one object, at least interval
// apart, so that a rate is (cur - prev) / (cur.at - prev.at).
type series struct {
	prev, cur sample
	has       int // samples taken (0, 1, 2+)
	seen      time.Time
}

// rates samples counters at request time: the core keeps counters only,
// and a handler that nobody asks does no work.
type rates struct {
	interval time.Duration

	mu      sync.Mutex
	queues  map[string]*series // by core queue name
	overall series
	history []historyPoint // the overview's recent rates, for the chart
}

// historyPoint is one point of the overview's chart.
type historyPoint struct {
	At        int64   `json:"t"` // Unix milliseconds
	Publish   float64 `json:"publish"`
	Deliver   float64 `json:"deliver"`
	Ack       float64 `json:"ack"`
	Ready     int     `json:"ready"`
	Unacked   int     `json:"unacked"`
	Redeliver float64 `json:"redeliver"`
}

const (
	maxHistory      = 120
	maxRateSeries   = 20_000 // per-queue series kept; beyond, the stalest go
	rateSeriesStale = 10 * time.Minute
)

func newRates(interval time.Duration) *rates {
	return &rates{interval: interval, queues: make(map[string]*series)}
}

// observe records c for s at now (if the last sample is at least interval
// old) and returns the current rates per second.
func (r *rates) observe(s *series, now time.Time, c counters) (rate counters64, ok bool) {
	s.seen = now
	switch {
	case s.has == 0:
		s.cur = sample{now, c}
		s.has = 1
	case now.Sub(s.cur.at) >= r.interval:
		s.prev, s.cur = s.cur, sample{now, c}
		s.has = 2
	}
	if s.has < 2 {
		return counters64{}, false
	}
	dt := s.cur.at.Sub(s.prev.at).Seconds()
	if dt <= 0 {
		return counters64{}, false
	}
	d := func(a, b uint64) float64 {
		if a < b { // a deleted and redeclared queue starts again
			return 0
		}
		return float64(a-b) / dt
	}
	p, q := s.cur.c, s.prev.c
	return counters64{d(p.Published, q.Published), d(p.Delivered, q.Delivered), d(p.Redelivered, q.Redelivered),
		d(p.Acked, q.Acked), d(p.DeadLettered, q.DeadLettered)}, true
}

// counters64 are rates per second.
type counters64 struct {
	Published, Delivered, Redelivered, Acked, DeadLettered float64
}

// queue returns the rates of one queue.
func (r *rates) queue(name string, now time.Time, c counters) counters64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.queues[name]
	if s == nil {
		if len(r.queues) >= maxRateSeries {
			r.pruneLocked(now)
		}
		s = &series{}
		r.queues[name] = s
	}
	rt, _ := r.observe(s, now, c)
	return rt
}

// forget drops a deleted queue's series.
func (r *rates) forget(name string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.queues, name)
}

func (r *rates) pruneLocked(now time.Time) {
	for k, s := range r.queues {
		if now.Sub(s.seen) > rateSeriesStale {
			delete(r.queues, k)
		}
	}
	if len(r.queues) >= maxRateSeries {
		clear(r.queues) // all fresh: start again rather than grow
	}
}

// overview returns the broker-wide rates and appends to the chart history
// when a new sample was taken.
func (r *rates) overview(now time.Time, c counters, ready, unacked int) (counters64, []historyPoint) {
	r.mu.Lock()
	defer r.mu.Unlock()
	before := r.overall.cur.at
	rt, ok := r.observe(&r.overall, now, c)
	if ok && !r.overall.cur.at.Equal(before) {
		r.history = append(r.history, historyPoint{At: now.UnixMilli(), Publish: rt.Published, Deliver: rt.Delivered,
			Ack: rt.Acked, Redeliver: rt.Redelivered, Ready: ready, Unacked: unacked})
		if len(r.history) > maxHistory {
			r.history = append(r.history[:0], r.history[len(r.history)-maxHistory:]...)
		}
	}
	return rt, append([]historyPoint(nil), r.history...)
}
