package bench

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"sort"
	"strings"
	"text/tabwriter"
	"time"
)

// WriteJSON writes r as one JSON line.
func WriteJSON(w io.Writer, r Result) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// ReadJSON reads JSON lines written by WriteJSON; blank lines and lines that
// do not start with '{' (progress, logs) are skipped.
func ReadJSON(r io.Reader) ([]Result, error) {
	var out []Result
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if !strings.HasPrefix(line, "{") {
			continue
		}
		var res Result
		if err := json.Unmarshal([]byte(line), &res); err != nil {
			return out, fmt.Errorf("bench: line %d is not a result: %w", n, err)
		}
		out = append(out, res)
	}
	return out, sc.Err()
}

// WriteTable writes results as a table for people.
func WriteTable(w io.Writer, rs []Result) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "target\tP/C\tsize\tenc\tproto\tmsgs/s\tMB/s\tconfirm/s\tp50\tp99\tp99.9\tmax\tsend lag p50/p99/max\tlost\tdup\tbroker CPU\tbroker RSS\tloadgen CPU\tmachine busy\t")
	for _, r := range rs {
		fmt.Fprintf(tw, "%s\t%d/%d\t%d\t%s\t%s\t%s\t%.1f\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%d\t%s\t%s\t%s\t%s\t\n",
			r.Target, r.Publishers, r.Consumers, r.Size, r.Encryption, r.Protocol,
			fmtRate(r.MsgsPerSec), r.MBPerSec, fmtRate(r.ConfirmMsgsPerSec),
			fmtMicros(r.LatencyP50us), fmtMicros(r.LatencyP99us), fmtMicros(r.LatencyP999us), fmtMicros(r.LatencyMaxus),
			fmtSendLag(r), r.Lost, r.Duplicated, fmtPct(r.BrokerCPU), fmtBytes(r.BrokerPeakRSS), fmtPct(r.LoadgenCPU), fmtPct(r.MachineBusy))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, r := range rs {
		if r.Error != "" {
			fmt.Fprintf(w, "%s: %s\n", r.Target, r.Error)
		}
	}
	return nil
}

func fmtRate(v float64) string {
	switch {
	case v >= 1e6:
		return fmt.Sprintf("%.2fM", v/1e6)
	case v >= 1e4:
		return fmt.Sprintf("%.0fk", v/1e3)
	case v >= 1e3:
		return fmt.Sprintf("%.1fk", v/1e3)
	}
	return fmt.Sprintf("%.0f", v)
}

func fmtMicros(us float64) string {
	d := time.Duration(us * 1e3)
	switch {
	case d >= time.Second:
		return fmt.Sprintf("%.2fs", d.Seconds())
	case d >= time.Millisecond:
		return fmt.Sprintf("%.1fms", float64(d)/1e6)
	}
	return fmt.Sprintf("%.0fµs", us)
}

// fmtSendLag is the load generator's lateness in one column, "-" for a
// closed-loop run (which has no schedule to be late for).
func fmtSendLag(r Result) string {
	if r.SendLagP50us < 0 {
		return "-"
	}
	return fmtMicros(r.SendLagP50us) + "/" + fmtMicros(r.SendLagP99us) + "/" + fmtMicros(r.SendLagMaxus)
}

func fmtPct(v float64) string {
	if v < 0 {
		return "-"
	}
	return fmt.Sprintf("%.0f%%", v)
}

func fmtBytes(b int64) string {
	if b < 0 {
		return "-"
	}
	return fmt.Sprintf("%.0fMiB", float64(b)/(1<<20))
}

// OnlyTargets keeps the results of the named targets, in their order; no
// names keeps everything. bench/compare uses it to print one table per row
// group (in-memory targets against ciphermq, durable ones against
// ciphermq-durable) from one file of results.
func OnlyTargets(rs []Result, names []string) []Result {
	if len(names) == 0 {
		return rs
	}
	keep := make(map[string]bool, len(names))
	for _, n := range names {
		keep[n] = true
	}
	var out []Result
	for _, r := range rs {
		if keep[r.Target] {
			out = append(out, r)
		}
	}
	return out
}

// Summary is the median of the repetitions of one (target, workload).
type Summary struct {
	Target      string
	Workload    string // "P/C size enc"
	Runs        int
	MsgsPerSec  float64
	ConfirmRate float64
	P50us       float64
	P99us       float64
	BrokerCPU   float64
	BrokerRSS   int64
	MachineBusy float64
	Lost        int64 // summed over the runs
	Duplicated  int64
	Failed      int // runs with an error
	Ratio       float64
}

// Summarize groups results by target and workload, takes medians, and sets
// each row's Ratio to its msgs/s divided by that of base on the same
// workload (0 when base did not run it).
func Summarize(rs []Result, base string) []Summary {
	type key struct{ target, workload string }
	groups := map[key][]Result{}
	var order []key
	for _, r := range rs {
		k := key{r.Target, fmt.Sprintf("%d/%d %dB %s", r.Publishers, r.Consumers, r.Size, r.Encryption)}
		if _, ok := groups[k]; !ok {
			order = append(order, k)
		}
		groups[k] = append(groups[k], r)
	}
	out := make([]Summary, 0, len(order))
	baseRate := map[string]float64{}
	for _, k := range order {
		g := groups[k]
		s := Summary{Target: k.target, Workload: k.workload, Runs: len(g)}
		col := func(f func(Result) float64) float64 {
			v := make([]float64, len(g))
			for i, r := range g {
				v[i] = f(r)
			}
			return median(v)
		}
		s.MsgsPerSec = col(func(r Result) float64 { return r.MsgsPerSec })
		s.ConfirmRate = col(func(r Result) float64 { return r.ConfirmMsgsPerSec })
		s.P50us = col(func(r Result) float64 { return r.LatencyP50us })
		s.P99us = col(func(r Result) float64 { return r.LatencyP99us })
		s.BrokerCPU = col(func(r Result) float64 { return r.BrokerCPU })
		s.MachineBusy = col(func(r Result) float64 { return r.MachineBusy })
		s.BrokerRSS = int64(col(func(r Result) float64 { return float64(r.BrokerPeakRSS) }))
		for _, r := range g {
			s.Lost += r.Lost
			s.Duplicated += r.Duplicated
			if r.Error != "" {
				s.Failed++
			}
		}
		if k.target == base {
			baseRate[k.workload] = s.MsgsPerSec
		}
		out = append(out, s)
	}
	for i := range out {
		if b := baseRate[out[i].Workload]; b > 0 {
			out[i].Ratio = out[i].MsgsPerSec / b
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Workload < out[j].Workload })
	return out
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// WriteSummary writes the comparison table as GitHub markdown.
func WriteSummary(w io.Writer, ss []Summary, base string) error {
	bw := bufio.NewWriter(w)
	fmt.Fprintf(bw, "| workload | target | runs | msgs/s (median) | vs %s | confirms/s | p50 | p99 | broker CPU | broker peak RSS | machine busy | lost | dup | failed runs |\n", base)
	fmt.Fprintln(bw, "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
	for _, s := range ss {
		ratio := "-"
		if s.Ratio > 0 && !math.IsInf(s.Ratio, 0) {
			ratio = fmt.Sprintf("%.2f×", s.Ratio)
		}
		fmt.Fprintf(bw, "| %s | %s | %d | %s | %s | %s | %s | %s | %s | %s | %s | %d | %d | %d |\n",
			s.Workload, s.Target, s.Runs, fmtRate(s.MsgsPerSec), ratio, fmtRate(s.ConfirmRate),
			fmtMicros(s.P50us), fmtMicros(s.P99us), fmtPct(s.BrokerCPU), fmtBytes(s.BrokerRSS), fmtPct(s.MachineBusy), s.Lost, s.Duplicated, s.Failed)
	}
	return bw.Flush()
}
