package broker

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Scenario tests, in the style of etcd-io/raft's interaction tests: each
// testdata/scenarios/*.txt file is a script of commands, each followed by
// the indented output it must produce (effects, results, errors). They are
// meant to be read: they show a message's life cycle step by step.
//
// After an intended behaviour change, regenerate the expected outputs with
//
//	go test ./broker -run TestScenarios -rewrite
//
// and review the diff.
var rewriteScenarios = flag.Bool("rewrite", false, "rewrite testdata/scenarios/*.txt with the actual outputs")

func TestScenarios(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "scenarios", "*.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no scenario files found")
	}
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".txt"), func(t *testing.T) {
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			got := runScenario(t, string(data))
			if *rewriteScenarios {
				if err := os.WriteFile(file, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			if got != string(data) {
				t.Errorf("scenario output differs (run with -rewrite to accept, then review the diff):\n%s", lineDiff(string(data), got))
			}
		})
	}
}

// runScenario executes the commands of a script and returns the script
// with each command's expected output replaced by the actual one.
func runScenario(t *testing.T, script string) string {
	h := &scenario{t: t, c: New(Config{NoDefaults: true, DedupWindow: time.Minute}), now: t0}
	var out strings.Builder
	for _, line := range strings.Split(strings.TrimRight(script, "\n"), "\n") {
		if strings.HasPrefix(line, "  ") {
			continue // an expected output line: regenerated below
		}
		out.WriteString(line + "\n")
		trimmed := strings.TrimSpace(line)
		if trimmed == "" || strings.HasPrefix(trimmed, "#") {
			continue
		}
		for _, o := range h.run(strings.Fields(trimmed)) {
			out.WriteString("  " + o + "\n")
		}
		if err := h.c.CheckInvariants(); err != nil {
			t.Fatalf("after %q: %v", trimmed, err)
		}
	}
	return out.String()
}

type scenario struct {
	t   *testing.T
	c   *Core
	now time.Time
	seq uint64
}

// run executes one command and returns its output lines.
func (s *scenario) run(f []string) []string {
	args, opts := splitOptions(f[1:])
	arg := func(i int) string {
		if i >= len(args) {
			s.t.Fatalf("%s: missing argument %d", f[0], i+1)
		}
		if args[i] == `""` {
			return ""
		}
		return args[i]
	}
	num := func(v string) uint64 {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			s.t.Fatalf("%s: %q is not a number", f[0], v)
		}
		return n
	}
	dur := func(v string) time.Duration {
		d, err := time.ParseDuration(v)
		if err != nil {
			s.t.Fatalf("%s: %q is not a duration", f[0], v)
		}
		return d
	}
	conn := func(i int) ConnID { return ConnID(num(arg(i))) }
	var res []string
	result := func(err error) {
		if err != nil {
			res = append(res, fmt.Sprintf("error %d: %s", CodeOf(err), err.(*Error).Msg))
		} else {
			res = append(res, "ok")
		}
	}
	switch f[0] {
	case "exchange":
		typ, err := ParseExchangeType(arg(1))
		if err != nil {
			s.t.Fatal(err)
		}
		result(s.c.DeclareExchange(arg(0), typ))
	case "queue":
		var o QueueOptions
		for k, v := range opts {
			switch k {
			case "max-length":
				o.MaxLength = int(num(v))
			case "max-bytes":
				o.MaxBytes = int64(num(v))
			case "ack-timeout":
				o.AckTimeout = dur(v)
			case "delivery-limit":
				o.DeliveryLimit = int(num(v))
			case "dlq":
				o.DeadLetterQueue = v
			default:
				s.t.Fatalf("queue: unknown option %s", k)
			}
		}
		result(s.c.DeclareQueue(arg(0), o))
	case "delete-queue":
		n, err := s.c.DeleteQueue(arg(0), s.now)
		if err == nil {
			res = append(res, fmt.Sprintf("discarded %d", n))
		} else {
			result(err)
		}
	case "bind":
		result(s.c.Bind(arg(0), arg(1), arg(2)))
	case "open":
		s.c.Open(conn(0), s.now)
	case "close":
		s.c.Close(conn(0), s.now)
	case "publish":
		s.seq++
		body := ""
		if len(args) > 4 {
			body = arg(4)
		}
		s.c.Publish(conn(0), &Publish{Seq: s.seq, Exchange: []byte(arg(1)), RoutingKey: []byte(arg(2)), MessageID: []byte(arg(3)), Body: []byte(body)}, s.now)
	case "consume":
		o := ConsumeOptions{Queue: arg(1), Tag: opts["tag"]}
		if v, ok := opts["prefetch"]; ok {
			o.Prefetch = int(num(v))
		}
		if v, ok := opts["ack-timeout"]; ok {
			o.AckTimeout = dur(v)
		}
		tag, err := s.c.Consume(conn(0), o, s.now)
		if err == nil {
			res = append(res, "consumer "+tag)
		} else {
			result(err)
		}
	case "cancel":
		result(s.c.Cancel(conn(0), arg(1), s.now))
	case "fetch":
		d, ok, err := s.c.Fetch(conn(0), arg(1), s.now)
		switch {
		case err != nil:
			result(err)
		case !ok:
			res = append(res, "empty")
		default:
			res = append(res, "fetched "+describeDelivery(d))
		}
	case "ack":
		result(s.c.Ack(conn(0), num(arg(1)), opts["multiple"] == "true", s.now))
	case "nack":
		result(s.c.Nack(conn(0), num(arg(1)), opts["multiple"] == "true", opts["requeue"] == "true", s.now))
	case "reject":
		result(s.c.Reject(conn(0), num(arg(1)), s.now))
	case "advance":
		s.now = s.now.Add(dur(arg(0)))
		s.c.Tick(s.now)
		if at, ok := s.c.NextDeadline(); ok {
			res = append(res, "next deadline +"+at.Sub(t0).String())
		}
	case "held":
		for _, m := range s.c.Held() {
			state := "ready"
			if m.Unacked {
				state = fmt.Sprintf("unacked conn=%d tag=%d", m.Conn, m.Tag)
			}
			res = append(res, fmt.Sprintf("%s %s %s count=%d redelivered=%v", m.Queue, m.MessageID, state, m.DeliveryCount, m.Redelivered))
		}
		if len(res) == 0 {
			res = append(res, "nothing")
		}
	case "stats":
		q, ok := s.c.Queue(arg(0))
		if !ok {
			res = append(res, "no such queue")
			break
		}
		res = append(res, fmt.Sprintf("ready=%d unacked=%d published=%d duplicates=%d delivered=%d redelivered=%d acked=%d dead_lettered=%d discarded=%d refused=%d",
			q.Ready, q.Unacked, q.Published, q.Duplicates, q.Delivered, q.Redelivered, q.Acked, q.DeadLettered, q.Discarded, q.Refused))
	default:
		s.t.Fatalf("unknown scenario command %q", f[0])
	}
	for _, e := range s.c.Drain() {
		res = append(res, describeEffect(e))
	}
	return res
}

// splitOptions separates positional arguments from key=value options; a
// bare word after the positional ones (e.g. "multiple") is a true flag.
func splitOptions(f []string) ([]string, map[string]string) {
	opts := map[string]string{}
	var args []string
	for _, w := range f {
		if k, v, ok := strings.Cut(w, "="); ok {
			opts[k] = v
		} else if w == "multiple" || w == "requeue" {
			opts[w] = "true"
		} else {
			args = append(args, w)
		}
	}
	return args, opts
}

func describeDelivery(d Delivery) string {
	s := fmt.Sprintf("tag=%d q=%s id=%s count=%d", d.Tag, d.Queue, d.MessageID, d.DeliveryCount)
	if d.ConsumerTag != "" {
		s = d.ConsumerTag + " " + s
	}
	if d.Redelivered {
		s += " redelivered"
	}
	if len(d.Body) > 0 {
		s += fmt.Sprintf(" body=%q", d.Body)
	}
	return s
}

func describeEffect(e Effect) string {
	switch e.Kind {
	case EffectConfirm:
		if e.Duplicate {
			return fmt.Sprintf("confirm conn=%d seq=%d duplicate", e.Conn, e.Seq)
		}
		return fmt.Sprintf("confirm conn=%d seq=%d", e.Conn, e.Seq)
	case EffectRefuse:
		return fmt.Sprintf("refuse conn=%d seq=%d code=%d: %s", e.Conn, e.Seq, e.Err.Code, e.Err.Msg)
	case EffectDeliver:
		return fmt.Sprintf("deliver conn=%d %s", e.Conn, describeDelivery(e.Delivery))
	case EffectCancelled:
		return fmt.Sprintf("cancelled conn=%d %s q=%s code=%d", e.Conn, e.Delivery.ConsumerTag, e.Delivery.Queue, e.Err.Code)
	}
	return e.Kind.String()
}

// lineDiff shows the lines that differ, with their numbers.
func lineDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	var b strings.Builder
	for i := 0; i < len(w) || i < len(g); i++ {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			fmt.Fprintf(&b, "line %d:\n  want %q\n  got  %q\n", i+1, wl, gl)
		}
	}
	return b.String()
}
