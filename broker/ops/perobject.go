package ops

import (
	"bufio"
	"net/http"
	"strconv"
	"sync"

	"github.com/ciphermq/ciphermq/broker"
)

// perObjectHandler serves /metrics/per-object: the per-queue collector's
// series, written straight in the Prometheus text format (version 0.0.4).
//
// Through client_golang's registry a per-queue scrape of 10,000 queues
// (130,000 series) builds, checks and sorts a protobuf message per series:
// hundreds of milliseconds of CPU and ~90 MB of garbage per scrape, which
// a publisher on the same machine feels (docs/performance.md, "Operations
// listener"). This writer emits exactly the same families, help, types,
// labels and values (TestPerObjectWriterMatchesCollector compares them
// with the collector, which CollectAndLint checks), reusing one buffer per
// scrape. It speaks only the text format, which every Prometheus accepts.
type perObjectHandler struct {
	src      Source
	inFlight chan struct{}
}

// Content type of the text exposition format.
const textContentType = "text/plain; version=0.0.4; charset=utf-8"

var queuePool = sync.Pool{New: func() any { return new([]broker.QueueStats) }}

func (h *perObjectHandler) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	select {
	case h.inFlight <- struct{}{}:
		defer func() { <-h.inFlight }()
	default:
		http.Error(w, "too many scrapes in progress; retry later", http.StatusServiceUnavailable)
		return
	}
	qp := queuePool.Get().(*[]broker.QueueStats)
	qs := (*qp)[:0]
	h.src.EachQueue(func(q broker.QueueStats) bool {
		qs = append(qs, q)
		return true
	})
	w.Header().Set("Content-Type", textContentType)
	bw := bufio.NewWriterSize(w, 64<<10)
	writePerObject(bw, qs)
	bw.Flush()
	clear(qs)
	*qp = qs[:0]
	queuePool.Put(qp)
}

// writePerObject writes every per-queue family, one series per queue.
func writePerObject(bw *bufio.Writer, qs []broker.QueueStats) {
	line := make([]byte, 0, 256)
	for _, m := range queueMetrics {
		typ := "gauge"
		if m.counter {
			typ = "counter"
		}
		bw.WriteString("# HELP " + ns + "_" + m.name + " " + escapeHelp(m.help) + "\n")
		bw.WriteString("# TYPE " + ns + "_" + m.name + " " + typ + "\n")
		for i := range qs {
			vhost, name := broker.SplitQualified(qs[i].Name)
			line = append(line[:0], ns...)
			line = append(line, '_')
			line = append(line, m.name...)
			line = append(line, `{vhost="`...)
			line = appendLabelValue(line, vhost)
			line = append(line, `",queue="`...)
			line = appendLabelValue(line, name)
			line = append(line, `"} `...)
			line = strconv.AppendFloat(line, m.get(&qs[i]), 'g', -1, 64)
			line = append(line, '\n')
			bw.Write(line)
		}
	}
}

// appendLabelValue escapes a label value as the text format wants:
// backslash, double quote and newline.
func appendLabelValue(dst []byte, v string) []byte {
	for i := 0; i < len(v); i++ {
		switch c := v[i]; c {
		case '\\':
			dst = append(dst, `\\`...)
		case '"':
			dst = append(dst, `\"`...)
		case '\n':
			dst = append(dst, `\n`...)
		default:
			dst = append(dst, c)
		}
	}
	return dst
}

// escapeHelp escapes a help text: backslash and newline.
func escapeHelp(s string) string {
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\\':
			out = append(out, `\\`...)
		case '\n':
			out = append(out, `\n`...)
		default:
			out = append(out, c)
		}
	}
	return string(out)
}
