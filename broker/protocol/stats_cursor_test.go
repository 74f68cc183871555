package protocol_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/ciphermq/ciphermq/broker"
	"github.com/ciphermq/ciphermq/broker/access"
	"github.com/ciphermq/ciphermq/broker/protocol"
	"github.com/ciphermq/ciphermq/broker/wire"
)

// externalCursor is external with FeatureStatsCursor negotiated.
func externalCursor(t *testing.T, w *world, user, vhost string) *protocol.Native {
	t.Helper()
	_, s := w.nativeFrom(protocol.Peer{TLS: true, CertIdentity: user})
	in := wire.AppendPreamble(nil)
	in = wire.AppendHello(in, &wire.Hello{Version: wire.ProtocolVersion, ClientName: "test", Features: wire.FeatureAuth | wire.FeatureStatsCursor})
	w.send(s, wire.AppendAuth(in, &wire.Auth{Mechanism: "EXTERNAL", Vhost: vhost}))
	ok, isOK := only1(t, w.take(s)).(*wire.HelloOK)
	if !isOK || ok.Features&wire.FeatureStatsCursor == 0 {
		t.Fatalf("HelloOK %+v: stats cursors not granted", ok)
	}
	return s
}

// statsReq sends one Stats request and returns its raw JSON and decoded
// document.
func statsReq(t *testing.T, w *world, s *protocol.Native, f wire.Stats) (string, broker.Stats) {
	t.Helper()
	fs := request(t, w, s, wire.AppendStats(nil, &f))
	st, ok := fs[0].(*wire.StatsOK)
	if len(fs) != 1 || !ok {
		t.Fatalf("stats %+v answered %#v", f, fs)
	}
	var doc broker.Stats
	if err := json.Unmarshal(st.JSON, &doc); err != nil {
		t.Fatal(err)
	}
	return string(st.JSON), doc
}

// pageAll follows the cursors of one list from the first page until the
// list ends, checking each page's work; it returns the names listed, the
// pages and how many pages continued from a resume token.
func pageAll(t *testing.T, w *world, s *protocol.Native, list uint8, check func(raw string)) (listed []string, pages, tokens int) {
	t.Helper()
	req := wire.Stats{ReqID: 1}
	for {
		before, _ := w.core.WorkMeter()
		raw, st := statsReq(t, w, s, req)
		work, _ := w.core.WorkMeter()
		pages++
		// One list walk bounded by MaxStatsScan, the other (first page
		// only) by the default vhost's few exchanges, plus the summary.
		if work-before > protocol.MaxStatsScan+50 {
			t.Fatalf("page %d did %d units of work, want at most %d", pages, work-before, protocol.MaxStatsScan+50)
		}
		if check != nil {
			check(raw)
		}
		var next string
		var token uint64
		if list == wire.StatsQueues {
			if len(st.Queues) > protocol.MaxStatsEntries {
				t.Fatalf("page %d lists %d queues", pages, len(st.Queues))
			}
			for _, q := range st.Queues {
				listed = append(listed, q.Name)
			}
			next, token = st.NextQueue, st.NextQueueToken
		} else {
			for _, x := range st.Exchanges {
				listed = append(listed, x.Name)
			}
			next, token = st.NextExchange, st.NextExchangeToken
		}
		if st.Truncated != (next != "" || token != 0 || (req.List == 0 && (st.NextQueue != "" || st.NextQueueToken != 0 || st.NextExchange != "" || st.NextExchangeToken != 0))) {
			t.Fatalf("page %d: truncated %v with cursors %q/%d", pages, st.Truncated, next, token)
		}
		if next != "" && token != 0 {
			t.Fatalf("page %d has both a name and a token cursor", pages)
		}
		switch {
		case token != 0:
			tokens++
			req = wire.Stats{ReqID: 1, List: list, Resume: token}
		case next != "":
			req = wire.Stats{ReqID: 1, List: list, After: next}
		default:
			return listed, pages, tokens
		}
		if pages > 1000 {
			t.Fatal("paging does not end")
		}
	}
}

// TestStatsPagingThroughHiddenQueues: 10,000 queues with hidden ones
// interleaved, behind 12,000 hidden ones and beside another vhost's: a
// restricted user pages through exactly its visible queues, each page
// within MaxStatsScan names, continuing past a page of only hidden names
// with a resume token and never shown a hidden name; an administrator
// pages through all of them, 1,000 a page.
func TestStatsPagingThroughHiddenQueues(t *testing.T) {
	w := newWorld(t, broker.Config{MaxQueues: 40_000})
	withUsers(t, w,
		authUser{name: "u", perms: map[string]access.Permissions{"/": {Read: ".*-v"}}},
		authUser{name: "admin", tags: []string{access.TagAdministrator}, perms: map[string]access.Permissions{"/": all}},
	)
	declare := func(name string) {
		if err := w.core.DeclareQueue(name, broker.QueueOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	var visible []string
	for i := range 12_000 {
		declare(fmt.Sprintf("a-%05d-h", i))
		declare(broker.Qualify("other", fmt.Sprintf("m-%05d-v", i)))
	}
	for i := range 10_000 {
		suffix := "h"
		if i%3 == 0 {
			suffix = "v"
		}
		n := fmt.Sprintf("m-%05d-%s", i, suffix)
		declare(n)
		if suffix == "v" {
			visible = append(visible, n)
		}
	}
	// The core's own default-vhost queues (e.g. the default queue) too.
	all := defaultVhostQueues(w)

	u := externalCursor(t, w, "u", "/")
	got, pages, tokens := pageAll(t, w, u, wire.StatsQueues, func(raw string) {
		if strings.Contains(raw, "-h\"") || strings.Contains(raw, "other") {
			t.Fatalf("a page shows a hidden or foreign name: %.200s", raw)
		}
	})
	if !slices.Equal(got, visible) {
		t.Fatalf("restricted user paged %d queues (first %v), want its %d visible ones", len(got), got[:min(3, len(got))], len(visible))
	}
	// 12,000 hidden names first: one page of nothing, cut by the scan
	// bound, continues from a token.
	if tokens == 0 {
		t.Fatalf("%d pages, none continued from a resume token", pages)
	}

	admin := externalCursor(t, w, "admin", "/")
	got, pages, tokens = pageAll(t, w, admin, wire.StatsQueues, nil)
	if !slices.Equal(got, all) {
		t.Fatalf("administrator paged %d queues, want %d", len(got), len(all))
	}
	if want := (len(all) + protocol.MaxStatsEntries - 1) / protocol.MaxStatsEntries; pages != want || tokens != 0 {
		t.Fatalf("administrator: %d pages (%d from tokens), want %d full pages", pages, tokens, want)
	}
	xs, _, _ := pageAll(t, w, admin, wire.StatsExchanges, nil)
	if len(xs) == 0 || !slices.IsSorted(xs) {
		t.Fatalf("exchanges paged: %v", xs)
	}
}

// TestStatsCursorDoesNotConfirmNames: a page after a hidden queue's name
// is byte-identical whether that queue exists or not, and a tenant's
// cursor never reaches another vhost.
func TestStatsCursorDoesNotConfirmNames(t *testing.T) {
	w := newWorld(t, broker.Config{})
	withUsers(t, w,
		authUser{name: "u", perms: map[string]access.Permissions{"/": {Read: "c.*"}}},
		authUser{name: "t", perms: map[string]access.Permissions{"tenant": all}},
	)
	for _, n := range []string{"b1", "c1", "c2", broker.Qualify("tenant", "a"), broker.Qualify("tenant2", "z")} {
		if err := w.core.DeclareQueue(n, broker.QueueOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	u := externalCursor(t, w, "u", "/")
	withHidden, st := statsReq(t, w, u, wire.Stats{ReqID: 1, List: wire.StatsQueues, After: "b1"})
	if q, x := names(st); !slices.Equal(q, []string{"c1", "c2"}) || len(x) != 0 || st.Truncated {
		t.Fatalf("after b1: queues %v exchanges %v truncated %v", q, x, st.Truncated)
	}
	if _, err := w.core.DeleteQueue("b1", w.now); err != nil {
		t.Fatal(err)
	}
	w.settle()
	without, _ := statsReq(t, w, u, wire.Stats{ReqID: 1, List: wire.StatsQueues, After: "b1"})
	if withHidden != without {
		t.Fatalf("the page after a hidden name tells whether it exists:\n%s\n%s", withHidden, without)
	}
	_, st = statsReq(t, w, u, wire.Stats{ReqID: 1, List: wire.StatsQueues, After: "c1"})
	if q, _ := names(st); !slices.Equal(q, []string{"c2"}) {
		t.Fatalf("after c1: %v", q)
	}
	tenant := externalCursor(t, w, "t", "tenant")
	for _, after := range []string{"a", "\x7f", "z"} {
		_, st = statsReq(t, w, tenant, wire.Stats{ReqID: 1, List: wire.StatsQueues, After: after})
		if len(st.Queues) != 0 {
			t.Fatalf("tenant after %q lists %v", after, st.Queues)
		}
	}
}

// TestStatsResumeTokens: a token works for its list on its connection,
// for the last StatsResumeTokens tokens; anything else is answered with
// an Error 101 that names nothing, and the connection stays open. A
// cursor without the negotiated feature is a protocol error.
func TestStatsResumeTokens(t *testing.T) {
	w := newWorld(t, broker.Config{MaxQueues: 2 * protocol.MaxStatsScan})
	withUsers(t, w, authUser{name: "u", perms: map[string]access.Permissions{"/": {Read: "z-.*"}}})
	for i := range protocol.MaxStatsScan + 1 {
		if err := w.core.DeclareQueue(fmt.Sprintf("a-%05d", i), broker.QueueOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.core.DeclareQueue("z-1", broker.QueueOptions{}); err != nil {
		t.Fatal(err)
	}
	s := externalCursor(t, w, "u", "/")
	_, st := statsReq(t, w, s, wire.Stats{ReqID: 1})
	if len(st.Queues) != 0 || st.NextQueue != "" || st.NextQueueToken == 0 || !st.Truncated {
		t.Fatalf("first page: %+v", st)
	}
	first := st.NextQueueToken
	_, st = statsReq(t, w, s, wire.Stats{ReqID: 2, List: wire.StatsQueues, Resume: first})
	if q, _ := names(st); !slices.Equal(q, []string{"z-1"}) || st.Truncated {
		t.Fatalf("resumed: %v truncated %v", q, st.Truncated)
	}
	wantRefused := func(f wire.Stats) {
		t.Helper()
		fs := request(t, w, s, wire.AppendStats(nil, &f))
		e, ok := fs[0].(*wire.Error)
		if len(fs) != 1 || !ok || e.ReqID != f.ReqID || e.Code != uint16(broker.CodeInvalidArgument) || !strings.Contains(e.Message, "resume token") || strings.Contains(e.Message, "a-") {
			t.Fatalf("%+v answered %#v", f, fs)
		}
	}
	wantRefused(wire.Stats{ReqID: 3, List: wire.StatsExchanges, Resume: first})
	wantRefused(wire.Stats{ReqID: 4, List: wire.StatsQueues, Resume: first + 1})
	other := externalCursor(t, w, "u", "/")
	if fs := request(t, w, other, wire.AppendStats(nil, &wire.Stats{ReqID: 5, List: wire.StatsQueues, Resume: first})); len(fs) != 1 {
		t.Fatalf("%#v", fs)
	} else if _, ok := fs[0].(*wire.Error); !ok {
		t.Fatalf("another connection used the token: %#v", fs)
	}
	for range protocol.StatsResumeTokens {
		statsReq(t, w, s, wire.Stats{ReqID: 6})
	}
	wantRefused(wire.Stats{ReqID: 7, List: wire.StatsQueues, Resume: first})

	plainConn := external(t, w, "u", "/")
	w.send(plainConn, wire.AppendStats(nil, &wire.Stats{ReqID: 8, List: wire.StatsQueues, After: "a"}))
	if closed, why := plainConn.Closed(); !closed || !strings.Contains(why, "stats cursors") {
		t.Fatalf("a cursor without the feature: closed %v (%s)", closed, why)
	}
}

// TestTextStatsCursor: the text stats command takes the same cursor.
func TestTextStatsCursor(t *testing.T) {
	w := newWorld(t, broker.Config{MaxQueues: 3 * protocol.MaxStatsEntries})
	for i := range 2*protocol.MaxStatsEntries + 5 {
		if err := w.core.DeclareQueue(fmt.Sprintf("q%05d", i), broker.QueueOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	_, s := w.text()
	ask := func(line string) (string, broker.Stats) {
		t.Helper()
		w.feed(s, []byte(line+"\n"))
		got := lines(t, w.take(s))
		if len(got) != 1 {
			t.Fatalf("%q answered %q", line, got)
		}
		var st broker.Stats
		if doc, ok := strings.CutPrefix(got[0], "Stats: "); ok {
			if err := json.Unmarshal([]byte(doc), &st); err != nil {
				t.Fatal(err)
			}
		}
		return got[0], st
	}
	var listed []string
	_, st := ask("stats")
	for {
		for _, q := range st.Queues {
			listed = append(listed, q.Name)
		}
		if st.NextQueue == "" {
			break
		}
		_, st = ask("stats queues after " + st.NextQueue)
		if len(st.Exchanges) != 0 {
			t.Fatalf("a queues page lists exchanges: %v", st.Exchanges)
		}
	}
	if want := defaultVhostQueues(w); !slices.Equal(listed, want) {
		t.Fatalf("text paging listed %d queues, want %d", len(listed), len(want))
	}
	for line, want := range map[string]string{
		"stats queues":            "Error: use \"stats\"",
		"stats bindings after q":  "Error: unknown stats list \"bindings\"",
		"stats queues resume 0":   "Error: stats resume token \"0\" is not a token",
		"stats queues resume 991": "Error: stats resume token 991 is not valid here",
	} {
		if reply, _ := ask(line); !strings.HasPrefix(reply, want) {
			t.Errorf("%q answered %q, want %q...", line, reply, want)
		}
	}
}

// defaultVhostQueues lists the default vhost's queues from the core.
func defaultVhostQueues(w *world) []string {
	var out []string
	for _, q := range w.core.Stats().Queues {
		if !strings.Contains(q.Name, broker.VhostSeparator) {
			out = append(out, q.Name)
		}
	}
	return out
}

// TestTextStatsResumeToken: a text user whose permissions hide more than
// MaxStatsScan names gets a token, never a hidden name, and continues
// from it with "stats queues resume <token>".
func TestTextStatsResumeToken(t *testing.T) {
	w := newWorld(t, broker.Config{MaxQueues: 2 * protocol.MaxStatsScan})
	withUsers(t, w, authUser{name: "u", perms: map[string]access.Permissions{"/": {Read: "z-.*"}}})
	w.cfg.TextUser = "u"
	for i := range protocol.MaxStatsScan + 1 {
		if err := w.core.DeclareQueue(fmt.Sprintf("a-%05d", i), broker.QueueOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.core.DeclareQueue("z-1", broker.QueueOptions{}); err != nil {
		t.Fatal(err)
	}
	_, s := w.text()
	ask := func(line string) (string, broker.Stats) {
		t.Helper()
		w.feed(s, []byte(line+"\n"))
		got := lines(t, w.take(s))
		doc, ok := strings.CutPrefix(got[0], "Stats: ")
		if len(got) != 1 || !ok {
			t.Fatalf("%q answered %q", line, got)
		}
		var st broker.Stats
		if err := json.Unmarshal([]byte(doc), &st); err != nil {
			t.Fatal(err)
		}
		return doc, st
	}
	raw, st := ask("stats")
	if len(st.Queues) != 0 || st.NextQueue != "" || st.NextQueueToken == 0 || strings.Contains(raw, "a-") {
		t.Fatalf("first page: %s", raw)
	}
	_, st = ask(fmt.Sprintf("stats queues resume %d", st.NextQueueToken))
	if q, _ := names(st); !slices.Equal(q, []string{"z-1"}) || st.Truncated {
		t.Fatalf("resumed: %v truncated %v", q, st.Truncated)
	}
}
