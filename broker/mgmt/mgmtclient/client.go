// Package mgmtclient is the client of the broker's management API
// (broker/mgmt; docs/operations.md) behind `ciphermq ctl`: requests with
// basic auth and a deadline each, paged listings, and the tables the
// command prints. It imports nothing of the broker: it speaks HTTP and
// JSON only (the paging header's name is held equal to broker/mgmt's by a
// test).
package mgmtclient

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// NextHeader names the cursor of the next page of a listing (the same as
// broker/mgmt.NextHeader).
const NextHeader = "X-CipherMQ-Next-After"

// URLEnv is the environment variable `ciphermq ctl` reads the API's base
// URL from; the error of an unreachable API names it.
const URLEnv = "CIPHERMQ_MGMT_URL"

// maxAnswer bounds the answer read from the API.
const maxAnswer = 64 << 20

// Client talks to one broker's management API.
type Client struct {
	BaseURL        string // e.g. http://127.0.0.1:15672
	User, Password string // basic auth when User is set
	// Timeout bounds each request (0: none beyond the caller's context).
	Timeout time.Duration
	// HTTP is the client used (default http.DefaultClient).
	HTTP *http.Client
}

// Do performs one request: body (if not nil) is sent as JSON, the JSON
// answer is decoded into out (if not nil), and hdr adds request headers.
// It returns the answer's headers. An answer of HTTP 300 or more is an
// error carrying the API's reason when it gave one.
func (c *Client) Do(ctx context.Context, method, path string, body, out any, hdr http.Header) (http.Header, error) {
	if c.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.Timeout)
		defer cancel()
	}
	var rd io.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		if err != nil {
			return nil, fmt.Errorf("%s %s: %w", method, path, err)
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimSuffix(c.BaseURL, "/")+path, rd)
	if err != nil {
		return nil, fmt.Errorf("--url %q: %w", c.BaseURL, err)
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.User != "" {
		req.SetBasicAuth(c.User, c.Password)
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("management API at %s: %w (is the broker running, and its --http-listen at this address? set --url or $%s)", c.BaseURL, err, URLEnv)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode >= 300 {
		var e struct{ Error, Reason string }
		if json.Unmarshal(raw, &e) == nil && e.Reason != "" {
			return nil, fmt.Errorf("%s %s: %s (%s, HTTP %d)", method, path, e.Reason, e.Error, resp.StatusCode)
		}
		return nil, fmt.Errorf("%s %s: HTTP %d", method, path, resp.StatusCode)
	}
	if out != nil && len(raw) > 0 {
		if err := json.Unmarshal(raw, out); err != nil {
			return nil, fmt.Errorf("%s %s: bad JSON answer: %w", method, path, err)
		}
	}
	return resp.Header, nil
}

// QueuePath is the API path of a queue ("" vhost: "/").
func QueuePath(vhost, name string) string {
	if vhost == "" {
		vhost = "/"
	}
	return "/api/queues/" + url.PathEscape(vhost) + "/" + url.PathEscape(name)
}

// List fetches every page of a listing: what is queues, exchanges,
// bindings, connections or consumers; vhost ("" for all) narrows it. The
// result is never nil.
func (c *Client) List(ctx context.Context, what, vhost string) ([]map[string]any, error) {
	path := "/api/" + what
	if vhost != "" {
		path += "/" + url.PathEscape(vhost)
	}
	all := []map[string]any{}
	after := ""
	for {
		var page []map[string]any
		p := path
		if after != "" {
			p += "?after=" + url.QueryEscape(after)
		}
		h, err := c.Do(ctx, "GET", p, nil, &page, nil)
		if err != nil {
			return nil, err
		}
		all = append(all, page...)
		if after = h.Get(NextHeader); after == "" {
			return all, nil
		}
	}
}

// DeadLetters is a queue's dead-letter queue as the API lists it
// (metadata only).
type DeadLetters struct {
	Queue    string           `json:"queue"`
	Total    int              `json:"total"`
	Messages []map[string]any `json:"messages"`
}

// DeadLetters fetches every page (100 at a time) of the dead-lettered
// messages of the queue at queuePath (QueuePath). Messages is never nil.
func (c *Client) DeadLetters(ctx context.Context, queuePath string) (DeadLetters, error) {
	var all DeadLetters
	for offset := 0; ; {
		var page DeadLetters
		if _, err := c.Do(ctx, "GET", fmt.Sprintf("%s/dead-letters?limit=100&offset=%d", queuePath, offset), nil, &page, nil); err != nil {
			return DeadLetters{}, err
		}
		all.Queue, all.Total = page.Queue, page.Total
		all.Messages = append(all.Messages, page.Messages...)
		offset += len(page.Messages)
		if len(page.Messages) == 0 || offset >= page.Total {
			break
		}
	}
	if all.Messages == nil {
		all.Messages = []map[string]any{}
	}
	return all, nil
}

// Overview fetches /api/overview without its rate history.
func (c *Client) Overview(ctx context.Context) (map[string]any, error) {
	var o map[string]any
	if _, err := c.Do(ctx, "GET", "/api/overview", nil, &o, nil); err != nil {
		return nil, err
	}
	delete(o, "rate_history")
	return o, nil
}
