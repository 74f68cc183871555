package bench

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

// This file is what `ciphermq bench` prints beside the tables of
// report.go: the verdict of a run, the summary of a results file and the
// progress line.

// Err is the run's verdict as the command exits with it: nil when OK,
// else what went wrong.
func (r Result) Err() error {
	if r.OK() {
		return nil
	}
	return fmt.Errorf("run failed: lost %d, duplicated %d, foreign %d, error %q", r.Lost, r.Duplicated, r.Foreign, r.Error)
}

// SummarizeFile reads the JSON lines of results at path (`ciphermq bench
// --json` output, appended), keeps the targets of only (all when empty)
// and writes their summary against base (WriteSummary).
func SummarizeFile(w io.Writer, path, base string, only []string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	rs, err := ReadJSON(f)
	if err != nil {
		return err
	}
	if len(rs) == 0 {
		return fmt.Errorf("%s holds no results (JSON lines of ciphermq bench --json)", path)
	}
	if rs = OnlyTargets(rs, only); len(rs) == 0 {
		return fmt.Errorf("%s holds no results of the targets %s (--only)", path, strings.Join(only, ", "))
	}
	return WriteSummary(w, Summarize(rs, base), base)
}

// ProgressLine returns a Config.Progress that redraws one status line on
// w: a 30-column bar of the confirmed count (count mode) or of the elapsed
// time (duration mode), the elapsed seconds and the counts.
func ProgressLine(w io.Writer) func(Progress) {
	return func(p Progress) {
		var frac float64
		switch {
		case p.Count > 0:
			frac = float64(p.Confirmed) / float64(p.Count)
		case p.Planned > 0:
			frac = float64(p.Elapsed) / float64(p.Planned)
		}
		frac = min(max(frac, 0), 1)
		const width = 30
		n := int(frac * width)
		fmt.Fprintf(w, "\r\033[K[%s%s] %5.1fs  confirmed %d  received %d", strings.Repeat("#", n), strings.Repeat(" ", width-n),
			p.Elapsed.Round(100*time.Millisecond).Seconds(), p.Confirmed, p.Received)
	}
}
