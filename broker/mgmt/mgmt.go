// Package mgmt is CipherMQ's management HTTP API and web console: a
// RabbitMQ-shaped JSON API under /api/ (overview, queues, exchanges,
// bindings, connections, consumers, dead-lettered messages by metadata,
// health checks) and a console of plain HTML and JavaScript embedded in the
// binary, served at /.
//
// It is a driver-side package: it reads and changes the broker through
// broker/server's management methods, under the server's lock and only for
// as long as one bounded page takes. Password checks use the server's login
// pool and throttling, off every lock. Message rates are computed here from
// the core's counters sampled at request time; the core keeps counters only.
//
// Access: HTTP basic auth with the broker's users. A user needs one of the
// tags management (sees what its permissions let it read), monitoring
// (sees everything in its vhosts) or administrator (may also close
// connections, purge and delete queues and move dead-lettered messages).
// A broker without a users file answers only loopback clients, as the
// anonymous guest with administrator rights on vhost "/" (the broker's own
// rule: without users, nothing beyond loopback).
package mgmt

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/ciphermq/ciphermq/broker"
	"github.com/ciphermq/ciphermq/broker/access"
	"github.com/ciphermq/ciphermq/broker/audit"
	"github.com/ciphermq/ciphermq/broker/server"
)

// MaxPageSize caps every listing, like the broker's own stats pages
// (protocol.MaxStatsEntries).
const MaxPageSize = 1000

// Options configure the handler.
type Options struct {
	// Logger receives the audit log: authentication failures, refusals and
	// administrative actions. Nil discards.
	Logger *slog.Logger
	// RateInterval is the shortest interval over which rates are computed
	// (default 1s): a sample older than this is replaced at the next
	// request.
	RateInterval time.Duration
	// OverviewMaxAge is how long a user's /api/overview totals are reused
	// (default RateInterval; negative: recomputed at every request).
	OverviewMaxAge time.Duration
	// MaxScan bounds the entries one listing request visits (default
	// 10,000; tests lower it).
	MaxScan int
}

// Handler serves the management API and the console.
type Handler struct {
	srv   *server.Server
	log   *slog.Logger
	mux   *http.ServeMux
	rates *rates
	api   []apiRoute

	overviewMaxAge time.Duration
	maxScan        int
}

// NewHandler returns the management handler for srv: /api/... and the
// console at /.
func NewHandler(srv *server.Server, opts Options) *Handler {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.RateInterval <= 0 {
		opts.RateInterval = time.Second
	}
	if opts.OverviewMaxAge == 0 {
		opts.OverviewMaxAge = opts.RateInterval
	}
	if opts.MaxScan <= 0 {
		opts.MaxScan = defaultMaxScan
	}
	h := &Handler{srv: srv, log: opts.Logger, mux: http.NewServeMux(), rates: newRates(opts.RateInterval),
		overviewMaxAge: opts.OverviewMaxAge, maxScan: opts.MaxScan}
	h.routes()
	return h
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("X-Frame-Options", "DENY")
	h.mux.ServeHTTP(w, r)
}

// user is an authenticated caller: its name, tags, and one identity per
// vhost it has permissions on.
type user struct {
	name   string
	tags   []string
	ids    map[string]*access.Identity // by vhost
	vhosts []string                    // sorted
	users  *access.DB                  // the users file it logged in with (nil: no users)
}

func (u *user) has(tag string) bool { return slices.Contains(u.tags, tag) }

// admin: may change things.
func (u *user) admin() bool { return u.has(access.TagAdministrator) }

// wide: sees every object of its vhosts and every connection.
func (u *user) wide() bool { return u.admin() || u.has(access.TagMonitoring) }

// seeQueue reports whether the user may see the core queue qname.
func (u *user) seeQueue(qname string) bool {
	vhost, local := broker.SplitQualified(qname)
	id := u.ids[vhost]
	return id != nil && id.SeeQueue(local)
}

func (u *user) seeExchange(xname string) bool {
	vhost, local := broker.SplitQualified(xname)
	id := u.ids[vhost]
	return id != nil && id.SeeExchange(local)
}

// apiError is RabbitMQ's error body.
type apiError struct {
	Error  string `json:"error"`
	Reason string `json:"reason"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(true)
	_ = enc.Encode(v)
}

func writeError(w http.ResponseWriter, status int, kind, reason string) {
	writeJSON(w, status, apiError{Error: kind, Reason: reason})
}

// errorFor maps a core refusal to an HTTP status.
func errorFor(w http.ResponseWriter, err error) {
	var be *broker.Error
	if errors.As(err, &be) {
		switch be.Code {
		case broker.CodeQueueNotFound, broker.CodeExchangeNotFound:
			writeError(w, http.StatusNotFound, "not_found", be.Msg)
		case broker.CodeInUse, broker.CodeReserved:
			writeError(w, http.StatusConflict, "conflict", be.Msg)
		case broker.CodeInvalidArgument:
			writeError(w, http.StatusBadRequest, "bad_request", be.Msg)
		default:
			writeError(w, http.StatusInternalServerError, "internal_error", be.Msg)
		}
		return
	}
	writeError(w, http.StatusInternalServerError, "internal_error", err.Error())
}

func loopback(remote string) bool {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		host = remote
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func sourceIP(remote string) string {
	if host, _, err := net.SplitHostPort(remote); err == nil {
		return host
	}
	return remote
}

// authenticate returns the caller, or writes 401/403 and returns nil.
func (h *Handler) authenticate(w http.ResponseWriter, r *http.Request) *user {
	db := h.srv.Users()
	if db == nil {
		if !loopback(r.RemoteAddr) {
			audit.Log(h.log, slog.LevelWarn, audit.AccessRefused, "management request refused: broker without users, client not on loopback", "remote", r.RemoteAddr, "path", r.URL.Path)
			writeError(w, http.StatusForbidden, "access_refused",
				"this broker has no users file: its management API answers loopback clients only; start the broker with --users")
			return nil
		}
		return &user{name: access.Guest, tags: []string{access.TagAdministrator},
			ids: map[string]*access.Identity{broker.DefaultVhost: access.Anonymous()}, vhosts: []string{broker.DefaultVhost}}
	}
	name, pass, ok := r.BasicAuth()
	if !ok {
		h.challenge(w, r, "authentication required: HTTP basic auth with a broker user")
		return nil
	}
	ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
	defer cancel()
	login, err := h.srv.AuthenticateHTTP(ctx, name, []byte(pass), r.RemoteAddr)
	if errors.Is(err, server.ErrThrottled) {
		audit.Log(h.log, slog.LevelWarn, audit.AuthFailure, "management login throttled", "remote", r.RemoteAddr, "user", name)
		w.Header().Set("Retry-After", "60")
		writeError(w, http.StatusTooManyRequests, "too_many_requests", err.Error())
		return nil
	}
	if err != nil {
		audit.Log(h.log, slog.LevelWarn, audit.AuthFailure, "management authentication failed", "remote", r.RemoteAddr, "user", name, "err", err)
		h.challenge(w, r, "authentication failed: unknown user or wrong password")
		return nil
	}
	db = login.Users
	u := &user{name: name, tags: login.Tags, ids: map[string]*access.Identity{}, users: db}
	for _, v := range db.Vhosts(name) {
		id, err := db.Identity(name, v)
		if err != nil {
			continue
		}
		u.ids[v] = id
		u.vhosts = append(u.vhosts, v)
	}
	if !u.has(access.TagManagement) && !u.has(access.TagMonitoring) && !u.has(access.TagAdministrator) {
		audit.Log(h.log, slog.LevelWarn, audit.AccessRefused, "management access refused: no management tag", "remote", r.RemoteAddr, "user", name)
		writeError(w, http.StatusForbidden, "access_refused",
			"user "+name+" has none of the tags management, monitoring or administrator (ciphermq user tag)")
		return nil
	}
	return u
}

func (h *Handler) challenge(w http.ResponseWriter, r *http.Request, reason string) {
	// The console asks for credentials in its own form: no browser prompt.
	if r.Header.Get("X-CipherMQ-Console") == "" {
		w.Header().Set("WWW-Authenticate", `Basic realm="CipherMQ management", charset="UTF-8"`)
	}
	writeError(w, http.StatusUnauthorized, "not_authorized", reason)
}

// authed wraps a read handler.
func (h *Handler) authed(fn func(http.ResponseWriter, *http.Request, *user)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		u := h.authenticate(w, r)
		if u == nil {
			return
		}
		fn(w, r, u)
	}
}

// adminOnly wraps a handler that changes the broker: the administrator tag,
// and a JSON content type on bodies (so that a cross-site form cannot post
// with a browser's cached credentials).
func (h *Handler) adminOnly(action string, fn func(http.ResponseWriter, *http.Request, *user)) http.HandlerFunc {
	return h.authed(func(w http.ResponseWriter, r *http.Request, u *user) {
		if !u.admin() {
			audit.Log(h.log, slog.LevelWarn, audit.AccessRefused, "management action refused: not an administrator", "remote", r.RemoteAddr, "user", u.name, "action", action, "path", r.URL.Path)
			writeError(w, http.StatusForbidden, "access_refused", "user "+u.name+" may not "+action+": that needs the administrator tag")
			return
		}
		if r.Method == http.MethodPost && !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
			writeError(w, http.StatusUnsupportedMediaType, "bad_request", "send a JSON body (Content-Type: application/json)")
			return
		}
		fn(w, r, u)
	})
}
