// Package termline draws one status line on a terminal that log lines
// never break: the line is redrawn at most every Interval, and a log line
// written through it clears the line, goes on its own line, and has the
// status drawn again below it. `ciphermq send`'s progress bar and `ciphermq
// recv`'s running count are both one Line.
package termline

import (
	"fmt"
	"io"
	"sync"
	"time"
)

// Interval is the shortest time between two throttled redraws.
const Interval = 100 * time.Millisecond

// Line is a status line on w. Render returns the line's text (without
// "\r" or a newline); it is called with the Line's lock held, so state that
// Update's set function changes is read consistently.
type Line struct {
	mu     sync.Mutex
	w      io.Writer
	on     bool
	render func(now time.Time) string
	last   time.Time
	drawn  bool // the status is on the current line
	ever   bool // the status was drawn at least once
}

// New returns a Line on w. When on is false (w is no terminal) it draws
// nothing and only passes log lines through.
func New(w io.Writer, on bool, render func(now time.Time) string) *Line {
	return &Line{w: w, on: on, render: render}
}

// Update runs set under the lock (set records the latest state; nil for
// none) and redraws the line if it is on and force is true, nothing was
// drawn yet, or Interval has passed since the last draw.
func (l *Line) Update(set func(), force bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if set != nil {
		set()
	}
	if !l.on {
		return
	}
	now := time.Now()
	if l.ever && !force && now.Sub(l.last) < Interval {
		return
	}
	l.drawLocked(now)
}

func (l *Line) drawLocked(now time.Time) {
	l.last, l.drawn, l.ever = now, true, true
	fmt.Fprintf(l.w, "\r%s\x1b[K", l.render(now))
}

// Write writes log output below the status line: the line is cleared
// first and drawn again after (if it was ever drawn).
func (l *Line) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.drawn {
		fmt.Fprint(l.w, "\r\x1b[K")
		l.drawn = false
	}
	n, err := l.w.Write(b)
	if l.on && l.ever {
		l.drawLocked(time.Now())
	}
	return n, err
}

// Finish runs set under the lock, then, if the line was ever drawn, draws
// it once more (exact final state) and ends it with a newline.
func (l *Line) Finish(set func()) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if set != nil {
		set()
	}
	if l.on && l.ever {
		l.drawLocked(time.Now())
		fmt.Fprintln(l.w)
		l.drawn = false
	}
}
