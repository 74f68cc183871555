package protocol_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/ciphermq/ciphermq/broker"
)

// TestTextPacingProperty drives a text consumer with random publishes,
// partial writes, acks (fresh, repeated and stale) and time steps, and
// checks after every step the rules that keep a one-recv-per-line client
// from losing messages:
//
//  1. a push is written alone: Output holding a push holds nothing else;
//  2. a push appears only after the quiet gap since the last write;
//  3. no second push while the client has not acked the previous one;
//
// and at the end that every published message was pushed (liveness).
func TestTextPacingProperty(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		w := newWorld(t, broker.Config{})
		w.cfg.TextAckTimeout = time.Hour // only acks free the push slot here
		gap := w.cfg.TextPacingGap
		_, pub := w.text()
		_, s := w.text()
		// Two consumers on one connection: the core may deliver two
		// messages at once, and the session must still push one at a time.
		w.feed(s, []byte("consume default_queue\nconsume default_queue\n"))

		var (
			lastWrite  = w.now
			inflight   string // pushed, fully written, not acked
			pushing    string // push currently in Output
			published  []string
			pushed     = map[string]bool{}
			pushedList []string
			nextID     int
			checkFresh = func(step string) {
				out := string(s.Output())
				if !strings.HasPrefix(out, "Message: ") {
					return
				}
				if strings.Count(out, "\n") != 1 || !strings.HasSuffix(out, "\n") {
					rt.Fatalf("%s: a push shares its write: %q", step, out)
				}
				id := strings.SplitN(out, " ", 3)[1]
				if pushing == id {
					return
				}
				if w.now.Sub(lastWrite) < gap {
					rt.Fatalf("%s: push of %s %v after the last write, gap is %v", step, id, w.now.Sub(lastWrite), gap)
				}
				if inflight != "" {
					rt.Fatalf("%s: push of %s while %s is unacked", step, id, inflight)
				}
				pushing = id
			}
		)
		take := func(k int) {
			out := s.Output()
			if len(out) == 0 {
				return
			}
			k = min(k, len(out))
			s.Wrote(k, w.now)
			w.settle()
			lastWrite = w.now
			if pushing != "" && !strings.HasPrefix(string(s.Output()), "Message: "+pushing+" ") {
				// The push line is now completely on the wire.
				inflight, pushing = pushing, ""
				pushed[inflight] = true
				pushedList = append(pushedList, inflight)
			}
		}
		rt.Repeat(map[string]func(*rapid.T){
			"publish": func(rt *rapid.T) {
				nextID++
				id := fmt.Sprintf("m%d", nextID)
				published = append(published, id)
				w.feed(pub, []byte("publish default_exchange default_key "+envelope(id)+"\n"))
				w.take(pub)
				checkFresh("publish")
			},
			"advance": func(rt *rapid.T) {
				w.advance(time.Duration(rapid.IntRange(0, 30).Draw(rt, "ms")) * time.Millisecond)
				checkFresh("advance")
			},
			"write": func(rt *rapid.T) {
				take(rapid.IntRange(1, 700).Draw(rt, "bytes"))
				checkFresh("write")
			},
			"ack": func(rt *rapid.T) {
				if inflight == "" {
					rt.Skip("nothing to ack")
				}
				w.feed(s, []byte("ack "+inflight+"\n"))
				inflight = ""
				checkFresh("ack")
			},
			"stale ack": func(rt *rapid.T) {
				// An id the client already had: a re-ack of a duplicate.
				if len(pushedList) == 0 {
					rt.Skip("nothing pushed yet")
				}
				id := rapid.SampledFrom(pushedList).Draw(rt, "id")
				if id == inflight || id == pushing {
					rt.Skip("not stale")
				}
				w.feed(s, []byte("ack "+id+"\n"))
				checkFresh("stale ack")
			},
			"": func(rt *rapid.T) { checkFresh("check") },
		})

		// Liveness: with a client that writes and acks promptly, every
		// message is pushed.
		for i := 0; i < 4*len(published)+10; i++ {
			take(1 << 20)
			if inflight != "" {
				w.feed(s, []byte("ack "+inflight+"\n"))
				inflight = ""
			}
			w.advance(gap)
			checkFresh("drain")
		}
		for _, id := range published {
			if !pushed[id] {
				rt.Fatalf("message %s was never pushed", id)
			}
		}
	})
}
