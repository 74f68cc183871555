package mgmtclient

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/ciphermq/ciphermq/broker/mgmt"
)

func TestNextHeaderIsTheAPIs(t *testing.T) {
	if NextHeader != mgmt.NextHeader {
		t.Fatalf("NextHeader %q, the API pages with %q", NextHeader, mgmt.NextHeader)
	}
}

func TestDoSendsAuthBodyAndHeaders(t *testing.T) {
	var got struct {
		method, path, user, pass, ctype, reason string
		body                                    map[string]int
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got.method, got.path, got.ctype, got.reason = r.Method, r.URL.Path, r.Header.Get("Content-Type"), r.Header.Get("X-Reason")
		got.user, got.pass, _ = r.BasicAuth()
		_ = json.NewDecoder(r.Body).Decode(&got.body)
		w.Header().Set("X-Answer", "yes")
		fmt.Fprint(w, `{"moved":3}`)
	}))
	defer srv.Close()
	c := &Client{BaseURL: srv.URL + "/", User: "admin", Password: "pw"}
	var out struct{ Moved int }
	h, err := c.Do(context.Background(), "POST", "/api/x", map[string]int{"limit": 5}, &out, http.Header{"X-Reason": {"maintenance"}})
	if err != nil {
		t.Fatal(err)
	}
	if got.method != "POST" || got.path != "/api/x" || got.user != "admin" || got.pass != "pw" || got.ctype != "application/json" ||
		got.reason != "maintenance" || got.body["limit"] != 5 {
		t.Fatalf("request = %+v", got)
	}
	if out.Moved != 3 || h.Get("X-Answer") != "yes" {
		t.Fatalf("answer %+v, headers %v", out, h)
	}
	// No user: no basic auth; no body: no content type.
	c = &Client{BaseURL: srv.URL}
	if _, err := c.Do(context.Background(), "GET", "/api/y", nil, nil, nil); err != nil {
		t.Fatal(err)
	}
	if got.user != "" || got.ctype != "" {
		t.Fatalf("anonymous GET sent user %q, content type %q", got.user, got.ctype)
	}
}

func TestDoErrors(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/reason":
			w.WriteHeader(http.StatusForbidden)
			fmt.Fprint(w, `{"error":"not_authorised","reason":"administrator tag required"}`)
		case "/bare":
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprint(w, "<html>no</html>")
		case "/badjson":
			fmt.Fprint(w, "{not json")
		case "/slow":
			<-r.Context().Done()
		}
	}))
	defer srv.Close()
	c := &Client{BaseURL: srv.URL, Timeout: 200 * time.Millisecond}
	var out map[string]any
	for path, want := range map[string]string{
		"/reason":  "DELETE /reason: administrator tag required (not_authorised, HTTP 403)",
		"/bare":    "DELETE /bare: HTTP 404",
		"/badjson": "DELETE /badjson: bad JSON answer: ",
		"/slow":    "management API at " + srv.URL + ": ",
	} {
		_, err := c.Do(context.Background(), "DELETE", path, nil, &out, nil)
		if err == nil || !strings.HasPrefix(err.Error(), want) {
			t.Errorf("%s: err = %v, want one starting %q", path, err, want)
		}
	}
	// Nothing listens: the error says what to check and how to point ctl elsewhere.
	srv.Close()
	_, err := c.Do(context.Background(), "GET", "/api/overview", nil, nil, nil)
	if err == nil || !strings.Contains(err.Error(), "is the broker running") || !strings.Contains(err.Error(), "$"+URLEnv) {
		t.Fatalf("unreachable: %v", err)
	}
	if _, err := (&Client{BaseURL: "::bad"}).Do(context.Background(), "GET", "/x", nil, nil, nil); err == nil || !strings.HasPrefix(err.Error(), `--url "::bad": `) {
		t.Fatalf("bad URL: %v", err)
	}
}

func TestListFollowsEveryPage(t *testing.T) {
	var seen []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen = append(seen, r.URL.RequestURI())
		switch r.URL.Query().Get("after") {
		case "":
			w.Header().Set(NextHeader, "b c")
			fmt.Fprint(w, `[{"name":"a"},{"name":"b c"}]`)
		case "b c":
			fmt.Fprint(w, `[{"name":"d"}]`)
		}
	}))
	defer srv.Close()
	c := &Client{BaseURL: srv.URL}
	all, err := c.List(context.Background(), "queues", "/")
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 3 || all[2]["name"] != "d" {
		t.Fatalf("listing = %v", all)
	}
	if want := []string{"/api/queues/%2F", "/api/queues/%2F?after=b+c"}; strings.Join(seen, " ") != strings.Join(want, " ") {
		t.Fatalf("requests %v, want %v", seen, want)
	}
}

func TestListOfNothingIsEmptyNotNil(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, `[]`) }))
	defer srv.Close()
	all, err := (&Client{BaseURL: srv.URL}).List(context.Background(), "connections", "")
	if err != nil || all == nil || len(all) != 0 {
		t.Fatalf("listing %#v, %v", all, err)
	}
	raw, _ := json.Marshal(all)
	if string(raw) != "[]" {
		t.Fatalf("--json of an empty listing is %s, want []", raw)
	}
}

func TestDeadLettersPagesByOffset(t *testing.T) {
	var offsets []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/queues/%2F/orders/dead-letters" && r.URL.RawPath != "/api/queues/%2F/orders/dead-letters" {
			t.Errorf("path %q", r.URL.Path)
		}
		offsets = append(offsets, r.URL.Query().Get("offset"))
		n := 100
		if r.URL.Query().Get("offset") == "100" {
			n = 20
		}
		msgs := make([]map[string]any, n)
		for i := range msgs {
			msgs[i] = map[string]any{"id": fmt.Sprint(i)}
		}
		_ = json.NewEncoder(w).Encode(DeadLetters{Queue: "orders.dlq", Total: 120, Messages: msgs})
	}))
	defer srv.Close()
	d, err := (&Client{BaseURL: srv.URL}).DeadLetters(context.Background(), QueuePath("", "orders"))
	if err != nil {
		t.Fatal(err)
	}
	if d.Queue != "orders.dlq" || d.Total != 120 || len(d.Messages) != 120 || strings.Join(offsets, ",") != "0,100" {
		t.Fatalf("queue %s total %d, %d messages, offsets %v", d.Queue, d.Total, len(d.Messages), offsets)
	}
}

func TestQueuePath(t *testing.T) {
	for _, c := range [][3]string{{"", "q", "/api/queues/%2F/q"}, {"/", "a b", "/api/queues/%2F/a%20b"}, {"prod", "x/y", "/api/queues/prod/x%2Fy"}} {
		if got := QueuePath(c[0], c[1]); got != c[2] {
			t.Errorf("QueuePath(%q, %q) = %q, want %q", c[0], c[1], got, c[2])
		}
	}
}

func TestTable(t *testing.T) {
	rows := []map[string]any{
		{"vhost": "/", "name": "orders", "messages_ready": 12.0, "message_stats": map[string]any{"publish_details": map[string]any{"rate": 2.25}}},
		{"vhost": "/", "name": "x"},
	}
	var b bytes.Buffer
	Table(&b, []string{"vhost", "name", "messages_ready", "message_stats.publish_details.rate"}, rows)
	want := "vhost  name    messages_ready  publish/s\n" +
		"/      orders  12              2.2\n" +
		"/      x       -               -\n"
	if b.String() != want {
		t.Fatalf("Table:\n%q\nwant\n%q", b.String(), want)
	}
	if ListColumns("queues") == nil || ListColumns("nonsense") != nil {
		t.Fatal("ListColumns")
	}
}

func TestPrintOverviewAndDeadLetters(t *testing.T) {
	o := map[string]any{
		"queue_totals":  map[string]any{"messages_ready": 5.0},
		"message_stats": map[string]any{"ack_details": map[string]any{"rate": 1.5}},
		"health":        map[string]any{"mem_alarm": false},
	}
	var b bytes.Buffer
	PrintOverview(&b, o)
	want := "queue_totals.messages_ready     5\nmessage_stats.ack_details.rate  1.5\nhealth.mem_alarm                false\n"
	if b.String() != want {
		t.Fatalf("PrintOverview:\n%q\nwant\n%q", b.String(), want)
	}
	b.Reset()
	PrintDeadLetters(&b, DeadLetters{Queue: "q.dlq", Total: 1, Messages: []map[string]any{{"id": "m-1", "reason": "rejected", "size": 10.0}}})
	lines := strings.Split(b.String(), "\n")
	if lines[0] != "q.dlq: 1 message(s) (metadata only)" || !strings.HasPrefix(lines[1], "id ") || !strings.HasPrefix(lines[2], "m-1 ") || !strings.Contains(lines[2], "rejected") {
		t.Fatalf("PrintDeadLetters:\n%s", b.String())
	}
}
