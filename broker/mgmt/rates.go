package mgmt

import (
	"sync"
	"time"

	"github.com/ciphermq/ciphermq/broker/access"
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

	mu     sync.Mutex
	queues map[string]*series // by core queue name
	views  map[string]*view   // the overview of each user, by name
}

// view is one user's overview: its totals (reused for a moment), the
// rates of those totals and their recent history for the chart. Users see
// different queues, so each has its own.
type view struct {
	users     *access.DB // the users file the totals were computed under
	totalsAt  time.Time
	totals    overviewTotals
	hasTotals bool
	overall   series
	history   []historyPoint
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
	maxViews        = 256    // users' overviews kept; beyond, the stalest go
	rateSeriesStale = 10 * time.Minute
)

func newRates(interval time.Duration) *rates {
	return &rates{interval: interval, queues: make(map[string]*series), views: make(map[string]*view)}
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

// viewLocked returns user's view, making room for it.
func (r *rates) viewLocked(user string, now time.Time) *view {
	v := r.views[user]
	if v == nil {
		if len(r.views) >= maxViews {
			for k, old := range r.views {
				if now.Sub(old.overall.seen) > rateSeriesStale {
					delete(r.views, k)
				}
			}
			if len(r.views) >= maxViews {
				clear(r.views)
			}
		}
		v = &view{}
		r.views[user] = v
	}
	return v
}

// cachedTotals returns user's totals if they were computed under the same
// users file less than maxAge ago.
func (r *rates) cachedTotals(user string, users *access.DB, now time.Time, maxAge time.Duration) (overviewTotals, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	v := r.views[user]
	if v == nil || !v.hasTotals || v.users != users || maxAge < 0 || now.Sub(v.totalsAt) >= maxAge {
		return overviewTotals{}, false
	}
	return v.totals, true
}

func (r *rates) storeTotals(user string, users *access.DB, now time.Time, t overviewTotals) {
	r.mu.Lock()
	defer r.mu.Unlock()
	v := r.viewLocked(user, now)
	v.users, v.totalsAt, v.totals, v.hasTotals = users, now, t, true
}

// overview returns the rates of user's totals and appends to its chart
// history when a new sample was taken.
func (r *rates) overview(user string, now time.Time, c counters, ready, unacked int) (counters64, []historyPoint) {
	r.mu.Lock()
	defer r.mu.Unlock()
	v := r.viewLocked(user, now)
	before := v.overall.cur.at
	rt, ok := r.observe(&v.overall, now, c)
	if ok && !v.overall.cur.at.Equal(before) {
		v.history = append(v.history, historyPoint{At: now.UnixMilli(), Publish: rt.Published, Deliver: rt.Delivered,
			Ack: rt.Acked, Redeliver: rt.Redelivered, Ready: ready, Unacked: unacked})
		if len(v.history) > maxHistory {
			v.history = append(v.history[:0], v.history[len(v.history)-maxHistory:]...)
		}
	}
	return rt, append([]historyPoint(nil), v.history...)
}
