package broker

import (
	"flag"
	"fmt"
	"reflect"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"pgregory.net/rapid"
)

// modelConfig is small on purpose: tiny limits make refusals, dedup
// eviction and dead-lettering frequent in short random runs.
func modelConfig() Config {
	return Config{
		NoDefaults:     true,
		MaxMessageSize: 8,
		DedupWindow:    time.Minute,
		DedupMaxIDs:    4,
	}
}

var (
	modelExchanges = []string{"d", "f", "t", "nope"}
	modelQueues    = []string{"q1", "q2", "q3", "dlq", "nope"}
	modelKeys      = []string{"", "a", "b", "a.b", "a.b.c", "*", "#", "a.*", "#.b", "a.#"}
	modelConns     = []ConnID{1, 2, 3}
)

// coreVsModel drives the core and the model with the same commands and
// compares every observable result.
type coreVsModel struct {
	core  *Core
	model *model
	now   time.Time
	seq   uint64
	// prefixes: one shared Prefix per leading string, as a publisher
	// reuses one handle per sealing session. The model knows nothing of
	// prefixes: it sees whole bodies.
	prefixes map[string]*Prefix
}

func newCoreVsModel(cfg Config) *coreVsModel {
	return &coreVsModel{core: New(cfg), model: newModel(cfg, t0), now: t0, prefixes: map[string]*Prefix{}}
}

func codeOf(err error) Code {
	if err == nil {
		return CodeOK
	}
	if e, ok := err.(*Error); ok {
		return e.Code
	}
	return CodeInternal
}

func sameCode(t *rapid.T, what string, got, want error) {
	t.Helper()
	if codeOf(got) != codeOf(want) {
		t.Fatalf("%s: core returned %v, model expects code %d", what, got, codeOf(want))
	}
}

func effectString(e Effect) string {
	d := e.Delivery
	code := CodeOK
	if e.Err != nil {
		code = e.Err.Code
	}
	return fmt.Sprintf("%s conn=%d seq=%d dup=%v code=%d | ctag=%q tag=%d q=%s x=%s k=%q id=%s body=%q re=%v n=%d",
		e.Kind, e.Conn, e.Seq, e.Duplicate, code, d.ConsumerTag, d.Tag, d.Queue, d.Exchange, d.RoutingKey, d.MessageID, d.AppendBody(nil), d.Redelivered, d.DeliveryCount)
}

func effectStrings(effs []Effect) []string {
	out := make([]string, len(effs))
	for i, e := range effs {
		out[i] = effectString(e)
	}
	return out
}

func (s *coreVsModel) actions() map[string]func(*rapid.T) {
	conn := rapid.SampledFrom(modelConns)
	queue := rapid.SampledFrom(modelQueues)
	exchange := rapid.SampledFrom(modelExchanges)
	key := rapid.SampledFrom(modelKeys)
	return map[string]func(*rapid.T){
		"declareExchange": func(t *rapid.T) {
			name := rapid.SampledFrom(modelExchanges[:3]).Draw(t, "exchange")
			typ := rapid.SampledFrom([]ExchangeType{Direct, Fanout, Topic}).Draw(t, "type")
			sameCode(t, "declare exchange", s.core.DeclareExchange(name, typ), s.model.declareExchange(name, typ))
		},
		"deleteExchange": func(t *rapid.T) {
			ex := exchange.Draw(t, "exchange")
			sameCode(t, "delete exchange", s.core.DeleteExchange(ex), s.model.deleteExchange(ex))
		},
		"declareQueue": func(t *rapid.T) {
			name := rapid.SampledFrom(modelQueues[:4]).Draw(t, "queue")
			opts := QueueOptions{
				MaxLength:       rapid.SampledFrom([]int{0, 2, 4}).Draw(t, "maxLength"),
				MaxBytes:        rapid.SampledFrom([]int64{0, 12}).Draw(t, "maxBytes"),
				AckTimeout:      rapid.SampledFrom([]time.Duration{0, 3 * time.Second}).Draw(t, "ackTimeout"),
				DeliveryLimit:   rapid.SampledFrom([]int{0, 2}).Draw(t, "deliveryLimit"),
				DeadLetterQueue: rapid.SampledFrom([]string{"", "dlq"}).Draw(t, "dlq"),
			}
			sameCode(t, "declare queue", s.core.DeclareQueue(name, opts), s.model.declareQueue(name, opts))
		},
		"bind": func(t *rapid.T) {
			ex, q, k := exchange.Draw(t, "exchange"), queue.Draw(t, "queue"), key.Draw(t, "key")
			sameCode(t, "bind", s.core.Bind(ex, q, k), s.model.bind(ex, q, k))
		},
		"unbind": func(t *rapid.T) {
			ex, q, k := exchange.Draw(t, "exchange"), queue.Draw(t, "queue"), key.Draw(t, "key")
			sameCode(t, "unbind", s.core.Unbind(ex, q, k), s.model.unbind(ex, q, k))
		},
		"deleteQueue": func(t *rapid.T) {
			q := queue.Draw(t, "queue")
			n, err := s.core.DeleteQueue(q, s.now)
			wantN, wantErr := s.model.deleteQueue(q, s.now)
			sameCode(t, "delete queue", err, wantErr)
			if n != wantN {
				t.Fatalf("delete queue %s discarded %d, model %d", q, n, wantN)
			}
		},
		"reconnect": func(t *rapid.T) {
			// A client drops its connection and comes back with the same ID
			// (the driver may reuse an ID once it is closed).
			c := conn.Draw(t, "conn")
			s.core.Close(c, s.now)
			s.model.close(c, s.now)
			s.core.Open(c, s.now)
			s.model.open(c, s.now)
		},
		"publish": func(t *rapid.T) {
			c := conn.Draw(t, "conn")
			ex := rapid.SampledFrom([]string{"d", "d", "f", "f", "t", "t", "nope"}).Draw(t, "exchange")
			k := rapid.SampledFrom([]string{"", "a", "b", "a.b", "a.b.c", "x"}).Draw(t, "key")
			id := fmt.Sprint("m", rapid.IntRange(0, 9).Draw(t, "id"))
			body := strings.Repeat("b", rapid.IntRange(0, 9).Draw(t, "bodyLen"))
			// Part of the body may travel as a shared prefix: the core must
			// behave exactly as for the whole body.
			cut := rapid.IntRange(0, len(body)).Draw(t, "prefixLen")
			var pre *Prefix
			if cut > 0 {
				if pre = s.prefixes[body[:cut]]; pre == nil {
					pre = NewPrefix([]byte(body[:cut]))
					s.prefixes[body[:cut]] = pre
				}
			}
			s.seq++
			s.core.Publish(c, &Publish{Seq: s.seq, Exchange: []byte(ex), RoutingKey: []byte(k), MessageID: []byte(id), Prefix: pre, Body: []byte(body[cut:])}, s.now)
			s.model.publish(c, s.seq, ex, k, id, body, s.now)
		},
		"consume": func(t *rapid.T) {
			c, q := conn.Draw(t, "conn"), queue.Draw(t, "queue")
			prefetch := rapid.IntRange(1, 3).Draw(t, "prefetch")
			timeout := rapid.SampledFrom([]time.Duration{0, 2 * time.Second}).Draw(t, "ackTimeout")
			tag, err := s.core.Consume(c, ConsumeOptions{Queue: q, Prefetch: prefetch, AckTimeout: timeout}, s.now)
			wantTag, wantErr := s.model.consume(c, q, prefetch, timeout, s.now)
			sameCode(t, "consume", err, wantErr)
			if tag != wantTag {
				t.Fatalf("consumer tag %q, model %q", tag, wantTag)
			}
		},
		"cancel": func(t *rapid.T) {
			c := conn.Draw(t, "conn")
			tag := fmt.Sprint("ctag-", rapid.IntRange(1, 4).Draw(t, "ctag"))
			sameCode(t, "cancel", s.core.Cancel(c, tag, s.now), s.model.cancel(c, tag, s.now))
		},
		"fetch": func(t *rapid.T) {
			c, q := conn.Draw(t, "conn"), queue.Draw(t, "queue")
			d, ok, err := s.core.Fetch(c, q, s.now)
			wd, wok, werr := s.model.fetch(c, q, s.now)
			sameCode(t, "fetch", err, werr)
			got, want := effectString(Effect{Kind: EffectDeliver, Delivery: d}), effectString(Effect{Kind: EffectDeliver, Delivery: wd})
			if ok != wok || got != want {
				t.Fatalf("fetch %s:\n core  %v %s\n model %v %s", q, ok, got, wok, want)
			}
		},
		"ack": func(t *rapid.T) {
			c, tag, multiple := s.drawTag(t)
			sameCode(t, "ack", s.core.Ack(c, tag, multiple, s.now), s.model.ack(c, tag, multiple, s.now))
		},
		"nack": func(t *rapid.T) {
			c, tag, multiple := s.drawTag(t)
			requeue := rapid.Bool().Draw(t, "requeue")
			sameCode(t, "nack", s.core.Nack(c, tag, multiple, requeue, s.now), s.model.nack(c, tag, multiple, requeue, s.now))
		},
		"reject": func(t *rapid.T) {
			c, tag, _ := s.drawTag(t)
			sameCode(t, "reject", s.core.Reject(c, tag, s.now), s.model.nack(c, tag, false, false, s.now))
		},
		"tick": func(t *rapid.T) {
			d := rapid.SampledFrom([]time.Duration{0, time.Second, 2 * time.Second, 3 * time.Second, 30 * time.Second, 61 * time.Second}).Draw(t, "advance")
			s.now = s.now.Add(d)
			s.core.Tick(s.now)
			s.model.tick(s.now)
		},
		"": s.check,
	}
}

// weightedActions groups the topology commands into one action, so that
// declarations and deletions (which mostly refuse or tear the topology
// down) are drawn rarely and traffic often.
func (s *coreVsModel) weightedActions() map[string]func(*rapid.T) {
	all := s.actions()
	topology := []string{"declareExchange", "deleteExchange", "declareQueue", "deleteQueue", "bind", "unbind"}
	acts := map[string]func(*rapid.T){
		"topology": func(t *rapid.T) {
			all[rapid.SampledFrom(topology).Draw(t, "topology")](t)
		},
	}
	for name, f := range all {
		if !slices.Contains(topology, name) {
			acts[name] = f
		}
	}
	for _, name := range []string{"publish", "consume", "ack", "nack", "fetch", "tick"} {
		acts[name+"#2"] = all[name]
	}
	acts["publish#3"] = all["publish"]
	return acts
}

// drawTag picks a connection and a tag around the ones it was issued, so
// stale, settled and never-issued tags all occur.
func (s *coreVsModel) drawTag(t *rapid.T) (ConnID, uint64, bool) {
	c := rapid.SampledFrom(modelConns).Draw(t, "conn")
	var last uint64
	var live []uint64
	if cn := s.model.conns[c]; cn != nil {
		last = cn.lastTag
		for _, o := range cn.out {
			live = append(live, o.tag)
		}
	}
	var tag uint64
	if len(live) > 0 && rapid.IntRange(0, 3).Draw(t, "pickLive") > 0 {
		tag = rapid.SampledFrom(live).Draw(t, "liveTag")
	} else {
		tag = rapid.Uint64Range(0, last+1).Draw(t, "tag")
	}
	return c, tag, rapid.Bool().Draw(t, "multiple")
}

func (s *coreVsModel) check(t *rapid.T) {
	if err := s.core.CheckInvariants(); err != nil {
		t.Fatalf("core invariant: %v", err)
	}
	got, want := effectStrings(s.core.Drain()), effectStrings(s.model.drain())
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("effects differ:\n core  %q\n model %q", got, want)
	}
	if got, want := s.core.Stats(), s.model.stats(); !reflect.DeepEqual(got, want) {
		t.Fatalf("stats differ:\n core  %+v\n model %+v", got, want)
	}
	if got, want := s.core.Held(), s.model.held(); !reflect.DeepEqual(got, want) {
		t.Fatalf("held messages differ:\n core  %+v\n model %+v", got, want)
	}
	at, ok := s.core.NextDeadline()
	wat, wok := s.model.nextDeadline()
	if ok != wok || !at.Equal(wat) {
		t.Fatalf("next deadline: core %v %v, model %v %v", at, ok, wat, wok)
	}
}

// setup declares a drawn starting topology through the same commands, so
// short runs spend their steps on traffic rather than on declarations.
func (s *coreVsModel) setup(t *rapid.T) {
	acts := s.actions()
	for _, ex := range []struct {
		name string
		typ  ExchangeType
	}{{"d", Direct}, {"f", Fanout}, {"t", Topic}} {
		sameCode(t, "setup exchange", s.core.DeclareExchange(ex.name, ex.typ), s.model.declareExchange(ex.name, ex.typ))
	}
	dlqOpts := QueueOptions{MaxLength: rapid.SampledFrom([]int{0, 3}).Draw(t, "dlqMaxLength")}
	sameCode(t, "setup dlq", s.core.DeclareQueue("dlq", dlqOpts), s.model.declareQueue("dlq", dlqOpts))
	// q1 always dead-letters into dlq and is always reachable through the
	// fanout exchange; the rest of the topology is drawn.
	q1 := QueueOptions{
		MaxLength:       rapid.SampledFrom([]int{0, 4}).Draw(t, "q1MaxLength"),
		DeliveryLimit:   rapid.SampledFrom([]int{0, 2}).Draw(t, "q1DeliveryLimit"),
		AckTimeout:      rapid.SampledFrom([]time.Duration{0, 3 * time.Second}).Draw(t, "q1AckTimeout"),
		DeadLetterQueue: "dlq",
	}
	sameCode(t, "setup q1", s.core.DeclareQueue("q1", q1), s.model.declareQueue("q1", q1))
	sameCode(t, "setup bind q1", s.core.Bind("f", "q1", ""), s.model.bind("f", "q1", ""))
	for i := 0; i < 2; i++ {
		acts["declareQueue"](t)
	}
	for i := rapid.IntRange(3, 8).Draw(t, "setupBinds"); i > 0; i-- {
		acts["bind"](t)
	}
	for _, c := range modelConns {
		s.core.Open(c, s.now)
		s.model.open(c, s.now)
	}
	s.check(t)
}

// modelStats accumulates, across all runs of a property, how often the
// interesting paths were reached: a passing property that never reached
// them would prove nothing.
type modelStats struct {
	mu sync.Mutex
	reached
}

type reached struct {
	Confirms, Duplicates, Refusals, Deliveries, Redeliveries, DeadLettered int
}

func (ms *modelStats) add(core *Core) {
	s := core.Stats()
	ms.mu.Lock()
	defer ms.mu.Unlock()
	ms.Duplicates += int(s.Duplicates)
	ms.Refusals += int(s.Refused)
	for _, q := range s.Queues {
		ms.Confirms += int(q.Published)
		ms.Deliveries += int(q.Delivered)
		ms.Redeliveries += int(q.Redelivered)
		ms.DeadLettered += int(q.DeadLettered)
	}
}

// coreMatchesModel is the property: any command sequence leaves the core
// and the model in agreement.
func coreMatchesModel(cfg Config, stats *modelStats) func(*rapid.T) {
	return func(t *rapid.T) {
		cfg := cfg
		cfg.DefaultAckTimeout = rapid.SampledFrom([]time.Duration{0, 5 * time.Second}).Draw(t, "defaultAckTimeout")
		s := newCoreVsModel(cfg)
		s.setup(t)
		t.Repeat(s.weightedActions())
		if stats != nil {
			stats.add(s.core)
		}
	}
}

func TestCoreMatchesModel(t *testing.T) {
	// Longer runs than rapid's default 30 steps reach deeper states
	// (redelivery after dead-lettering, dedup eviction), unless the caller
	// chose -rapid.steps.
	if !flagSet("rapid.steps") {
		defer setFlags(t, map[string]string{"rapid.steps": "100"})()
	}
	var stats modelStats
	rapid.Check(t, coreMatchesModel(modelConfig(), &stats))
	r := stats.reached
	t.Logf("reached: %+v", r)
	if checks, _ := strconv.Atoi(flag.Lookup("rapid.checks").Value.String()); checks < 100 {
		return // too few runs chosen on the command line to expect coverage
	}
	if r.Confirms == 0 || r.Deliveries == 0 || r.Refusals == 0 {
		t.Fatalf("the random runs never reached basic paths: %+v", r)
	}
	// Rarer paths: 100 full runs reach each of them dozens of times (28 to
	// 166 in trials); -short runs 5x fewer and shorter ones, too few to
	// insist.
	if !testing.Short() && (r.Duplicates == 0 || r.Redeliveries == 0 || r.DeadLettered == 0) {
		t.Fatalf("the random runs never reached some paths: %+v", r)
	}
}

// TestModelCheckCatchesMutations proves the property can fail: with each
// test-only mutation on, the core breaks a guarantee the model keeps, and
// rapid must report it.
func TestModelCheckCatchesMutations(t *testing.T) {
	if testing.Short() {
		t.Skip("runs rapid to a failure and shrinks it three times; skipped in -short mode to keep it quick")
	}
	// Failures here are expected: do not write fail files for them, bound
	// the time spent shrinking, and allow many runs before giving up (rapid
	// stops at the first failure; in trials the slowest mutation took 40).
	restore := setFlags(t, map[string]string{"rapid.nofailfile": "true", "rapid.shrinktime": "2s", "rapid.checks": "2000"})
	defer restore()
	for _, tc := range []struct {
		name string
		mut  Mutations
	}{
		{"NoDedup", Mutations{NoDedup: true}},
		{"NoRequeueOnClose", Mutations{NoRequeueOnClose: true}},
		{"ConfirmBeforeEnqueue", Mutations{ConfirmBeforeEnqueue: true}},
	} {
		name, mut := tc.name, tc.mut
		t.Run(name, func(t *testing.T) {
			cfg := modelConfig()
			cfg.Mutations = mut
			rec := &recorder{name: t.Name()}
			rec.run(func() { rapid.Check(rec, coreMatchesModel(cfg, nil)) })
			if !rec.Failed() {
				t.Fatalf("the model check did not notice mutation %s", name)
			}
			t.Logf("detected as expected: %s", firstLine(rec.errors))
		})
	}
}

func firstLine(msgs []string) string {
	if len(msgs) == 0 {
		return ""
	}
	line, _, _ := strings.Cut(msgs[0], "\n")
	return line
}

// flagSet reports whether the flag was given on the command line.
func flagSet(name string) bool {
	set := false
	flag.Visit(func(f *flag.Flag) {
		if f.Name == name {
			set = true
		}
	})
	return set
}

func setFlags(t *testing.T, values map[string]string) func() {
	t.Helper()
	old := map[string]string{}
	for name, v := range values {
		f := flag.Lookup(name)
		if f == nil {
			t.Fatalf("flag %s not registered", name)
		}
		old[name] = f.Value.String()
		if err := f.Value.Set(v); err != nil {
			t.Fatal(err)
		}
	}
	return func() {
		for name, v := range old {
			_ = flag.Lookup(name).Value.Set(v)
		}
	}
}

// recorder is a rapid.TB that records failures instead of failing the
// surrounding test, so a test can assert that a property fails.
type recorder struct {
	name   string
	mu     sync.Mutex
	failed bool
	errors []string
}

func (r *recorder) run(f func()) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	<-done
}

func (r *recorder) Helper()                   {}
func (r *recorder) Name() string              { return r.name }
func (r *recorder) Logf(string, ...any)       {}
func (r *recorder) Log(...any)                {}
func (r *recorder) Skipf(f string, a ...any)  { r.SkipNow() }
func (r *recorder) Skip(...any)               { r.SkipNow() }
func (r *recorder) SkipNow()                  { runtime.Goexit() }
func (r *recorder) Errorf(f string, a ...any) { r.record(fmt.Sprintf(f, a...)) }
func (r *recorder) Error(a ...any)            { r.record(fmt.Sprint(a...)) }
func (r *recorder) Fatalf(f string, a ...any) { r.record(fmt.Sprintf(f, a...)); r.FailNow() }
func (r *recorder) Fatal(a ...any)            { r.record(fmt.Sprint(a...)); r.FailNow() }
func (r *recorder) FailNow()                  { r.Fail(); runtime.Goexit() }
func (r *recorder) Fail()                     { r.mu.Lock(); r.failed = true; r.mu.Unlock() }
func (r *recorder) Failed() bool              { r.mu.Lock(); defer r.mu.Unlock(); return r.failed }

func (r *recorder) record(msg string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.failed = true
	r.errors = append(r.errors, msg)
}

// FuzzCoreMatchesModel lets `go test -fuzz` drive the same property with
// coverage guidance: go test -fuzz=FuzzCoreMatchesModel ./broker
func FuzzCoreMatchesModel(f *testing.F) {
	f.Fuzz(rapid.MakeFuzz(coreMatchesModel(modelConfig(), nil)))
}
