package sender

import (
	"fmt"
	"io"
	"sync"
	"time"
)

// Bar draws a send run's one-line progress bar on a terminal. It is also
// the writer of the command's log lines, so that a log line clears the bar,
// goes on its own line, and the bar is drawn again below it.
type Bar struct {
	mu    sync.Mutex
	w     io.Writer
	total int
	on    bool
	start time.Time
	last  time.Time
	drawn bool // a bar is on the current line
	ever  bool // a bar was drawn at least once

	sent, confirmed int // the latest counts
}

// NewBar returns the bar of a run of total messages (0 or less: unknown)
// drawn on w; when on is false it draws nothing (w is no terminal) and
// only passes log lines through.
func NewBar(w io.Writer, total int, on bool) *Bar {
	return &Bar{w: w, total: total, on: on, start: time.Now()}
}

// Update records the latest counts and redraws the bar, at most every
// 100ms (and always at the last message). It is a valid Options.Progress;
// a nil *Bar ignores it.
func (p *Bar) Update(sent, confirmed int) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.sent, p.confirmed = sent, confirmed
	if !p.on {
		return
	}
	now := time.Now()
	if p.ever && now.Sub(p.last) < 100*time.Millisecond && sent != p.total {
		return
	}
	p.drawLocked(now)
}

func (p *Bar) drawLocked(now time.Time) {
	p.last, p.drawn, p.ever = now, true, true
	sent, confirmed := p.sent, p.confirmed
	rate := float64(confirmed) / max(now.Sub(p.start).Seconds(), 1e-9)
	if p.total > 0 {
		const width = 30
		fill := min(width, sent*width/p.total)
		bar := make([]byte, width)
		for i := range bar {
			bar[i] = ' '
			if i < fill {
				bar[i] = '='
			}
		}
		fmt.Fprintf(p.w, "\r[%s] %3d%% sent %d/%d confirmed %d %8.0f msg/s\x1b[K", bar, sent*100/p.total, sent, p.total, confirmed, rate)
		return
	}
	fmt.Fprintf(p.w, "\rsent %d confirmed %d %8.0f msg/s\x1b[K", sent, confirmed, rate)
}

// Write writes log output: the bar is cleared first and drawn again after.
func (p *Bar) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.drawn {
		fmt.Fprint(p.w, "\r\x1b[K")
		p.drawn = false
	}
	n, err := p.w.Write(b)
	if p.on && p.ever {
		p.drawLocked(time.Now())
	}
	return n, err
}

// Logf writes one log line (see Write).
func (p *Bar) Logf(format string, args ...any) {
	_, _ = p.Write([]byte(fmt.Sprintf(format, args...) + "\n"))
}

// Finish draws the bar once more with the final counts, exactly, and ends
// its line.
func (p *Bar) Finish() {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.on && p.ever {
		p.drawLocked(time.Now())
		fmt.Fprintln(p.w)
		p.drawn = false
	}
}
