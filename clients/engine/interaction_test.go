package engine

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ciphermq/ciphermq/broker/wire"
)

var rewrite = flag.Bool("rewrite", false, "rewrite testdata/interaction/*.txt with the engines' actual output")

// TestInteraction runs the scripts in testdata/interaction: each line
// starting with "> " is a command to the engines, and the lines after it,
// up to the next command, are what the engines must answer. Run with
// -rewrite to regenerate the answers after an intended change, then read
// the diff.
//
// Publisher commands: pub window=N timeout=D; add ID...; connect; disconnect;
// poll [+D] (advance the clock, then Poll); confirm FIRST LAST; dup SEQ;
// nack SEQ CODE. Consumer commands: cons prefetch=N; cconnect; cdisconnect;
// stored ID (the application made ID durable); deliver TAG ID;
// settle TAG stored|transient|permanent; settle-old EPOCH TAG RESULT; cpoll.
func TestInteraction(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "interaction", "*.txt"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no scripts in testdata/interaction (%v)", err)
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			raw, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			got := runScript(t, string(raw))
			if *rewrite {
				if err := os.WriteFile(file, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			if got != string(raw) {
				t.Fatalf("%s: output differs (run with -rewrite and read the diff):\n%s", file, diffLines(string(raw), got))
			}
		})
	}
}

// script is the state of one script run.
type script struct {
	t    *testing.T
	now  time.Time
	pub  *Publisher
	cons *Consumer
	seen seenSet
	out  strings.Builder
}

// runScript replays the commands of a script and returns the script with
// the engines' actual answers.
func runScript(t *testing.T, text string) string {
	s := &script{t: t, now: t0, seen: seenSet{}}
	for _, line := range strings.Split(strings.TrimRight(text, "\n"), "\n") {
		switch {
		case strings.HasPrefix(line, "> "):
			s.out.WriteString(line + "\n")
			s.run(strings.Fields(line[2:]))
		case strings.HasPrefix(line, "#"), line == "":
			s.out.WriteString(line + "\n")
		}
		// Other lines are the expected answers; they are regenerated.
	}
	return s.out.String()
}

func (s *script) say(format string, args ...any) { fmt.Fprintf(&s.out, format+"\n", args...) }

func (s *script) arg(kv []string, key string) string {
	for _, a := range kv {
		if v, ok := strings.CutPrefix(a, key+"="); ok {
			return v
		}
	}
	return ""
}

func (s *script) num(v string) uint64 {
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		s.t.Fatalf("bad number %q: %v", v, err)
	}
	return n
}

func (s *script) run(cmd []string) {
	if len(cmd) == 0 {
		s.t.Fatal("empty command")
	}
	args := cmd[1:]
	switch cmd[0] {
	case "pub":
		cfg := PublisherConfig{}
		if v := s.arg(args, "window"); v != "" {
			cfg.Window = int(s.num(v))
		}
		if v := s.arg(args, "timeout"); v != "" {
			d, err := time.ParseDuration(v)
			if err != nil {
				s.t.Fatal(err)
			}
			cfg.ConfirmTimeout, cfg.MaxConfirmTimeout = d, 4*d
		}
		if v := s.arg(args, "retry"); v != "" {
			cfg.RetryCodes = []uint16{uint16(s.num(v))}
		}
		s.pub = NewPublisher(cfg)
	case "add":
		for _, id := range args {
			if err := s.pub.Add(Message{ID: id, Exchange: "ex", RoutingKey: "rk", Body: []byte(id)}); err != nil {
				s.say("error %v", err)
			}
		}
	case "connect":
		s.pub.Connected(s.now)
	case "disconnect":
		s.pub.Disconnected(s.now)
	case "poll":
		if len(args) == 1 {
			d, err := time.ParseDuration(strings.TrimPrefix(args[0], "+"))
			if err != nil {
				s.t.Fatal(err)
			}
			s.now = s.now.Add(d)
		}
		for _, f := range s.pub.Poll(s.now) {
			s.say("publish seq=%d id=%s", f.Seq, f.MessageID)
		}
		if d, ok := s.pub.NextDeadline(); ok {
			s.say("next deadline +%v, in flight %d, pending %d", d.Sub(s.now), s.pub.InFlight(), s.pub.Pending())
		}
	case "confirm":
		s.pub.HandleConfirm(wire.Confirm{First: s.num(args[0]), Last: s.num(args[1])})
		s.resolutions()
	case "dup":
		s.pub.HandleConfirmDup(wire.ConfirmDup{Seq: s.num(args[0])})
		s.resolutions()
	case "nack":
		s.pub.HandleNack(wire.Nack{Seq: s.num(args[0]), Code: uint16(s.num(args[1])), Reason: "refused"})
		s.resolutions()
	case "cons":
		cfg := ConsumerConfig{Seen: s.seen}
		if v := s.arg(args, "prefetch"); v != "" {
			cfg.Prefetch = int(s.num(v))
		}
		s.cons = NewConsumer(cfg)
	case "cconnect":
		s.cons.Connected()
	case "cdisconnect":
		s.cons.Disconnected()
	case "stored":
		s.seen[args[0]] = true
	case "deliver":
		_, dec := s.cons.Handle(&wire.Deliver{DeliveryTag: s.num(args[0]), MessageID: []byte(args[1])})
		s.say("%s", dec)
	case "settle", "settle-old":
		epoch := s.cons.Epoch()
		if cmd[0] == "settle-old" {
			epoch, args = s.num(args[0]), args[1:]
		}
		res := map[string]Result{"stored": Stored, "transient": Transient, "permanent": Permanent}[args[1]]
		if err := s.cons.Settle(Ref{Epoch: epoch, Tag: s.num(args[0])}, res); err != nil {
			s.say("error %v", err)
		}
	case "cpoll":
		for _, st := range s.cons.Poll() {
			switch {
			case st.Kind == SettleAck && st.Multiple:
				s.say("ack %d multiple", st.DeliveryTag)
			case st.Kind == SettleAck:
				s.say("ack %d", st.DeliveryTag)
			case st.Kind == SettleNack:
				s.say("nack %d requeue", st.DeliveryTag)
			case st.Kind == SettleReject:
				s.say("reject %d", st.DeliveryTag)
			}
		}
	default:
		s.t.Fatalf("unknown command %q", cmd[0])
	}
}

func (s *script) resolutions() {
	for _, r := range s.pub.Resolutions() {
		if r.Outcome == Refused {
			s.say("resolved %s %v code=%d after %d sends", r.ID, r.Outcome, r.Code, r.Sends)
			continue
		}
		s.say("resolved %s %v after %d sends", r.ID, r.Outcome, r.Sends)
	}
}

// diffLines shows the first differing line of two texts.
func diffLines(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := 0; i < len(w) || i < len(g); i++ {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			return fmt.Sprintf("line %d:\n  want: %s\n  got:  %s", i+1, wl, gl)
		}
	}
	return "(no difference)"
}
