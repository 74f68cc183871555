package mgmt

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/ciphermq/ciphermq/broker"
	"github.com/ciphermq/ciphermq/broker/access"
	"github.com/ciphermq/ciphermq/broker/audit"
	"github.com/ciphermq/ciphermq/broker/server"
	"github.com/ciphermq/ciphermq/clients/envelope"
)

// NextHeader names the cursor of the next page when a listing stopped at
// its page size: pass it back as ?after=.
const NextHeader = "X-CipherMQ-Next-After"

func (h *Handler) routes() {
	for _, rt := range []struct {
		pattern string
		h       http.HandlerFunc
	}{
		{"GET /api/overview", h.authed(h.overview)},
		{"GET /api/whoami", h.authed(h.whoami)},
		{"GET /api/queues", h.authed(h.listQueues)},
		{"GET /api/queues/{vhost}", h.authed(h.listQueues)},
		{"GET /api/queues/{vhost}/{name}", h.authed(h.getQueue)},
		{"DELETE /api/queues/{vhost}/{name}", h.adminOnly("delete queues", h.deleteQueue)},
		{"DELETE /api/queues/{vhost}/{name}/contents", h.adminOnly("purge queues", h.purgeQueue)},
		{"GET /api/queues/{vhost}/{name}/bindings", h.authed(h.queueBindings)},
		{"GET /api/queues/{vhost}/{name}/dead-letters", h.authed(h.deadLetters)},
		{"POST /api/queues/{vhost}/{name}/dead-letters/move", h.adminOnly("move dead-lettered messages", h.moveDeadLetters)},
		{"GET /api/exchanges", h.authed(h.listExchanges)},
		{"GET /api/exchanges/{vhost}", h.authed(h.listExchanges)},
		{"GET /api/bindings", h.authed(h.listBindings)},
		{"GET /api/bindings/{vhost}", h.authed(h.listBindings)},
		{"GET /api/consumers", h.authed(h.listConsumers)},
		{"GET /api/consumers/{vhost}", h.authed(h.listConsumers)},
		{"GET /api/connections", h.authed(h.listConnections)},
		{"GET /api/connections/{name}", h.authed(h.getConnection)},
		{"DELETE /api/connections/{name}", h.adminOnly("close connections", h.closeConnection)},
		{"GET /api/health", h.authed(h.health)},
		{"GET /api/health/checks/alarms", h.authed(h.alarms)},
		{"GET /api/health/checks/ready", h.authed(h.ready)},
	} {
		method, path, _ := strings.Cut(rt.pattern, " ")
		h.api = append(h.api, apiRoute{method: method, parts: strings.Split(strings.Trim(path, "/"), "/"), h: rt.h})
	}
	h.mux.HandleFunc("/api/", h.dispatch)
	h.mux.Handle("/", consoleHandler())
}

// apiRoute is one endpoint. Routing is done here rather than by
// http.ServeMux because RabbitMQ's paths carry the vhost as one escaped
// segment ("/" is %2F), which ServeMux's wildcards do not match.
type apiRoute struct {
	method string
	parts  []string // literal segments, or {wildcard}
	h      http.HandlerFunc
}

// dispatch matches the escaped path segment by segment.
func (h *Handler) dispatch(w http.ResponseWriter, r *http.Request) {
	raw := strings.Split(strings.Trim(r.URL.EscapedPath(), "/"), "/")
	segs := make([]string, len(raw))
	for i, s := range raw {
		u, err := url.PathUnescape(s)
		if err != nil {
			writeError(w, http.StatusBadRequest, "bad_request", "malformed path segment "+strconv.Quote(s))
			return
		}
		segs[i] = u
	}
	pathMatched := false
	for _, rt := range h.api {
		if len(rt.parts) != len(segs) {
			continue
		}
		vals := map[string]string{}
		ok := true
		for i, p := range rt.parts {
			if strings.HasPrefix(p, "{") {
				vals[p[1:len(p)-1]] = segs[i]
			} else if p != segs[i] {
				ok = false
				break
			}
		}
		if !ok {
			continue
		}
		pathMatched = true
		if rt.method != r.Method && !(rt.method == http.MethodGet && r.Method == http.MethodHead) {
			continue
		}
		for k, v := range vals {
			r.SetPathValue(k, v)
		}
		rt.h(w, r)
		return
	}
	if pathMatched {
		writeError(w, http.StatusMethodNotAllowed, "method_not_allowed", r.Method+" is not supported on "+r.URL.Path)
		return
	}
	writeError(w, http.StatusNotFound, "not_found", "no management endpoint "+r.Method+" "+r.URL.Path+" (see docs/operations.md)")
}

// Cursors (?after= and NextHeader) are opaque: base64url of the core's
// names, which may hold control characters (the vhost separator).
func encodeCursor(parts ...string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(strings.Join(parts, "\x00")))
}

func decodeCursor(c string) ([]string, bool) {
	if c == "" {
		return nil, true
	}
	raw, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return nil, false
	}
	return strings.Split(string(raw), "\x00"), true
}

// pageParams reads ?page_size= (1..MaxPageSize, default MaxPageSize) and
// ?after= (the cursor from NextHeader).
func pageParams(w http.ResponseWriter, r *http.Request) (after string, size int, ok bool) {
	size = MaxPageSize
	if v := r.URL.Query().Get("page_size"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > MaxPageSize {
			writeError(w, http.StatusBadRequest, "bad_request", fmt.Sprintf("page_size must be 1..%d", MaxPageSize))
			return "", 0, false
		}
		size = n
	}
	cur, ok := decodeCursor(r.URL.Query().Get("after"))
	if !ok {
		writeError(w, http.StatusBadRequest, "bad_request", "after must be a cursor from the "+NextHeader+" header")
		return "", 0, false
	}
	return strings.Join(cur, "\x00"), size, true
}

// vhostFilter returns the vhost in the path ("" for all of the user's),
// or writes 404 for a vhost the user has no permissions on.
func vhostFilter(w http.ResponseWriter, r *http.Request, u *user) (string, bool) {
	v := r.PathValue("vhost")
	if v == "" {
		return "", true
	}
	if u.ids[v] == nil {
		writeError(w, http.StatusNotFound, "not_found", "no vhost "+strconv.Quote(v)+" visible to user "+u.name)
		return "", false
	}
	return v, true
}

// inVhost reports whether a core name belongs to vhost ("": any).
func inVhost(qname, vhost string) bool {
	if vhost == "" {
		return true
	}
	v, _ := broker.SplitQualified(qname)
	return v == vhost
}

// startFor is where a vhost's names start in the core's name order ("" for
// the default vhost, whose bare names interleave with other vhosts').
func startFor(vhost, after string) string {
	if after != "" {
		return after
	}
	if vhost == "" || vhost == broker.DefaultVhost {
		return ""
	}
	return broker.Qualify(vhost, "")
}

// pastVhost reports whether qname is beyond vhost's contiguous range.
func pastVhost(qname, vhost string) bool {
	if vhost == "" || vhost == broker.DefaultVhost {
		return false
	}
	return !strings.HasPrefix(qname, broker.Qualify(vhost, ""))
}

type rate struct {
	Rate float64 `json:"rate"`
}

// messageStats is RabbitMQ's message_stats object.
type messageStats struct {
	Publish             uint64 `json:"publish"`
	PublishDetails      rate   `json:"publish_details"`
	DeliverGet          uint64 `json:"deliver_get"`
	DeliverGetDetails   rate   `json:"deliver_get_details"`
	Redeliver           uint64 `json:"redeliver"`
	RedeliverDetails    rate   `json:"redeliver_details"`
	Ack                 uint64 `json:"ack"`
	AckDetails          rate   `json:"ack_details"`
	DeadLettered        uint64 `json:"dead_lettered"`
	DeadLetteredDetails rate   `json:"dead_lettered_details"`
	Duplicates          uint64 `json:"duplicates"`
	Discarded           uint64 `json:"discarded"`
	Refused             uint64 `json:"refused"`
}

// queueJSON is a queue as the API shows it (RabbitMQ's field names).
type queueJSON struct {
	Name            string       `json:"name"`
	Vhost           string       `json:"vhost"`
	Ready           int          `json:"messages_ready"`
	Unacked         int          `json:"messages_unacknowledged"`
	Messages        int          `json:"messages"`
	Bytes           int64        `json:"message_bytes"`
	Consumers       int          `json:"consumers"`
	DeadLetterQueue string       `json:"dead_letter_queue,omitempty"`
	DeadLetterIn    uint64       `json:"dead_letter_in"`
	MessageStats    messageStats `json:"message_stats"`
}

func (h *Handler) queueJSON(q broker.QueueStats, now time.Time) queueJSON {
	vhost, name := broker.SplitQualified(q.Name)
	c := counters{Published: q.Published, Delivered: q.Delivered, Redelivered: q.Redelivered, Acked: q.Acked, DeadLettered: q.DeadLettered}
	rt := h.rates.queue(q.Name, now, c)
	return queueJSON{
		Name: name, Vhost: vhost, Ready: q.Ready, Unacked: q.Unacked, Messages: q.Ready + q.Unacked,
		Bytes: q.Bytes, Consumers: q.Consumers, DeadLetterIn: q.DeadLetterIn,
		MessageStats: messageStats{
			Publish: q.Published, PublishDetails: rate{rt.Published},
			DeliverGet: q.Delivered, DeliverGetDetails: rate{rt.Delivered},
			Redeliver: q.Redelivered, RedeliverDetails: rate{rt.Redelivered},
			Ack: q.Acked, AckDetails: rate{rt.Acked},
			DeadLettered: q.DeadLettered, DeadLetteredDetails: rate{rt.DeadLettered},
			Duplicates: q.Duplicates, Discarded: q.Discarded, Refused: q.Refused,
		},
	}
}

func (h *Handler) listQueues(w http.ResponseWriter, r *http.Request, u *user) {
	vhost, ok := vhostFilter(w, r, u)
	if !ok {
		return
	}
	after, size, ok := pageParams(w, r)
	if !ok {
		return
	}
	var page []broker.QueueStats
	next, visited := "", ""
	scanned := 0
	h.srv.Admin(func(core *broker.Core, _ time.Time) {
		core.EachQueue(startFor(vhost, after), func(q broker.QueueStats) bool {
			if pastVhost(q.Name, vhost) {
				return false
			}
			if scanned++; scanned > h.maxScan {
				next = visited // a page cut short by the scan bound
				return false
			}
			visited = q.Name
			if !inVhost(q.Name, vhost) || !u.seeQueue(q.Name) {
				return true
			}
			if len(page) == size {
				next = page[size-1].Name
				return false
			}
			page = append(page, q)
			return true
		})
	})
	now := time.Now()
	out := make([]queueJSON, 0, len(page))
	for _, q := range page {
		out = append(out, h.queueJSON(q, now))
	}
	if next != "" {
		w.Header().Set(NextHeader, encodeCursor(next))
	}
	writeJSON(w, http.StatusOK, out)
}

// queueName resolves {vhost}/{name} to a core name the user may see, or
// writes 404 (a queue the user may not see does not exist for it).
func queueName(w http.ResponseWriter, r *http.Request, u *user) (string, bool) {
	vhost, name := r.PathValue("vhost"), r.PathValue("name")
	qname := broker.Qualify(vhost, name)
	if u.ids[vhost] == nil || strings.Contains(name, broker.VhostSeparator) || !u.seeQueue(qname) {
		writeError(w, http.StatusNotFound, "not_found", fmt.Sprintf("no queue %q in vhost %q visible to user %s", name, vhost, u.name))
		return "", false
	}
	return qname, true
}

// queueDetail is one queue with its bindings and consumers.
type queueDetail struct {
	queueJSON
	Bindings         []bindingJSON  `json:"bindings"`
	ConsumerDetails  []consumerJSON `json:"consumer_details"`
	DeadLetterCount  int            `json:"dead_letter_messages"`
	DeadLetterUnseen bool           `json:"dead_letter_hidden,omitempty"`
}

type bindingJSON struct {
	Source          string `json:"source"`
	Vhost           string `json:"vhost"`
	Destination     string `json:"destination"`
	DestinationType string `json:"destination_type"`
	RoutingKey      string `json:"routing_key"`
}

func bindingOf(b broker.BindingInfo) bindingJSON {
	vhost, ex := broker.SplitQualified(b.Exchange)
	_, q := broker.SplitQualified(b.Queue)
	return bindingJSON{Source: ex, Vhost: vhost, Destination: q, DestinationType: "queue", RoutingKey: b.Key}
}

type consumerJSON struct {
	Queue      string `json:"queue"`
	Vhost      string `json:"vhost"`
	Tag        string `json:"consumer_tag"`
	Connection string `json:"connection"`
	Prefetch   int    `json:"prefetch_count"`
	Unacked    int    `json:"messages_unacknowledged"`
}

func consumerOf(c broker.ConsumerInfo) consumerJSON {
	vhost, q := broker.SplitQualified(c.Queue)
	return consumerJSON{Queue: q, Vhost: vhost, Tag: c.Tag, Connection: connName(c.Conn), Prefetch: c.Prefetch, Unacked: c.Unacked}
}

// defaultMaxScan bounds the entries one listing request visits, seen by the user
// or not: a user who may see few of many queues gets a short (even empty)
// page and a cursor to go on from, so that a request's cost follows its
// page size, not the broker's size.
const defaultMaxScan = 10 * MaxPageSize

// maxDetailEntries bounds the bindings and consumers a queue's detail
// lists (the broker's per-user limits bound them too).
const maxDetailEntries = MaxPageSize

func (h *Handler) getQueue(w http.ResponseWriter, r *http.Request, u *user) {
	qname, ok := queueName(w, r, u)
	if !ok {
		return
	}
	var (
		st     broker.QueueStats
		found  bool
		d      queueDetail
		dlq    string
		dlqLen int
	)
	h.srv.Admin(func(core *broker.Core, _ time.Time) {
		if st, found = core.Queue(qname); !found {
			return
		}
		core.QueueBindings(qname, func(b broker.BindingInfo) {
			if len(d.Bindings) < maxDetailEntries {
				d.Bindings = append(d.Bindings, bindingOf(b))
			}
		})
		core.QueueConsumers(qname, func(c broker.ConsumerInfo) {
			if len(d.ConsumerDetails) < maxDetailEntries {
				d.ConsumerDetails = append(d.ConsumerDetails, consumerOf(c))
			}
		})
		dlq, _ = core.QueueDeadLetter(qname)
		if dlq != "" {
			if ds, ok := core.Queue(dlq); ok {
				dlqLen = ds.Ready + ds.Unacked
			}
		}
	})
	if !found {
		writeError(w, http.StatusNotFound, "not_found", "queue "+strconv.Quote(r.PathValue("name"))+" not found")
		return
	}
	d.queueJSON = h.queueJSON(st, time.Now())
	if dlq != "" {
		_, d.DeadLetterQueue = broker.SplitQualified(dlq)
		if u.seeQueue(dlq) {
			d.DeadLetterCount = dlqLen
		} else {
			d.DeadLetterUnseen = true
		}
	}
	if d.Bindings == nil {
		d.Bindings = []bindingJSON{}
	}
	if d.ConsumerDetails == nil {
		d.ConsumerDetails = []consumerJSON{}
	}
	writeJSON(w, http.StatusOK, d)
}

func (h *Handler) queueBindings(w http.ResponseWriter, r *http.Request, u *user) {
	qname, ok := queueName(w, r, u)
	if !ok {
		return
	}
	out := []bindingJSON{}
	found := false
	h.srv.Admin(func(core *broker.Core, _ time.Time) {
		found = core.QueueBindings(qname, func(b broker.BindingInfo) {
			if len(out) < maxDetailEntries {
				out = append(out, bindingOf(b))
			}
		})
	})
	if !found {
		writeError(w, http.StatusNotFound, "not_found", "queue not found")
		return
	}
	writeJSON(w, http.StatusOK, out)
}

// permitted applies the protocol's operation table (docs/security.md) to an
// administrator's change of a queue: the tag lets it use the management
// API, its permissions on the vhost still decide which queues it may
// change. A refusal is 403 with the protocol's reason and changes nothing.
func (h *Handler) permitted(w http.ResponseWriter, r *http.Request, u *user, check func(*access.Identity, string) *broker.Error) bool {
	id := u.ids[r.PathValue("vhost")]
	if e := check(id, r.PathValue("name")); e != nil {
		audit.Log(h.log, slog.LevelWarn, audit.AccessRefused, "management action refused: "+e.Msg, "remote", r.RemoteAddr, "user", u.name, "path", r.URL.Path)
		writeError(w, http.StatusForbidden, "access_refused", e.Msg)
		return false
	}
	return true
}

func (h *Handler) deleteQueue(w http.ResponseWriter, r *http.Request, u *user) {
	qname, ok := queueName(w, r, u)
	if !ok || !h.permitted(w, r, u, (*access.Identity).DeleteQueue) {
		return
	}
	var n int
	var err error
	h.srv.Admin(func(core *broker.Core, now time.Time) { n, err = core.DeleteQueue(qname, now) })
	if err != nil {
		errorFor(w, err)
		return
	}
	h.rates.forget(qname)
	audit.Log(h.log, slog.LevelInfo, audit.Admin, "queue deleted", "user", u.name, "remote", r.RemoteAddr, "vhost", r.PathValue("vhost"), "queue", r.PathValue("name"), "discarded", n)
	w.WriteHeader(http.StatusNoContent)
}

func (h *Handler) purgeQueue(w http.ResponseWriter, r *http.Request, u *user) {
	qname, ok := queueName(w, r, u)
	if !ok || !h.permitted(w, r, u, (*access.Identity).Purge) {
		return
	}
	var n int
	var err error
	h.srv.Admin(func(core *broker.Core, now time.Time) { n, err = core.PurgeQueue(qname, now) })
	if err != nil {
		errorFor(w, err)
		return
	}
	audit.Log(h.log, slog.LevelInfo, audit.Admin, "queue purged", "user", u.name, "remote", r.RemoteAddr, "vhost", r.PathValue("vhost"), "queue", r.PathValue("name"), "discarded", n)
	writeJSON(w, http.StatusOK, map[string]int{"message_count": n})
}

// deadLetterJSON is one dead-lettered message by metadata: never a body.
type deadLetterJSON struct {
	ID             string   `json:"id"`
	Size           int      `json:"size"`
	Format         string   `json:"format"`
	Sender         string   `json:"sender,omitempty"` // key id from the signed header
	SignatureValid bool     `json:"signature_valid"`
	Recipients     []string `json:"recipients,omitempty"`
	Exchange       string   `json:"exchange"`
	RoutingKey     string   `json:"routing_key"`
	Deliveries     uint32   `json:"deliveries"`
	Redelivered    bool     `json:"redelivered"`
	Problem        string   `json:"problem,omitempty"`
	// Reason is why the message was dead-lettered: a name from the
	// reject-reason table (docs/protocol.md), "delivery-limit" for one
	// past its queue's delivery limit, "unknown" when the rejecting client
	// gave none (the text protocol has no way to, nor do older clients).
	Reason string `json:"reason"`
}

// Dead-letter listing bounds: messages per page, and the bytes of each
// body copied (out of the lock) to read its envelope header.
const (
	maxDeadLetterPage  = 100
	deadLetterInspectN = 256 << 10
)

// deadLetterQueue returns the queue's dead-letter queue (core name), or
// writes an error.
func (h *Handler) deadLetterQueue(w http.ResponseWriter, r *http.Request, u *user, qname string) (string, bool) {
	var dlq string
	var found bool
	h.srv.Admin(func(core *broker.Core, _ time.Time) { dlq, found = core.QueueDeadLetter(qname) })
	switch {
	case !found:
		writeError(w, http.StatusNotFound, "not_found", "queue not found")
		return "", false
	case dlq == "":
		writeError(w, http.StatusNotFound, "not_found", fmt.Sprintf("queue %q has no dead-letter queue", r.PathValue("name")))
		return "", false
	case !u.seeQueue(dlq):
		writeError(w, http.StatusForbidden, "access_refused", "user "+u.name+" may not read the dead-letter queue of this queue")
		return "", false
	}
	return dlq, true
}

func (h *Handler) deadLetters(w http.ResponseWriter, r *http.Request, u *user) {
	qname, ok := queueName(w, r, u)
	if !ok {
		return
	}
	dlq, ok := h.deadLetterQueue(w, r, u, qname)
	if !ok {
		return
	}
	offset, limit := 0, 20
	q := r.URL.Query()
	if v := q.Get("offset"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			writeError(w, http.StatusBadRequest, "bad_request", "offset must be a number >= 0")
			return
		}
		offset = n
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxDeadLetterPage {
			writeError(w, http.StatusBadRequest, "bad_request", fmt.Sprintf("limit must be 1..%d", maxDeadLetterPage))
			return
		}
		limit = n
	}
	var msgs []broker.ReadyMessage
	total := 0
	h.srv.Admin(func(core *broker.Core, _ time.Time) {
		if st, ok := core.Queue(dlq); ok {
			total = st.Ready
		}
		core.PeekReady(dlq, offset, limit, deadLetterInspectN, func(m broker.ReadyMessage) { msgs = append(msgs, m) })
	})
	out := make([]deadLetterJSON, 0, len(msgs))
	for _, m := range msgs {
		e := deadLetterJSON{ID: m.MessageID, Size: m.Size, Exchange: shownName(m.Exchange), RoutingKey: m.RoutingKey,
			Deliveries: m.Deliveries, Redelivered: m.Redelivered, Reason: m.Reason.String()}
		if len(m.Head) < m.Size {
			e.Format = envelope.Detect(m.Head).String()
			e.Problem = fmt.Sprintf("larger than %d bytes: envelope header not inspected", deadLetterInspectN)
		} else {
			md := envelope.Inspect(m.Head)
			e.Format, e.Sender, e.SignatureValid, e.Recipients = md.Format.String(), md.SenderKeyID, md.SignatureValid, md.RecipientKeyIDs
			if md.Err != nil {
				e.Problem = md.Err.Error()
			}
		}
		out = append(out, e)
	}
	_, dname := broker.SplitQualified(dlq)
	writeJSON(w, http.StatusOK, map[string]any{"queue": dname, "total": total, "offset": offset, "messages": out})
}

func shownName(qname string) string {
	_, n := broker.SplitQualified(qname)
	return n
}

func (h *Handler) moveDeadLetters(w http.ResponseWriter, r *http.Request, u *user) {
	qname, ok := queueName(w, r, u)
	if !ok {
		return
	}
	var body struct {
		Limit int `json:"limit"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 4096)).Decode(&body); err != nil && !errors.Is(err, io.EOF) {
		writeError(w, http.StatusBadRequest, "bad_request", "body: "+err.Error())
		return
	}
	if body.Limit < 0 {
		writeError(w, http.StatusBadRequest, "bad_request", "limit must be >= 0 (0: all)")
		return
	}
	dlq, ok := h.deadLetterQueue(w, r, u, qname)
	if !ok {
		return
	}
	var n, left int
	var err error
	h.srv.Admin(func(core *broker.Core, now time.Time) {
		limit := body.Limit
		if limit == 0 {
			st, _ := core.Queue(dlq)
			limit = st.Ready
		}
		n, err = core.MoveReady(dlq, qname, limit, now)
		st, _ := core.Queue(dlq)
		left = st.Ready
	})
	if err != nil {
		errorFor(w, err)
		return
	}
	audit.Log(h.log, slog.LevelInfo, audit.Admin, "dead-lettered messages moved back", "user", u.name, "remote", r.RemoteAddr, "vhost", r.PathValue("vhost"), "queue", r.PathValue("name"), "moved", n)
	writeJSON(w, http.StatusOK, map[string]int{"moved": n, "left": left})
}

type exchangeJSON struct {
	Name       string `json:"name"`
	Vhost      string `json:"vhost"`
	Type       string `json:"type"`
	Bindings   int    `json:"bindings"`
	Published  uint64 `json:"published"`
	Unroutable uint64 `json:"unroutable"`
}

func (h *Handler) listExchanges(w http.ResponseWriter, r *http.Request, u *user) {
	vhost, ok := vhostFilter(w, r, u)
	if !ok {
		return
	}
	after, size, ok := pageParams(w, r)
	if !ok {
		return
	}
	out := []exchangeJSON{}
	next := ""
	var last, visited string
	scanned := 0
	h.srv.Admin(func(core *broker.Core, _ time.Time) {
		core.EachExchange(startFor(vhost, after), func(e broker.ExchangeStats) bool {
			if pastVhost(e.Name, vhost) {
				return false
			}
			if scanned++; scanned > h.maxScan {
				next = visited
				return false
			}
			visited = e.Name
			if !inVhost(e.Name, vhost) || !u.seeExchange(e.Name) {
				return true
			}
			if len(out) == size {
				next = last
				return false
			}
			v, n := broker.SplitQualified(e.Name)
			out = append(out, exchangeJSON{Name: n, Vhost: v, Type: e.Type, Bindings: e.Bindings, Published: e.Published, Unroutable: e.Unroutable})
			last = e.Name
			return true
		})
	})
	if next != "" {
		w.Header().Set(NextHeader, encodeCursor(next))
	}
	writeJSON(w, http.StatusOK, out)
}

// Binding cursors are exchange, queue and key (core names) joined by NUL.
func (h *Handler) listBindings(w http.ResponseWriter, r *http.Request, u *user) {
	vhost, ok := vhostFilter(w, r, u)
	if !ok {
		return
	}
	after, size, ok := pageParams(w, r)
	if !ok {
		return
	}
	cur := strings.SplitN(after, "\x00", 3)
	for len(cur) < 3 {
		cur = append(cur, "")
	}
	if cur[0] == "" {
		cur[0] = startFor(vhost, "")
	}
	out := []bindingJSON{}
	var last, visited broker.BindingInfo
	next := ""
	scanned := 0
	h.srv.Admin(func(core *broker.Core, _ time.Time) {
		core.EachBinding(cur[0], cur[1], cur[2], func(b broker.BindingInfo) bool {
			if pastVhost(b.Exchange, vhost) {
				return false
			}
			if scanned++; scanned > h.maxScan {
				next = encodeCursor(visited.Exchange, visited.Queue, visited.Key)
				return false
			}
			visited = b
			if !inVhost(b.Exchange, vhost) || !u.seeExchange(b.Exchange) || !u.seeQueue(b.Queue) {
				return true
			}
			if len(out) == size {
				next = encodeCursor(last.Exchange, last.Queue, last.Key)
				return false
			}
			out = append(out, bindingOf(b))
			last = b
			return true
		})
	})
	if next != "" {
		w.Header().Set(NextHeader, next)
	}
	writeJSON(w, http.StatusOK, out)
}

// listConsumers lists consumers by connection (their own connections for
// users without monitoring or administrator).
func (h *Handler) listConsumers(w http.ResponseWriter, r *http.Request, u *user) {
	vhost, ok := vhostFilter(w, r, u)
	if !ok {
		return
	}
	cursor, _, ok := pageParams(w, r)
	if !ok {
		return
	}
	out := []consumerJSON{}
	after := connIDParam(cursor)
	conns, more := h.srv.Connections(after, MaxPageSize)
	var lastConn broker.ConnID
	for _, c := range conns {
		if !h.seeConn(u, c) {
			continue
		}
		for _, cs := range c.Consumers {
			if !inVhost(cs.Queue, vhost) || !u.seeQueue(cs.Queue) || len(out) >= MaxPageSize {
				continue
			}
			out = append(out, consumerOf(cs))
		}
		lastConn = c.ID
		if len(out) >= MaxPageSize {
			more = true
			break
		}
	}
	if more && lastConn != 0 {
		w.Header().Set(NextHeader, encodeCursor(connName(lastConn)))
	}
	writeJSON(w, http.StatusOK, out)
}

// Connections are named by the broker's connection number.
func connName(id broker.ConnID) string { return strconv.FormatUint(uint64(id), 10) }

func connIDParam(s string) broker.ConnID {
	n, _ := strconv.ParseUint(s, 10, 64)
	return broker.ConnID(n)
}

type connJSON struct {
	Name      string `json:"name"`
	Peer      string `json:"peer_host"`
	Protocol  string `json:"protocol"`
	User      string `json:"user"`
	Vhost     string `json:"vhost"`
	TLS       bool   `json:"ssl"`
	Connected int64  `json:"connected_at"` // Unix milliseconds
	Channels  int    `json:"channels"`
	Consumers int    `json:"consumers"`
	Unacked   int    `json:"messages_unacknowledged"`
}

func connOf(c server.ConnInfo) connJSON {
	return connJSON{Name: connName(c.ID), Peer: c.Remote, Protocol: c.Protocol, User: c.User, Vhost: c.Vhost,
		TLS: c.TLS, Connected: c.Opened.UnixMilli(), Channels: 1, Consumers: len(c.Consumers), Unacked: c.Unacked}
}

// seeConn: monitoring and administrator see every connection of their
// vhosts (and those not yet authenticated); others their own.
func (h *Handler) seeConn(u *user, c server.ConnInfo) bool {
	if u.wide() {
		return c.User == "" || u.ids[c.Vhost] != nil
	}
	return c.User == u.name
}

func (h *Handler) listConnections(w http.ResponseWriter, r *http.Request, u *user) {
	cursor, size, ok := pageParams(w, r)
	if !ok {
		return
	}
	after := connIDParam(cursor)
	out := []connJSON{}
	truncated := false
	scanned := 0
	for !truncated {
		conns, more := h.srv.Connections(after, size)
		for i, c := range conns {
			if len(out) == size || scanned == h.maxScan {
				truncated = true
				break
			}
			scanned++
			after = c.ID
			if h.seeConn(u, c) {
				out = append(out, connOf(c))
			}
			if len(out) == size && (more || i < len(conns)-1) {
				truncated = true
				break
			}
		}
		if !more {
			break
		}
	}
	if truncated {
		w.Header().Set(NextHeader, encodeCursor(connName(after)))
	}
	writeJSON(w, http.StatusOK, out)
}

func (h *Handler) connection(w http.ResponseWriter, r *http.Request, u *user) (server.ConnInfo, bool) {
	id, err := strconv.ParseUint(r.PathValue("name"), 10, 64)
	var c server.ConnInfo
	found := false
	if err == nil {
		c, found = h.srv.Connection(broker.ConnID(id))
	}
	if !found || !h.seeConn(u, c) {
		writeError(w, http.StatusNotFound, "not_found", "no connection "+strconv.Quote(r.PathValue("name"))+" visible to user "+u.name+" (connections are named by number: see GET /api/connections)")
		return c, false
	}
	return c, true
}

func (h *Handler) getConnection(w http.ResponseWriter, r *http.Request, u *user) {
	if c, ok := h.connection(w, r, u); ok {
		writeJSON(w, http.StatusOK, connOf(c))
	}
}

func (h *Handler) closeConnection(w http.ResponseWriter, r *http.Request, u *user) {
	c, ok := h.connection(w, r, u)
	if !ok {
		return
	}
	reason := "closed by administrator " + u.name + " via the management API"
	if v := r.Header.Get("X-Reason"); v != "" && len(v) <= 200 {
		reason += ": " + v
	}
	if err := h.srv.CloseConnection(c.ID, reason); err != nil {
		writeError(w, http.StatusNotFound, "not_found", "connection "+connName(c.ID)+" is already closed")
		return
	}
	audit.Log(h.log, slog.LevelInfo, audit.Admin, "connection closed", "user", u.name, "remote", r.RemoteAddr, "conn", connName(c.ID), "peer", c.Remote, "conn_user", c.User)
	w.WriteHeader(http.StatusNoContent)
}

func (h *Handler) whoami(w http.ResponseWriter, _ *http.Request, u *user) {
	tags := u.tags
	if tags == nil {
		tags = []string{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"name": u.name, "tags": tags, "vhosts": u.vhosts, "can_administer": u.admin()})
}

type overviewJSON struct {
	Product      string           `json:"product_name"`
	User         string           `json:"user"`
	ObjectTotals map[string]int   `json:"object_totals"`
	QueueTotals  map[string]int   `json:"queue_totals"`
	MessageStats messageStats     `json:"message_stats"`
	Dedup        map[string]int64 `json:"dedup,omitempty"`
	Health       server.Health    `json:"health"`
	History      []historyPoint   `json:"rate_history"`
	Truncated    bool             `json:"truncated,omitempty"`
}

// maxOverviewQueues bounds the queues (and exchanges) one overview visits
// (the broker's default MaxQueues): beyond it the totals cover the first
// ones by name and say truncated.
const maxOverviewQueues = broker.DefaultMaxQueues

// overviewTotals are a user's sums over the queues it may see.
type overviewTotals struct {
	sum       broker.QueueStats
	nq, nx    int
	truncated bool
}

// totals sums the queues u may see: O(min(queues, maxOverviewQueues)),
// in pages of the server's lock (server.Server.EachQueue), at most once
// per overviewMaxAge per user (the answer is reused meanwhile).
func (h *Handler) totals(u *user, now time.Time) overviewTotals {
	if t, ok := h.rates.cachedTotals(u.name, u.users, now, h.overviewMaxAge); ok {
		return t
	}
	var t overviewTotals
	visited := 0
	h.srv.EachQueue(func(q broker.QueueStats) bool {
		if visited++; visited > maxOverviewQueues {
			t.truncated = true
			return false
		}
		if !u.seeQueue(q.Name) {
			return true
		}
		t.nq++
		t.sum.Ready += q.Ready
		t.sum.Unacked += q.Unacked
		t.sum.Consumers += q.Consumers
		t.sum.Published += q.Published
		t.sum.Delivered += q.Delivered
		t.sum.Redelivered += q.Redelivered
		t.sum.Acked += q.Acked
		t.sum.DeadLettered += q.DeadLettered
		t.sum.Discarded += q.Discarded
		t.sum.Refused += q.Refused
		t.sum.Duplicates += q.Duplicates
		return true
	})
	visited = 0
	h.srv.Admin(func(core *broker.Core, _ time.Time) {
		core.EachExchange("", func(e broker.ExchangeStats) bool {
			if visited++; visited > maxOverviewQueues {
				t.truncated = true
				return false
			}
			if u.seeExchange(e.Name) {
				t.nx++
			}
			return true
		})
	})
	h.rates.storeTotals(u.name, u.users, now, t)
	return t
}

// overview sums the queues the user may see (totals).
func (h *Handler) overview(w http.ResponseWriter, _ *http.Request, u *user) {
	var summary broker.Stats
	h.srv.Admin(func(core *broker.Core, _ time.Time) { summary = core.StatsSummary() })
	now := time.Now()
	t := h.totals(u, now)
	sum := t.sum
	rt, hist := h.rates.overview(u.name, now, counters{Published: sum.Published, Delivered: sum.Delivered, Redelivered: sum.Redelivered, Acked: sum.Acked, DeadLettered: sum.DeadLettered}, sum.Ready, sum.Unacked)
	o := overviewJSON{
		Product:      "CipherMQ",
		User:         u.name,
		ObjectTotals: map[string]int{"queues": t.nq, "exchanges": t.nx, "consumers": sum.Consumers},
		QueueTotals:  map[string]int{"messages_ready": sum.Ready, "messages_unacknowledged": sum.Unacked, "messages": sum.Ready + sum.Unacked},
		MessageStats: messageStats{
			Publish: sum.Published, PublishDetails: rate{rt.Published},
			DeliverGet: sum.Delivered, DeliverGetDetails: rate{rt.Delivered},
			Redeliver: sum.Redelivered, RedeliverDetails: rate{rt.Redelivered},
			Ack: sum.Acked, AckDetails: rate{rt.Acked},
			DeadLettered: sum.DeadLettered, DeadLetteredDetails: rate{rt.DeadLettered},
			Duplicates: sum.Duplicates, Discarded: sum.Discarded, Refused: sum.Refused,
		},
		History:   hist,
		Truncated: t.truncated,
	}
	if u.wide() {
		o.ObjectTotals["connections"] = summary.Connections
		o.Dedup = map[string]int64{"ids": int64(summary.DedupIDs), "window_ms": summary.DedupWindowMs, "effective_window_ms": summary.DedupEffectiveWindowMs}
		o.Health = h.srv.Health()
	}
	writeJSON(w, http.StatusOK, o)
}

func (h *Handler) health(w http.ResponseWriter, _ *http.Request, _ *user) {
	writeJSON(w, http.StatusOK, h.srv.Health())
}

// alarms is RabbitMQ's /api/health/checks/alarms: 200 without alarms, 503
// with the memory alarm or a failed durable log.
func (h *Handler) alarms(w http.ResponseWriter, _ *http.Request, _ *user) {
	hl := h.srv.Health()
	var alarms []string
	if hl.MemoryAlarm {
		alarms = append(alarms, fmt.Sprintf("memory alarm: %d bytes used, high watermark %d: publishers are blocked", hl.MemoryUsed, hl.MemoryHigh))
	}
	if hl.StorageFailed {
		alarms = append(alarms, "durable log failed: "+hl.StorageError)
	}
	if len(alarms) > 0 {
		writeJSON(w, http.StatusServiceUnavailable, map[string]any{"status": "failed", "reason": strings.Join(alarms, "; "), "alarms": alarms})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// ready answers 200 when the broker accepts clients: listening, not
// shutting down, durable log healthy.
func (h *Handler) ready(w http.ResponseWriter, _ *http.Request, _ *user) {
	hl := h.srv.Health()
	switch {
	case hl.ShuttingDown:
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "failed", "reason": "shutting down"})
	case !hl.Listening:
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "failed", "reason": "not listening yet"})
	case hl.StorageFailed:
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "failed", "reason": "durable log failed: " + hl.StorageError})
	default:
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	}
}
