package sender

import (
	"fmt"
	"io"
	"time"

	"github.com/ciphermq/ciphermq/internal/termline"
)

// Bar draws a send run's one-line progress bar on a terminal. It is also
// the writer of the command's log lines, so that a log line clears the bar,
// goes on its own line, and the bar is drawn again below it
// (internal/termline).
type Bar struct {
	line  *termline.Line
	total int
	start time.Time

	sent, confirmed int // the latest counts, under the line's lock
}

// NewBar returns the bar of a run of total messages (0 or less: unknown)
// drawn on w; when on is false it draws nothing (w is no terminal) and
// only passes log lines through.
func NewBar(w io.Writer, total int, on bool) *Bar {
	p := &Bar{total: total, start: time.Now()}
	p.line = termline.New(w, on, p.render)
	return p
}

// Update records the latest counts and redraws the bar, at most every
// 100ms (and always at the last message). It is a valid Options.Progress;
// a nil *Bar ignores it.
func (p *Bar) Update(sent, confirmed int) {
	if p == nil {
		return
	}
	p.line.Update(func() { p.sent, p.confirmed = sent, confirmed }, sent == p.total)
}

func (p *Bar) render(now time.Time) string {
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
		return fmt.Sprintf("[%s] %3d%% sent %d/%d confirmed %d %8.0f msg/s", bar, sent*100/p.total, sent, p.total, confirmed, rate)
	}
	return fmt.Sprintf("sent %d confirmed %d %8.0f msg/s", sent, confirmed, rate)
}

// Write writes log output: the bar is cleared first and drawn again after.
func (p *Bar) Write(b []byte) (int, error) { return p.line.Write(b) }

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
	p.line.Finish(nil)
}
