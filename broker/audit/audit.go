// Package audit marks security-relevant log records: authentication
// failures, permission refusals and administrative actions. Every such
// record carries the attribute audit=true and an event attribute from the
// fixed set below, so that a log pipeline can route them with one filter
// (docs/operations.md, "Audit log"). It is a convention over log/slog, not a
// separate sink: the records go wherever the broker's logger writes.
package audit

import (
	"context"
	"log/slog"
)

// Key is the attribute every audit record carries with the value true.
const Key = "audit"

// Event names, the value of the "event" attribute.
const (
	// AuthFailure: a login (a client connection or an HTTP request) was
	// refused: wrong or unknown credentials, a throttled address, a full
	// verification queue, a user without access to the vhost.
	AuthFailure = "auth_failure"
	// AccessRefused: an authenticated user asked for an operation its
	// permissions or tags do not allow.
	AccessRefused = "access_refused"
	// Admin: an administrative action (a reload of users or certificates,
	// a connection closed, a queue purged or deleted by an operator).
	Admin = "admin"
)

// Log writes one audit record at level with the attributes audit=true and
// event, then args (key-value pairs, as slog.Logger.Log). By convention
// args name "user", "remote" and, where they apply, "vhost", "resource"
// and "reason".
func Log(l *slog.Logger, level slog.Level, event, msg string, args ...any) {
	if l == nil || !l.Enabled(context.Background(), level) {
		return
	}
	all := make([]any, 0, 4+len(args))
	all = append(all, Key, true, "event", event)
	l.Log(context.Background(), level, msg, append(all, args...)...)
}
