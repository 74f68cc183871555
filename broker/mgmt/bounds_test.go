package mgmt_test

import (
	"fmt"
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/ciphermq/ciphermq/broker"
	"github.com/ciphermq/ciphermq/broker/access"
	"github.com/ciphermq/ciphermq/broker/mgmt"
	"github.com/ciphermq/ciphermq/broker/mgmt/mgmttest"
	"github.com/ciphermq/ciphermq/broker/server"
)

// declare creates queues and direct exchanges of the given names in vhost /,
// each queue bound to the exchange "x".
func declare(t *testing.T, b *mgmttest.Broker, queues ...string) {
	t.Helper()
	b.Server.Admin(func(core *broker.Core, _ time.Time) {
		core.DeclareExchange("x", broker.Direct) // again: no change
		for _, q := range queues {
			if err := core.DeclareQueue(q, broker.QueueOptions{}); err != nil {
				t.Error(err)
			}
			if err := core.Bind("x", q, q); err != nil {
				t.Error(err)
			}
		}
	})
}

// follow reads every page of path as user and returns the names and the
// number of requests.
func follow(t *testing.T, b *mgmttest.Broker, user, path, field string) ([]string, int) {
	t.Helper()
	var names []string
	after := ""
	for n := 1; ; n++ {
		var page []map[string]any
		resp := call(t, b, user, "GET", path+"?after="+url.QueryEscape(after), nil, &page)
		wantStatus(t, resp, 200)
		for _, e := range page {
			names = append(names, fmt.Sprint(e[field]))
		}
		if after = resp.Header.Get(mgmt.NextHeader); after == "" {
			return names, n
		}
		if n > 1000 {
			t.Fatalf("%s: no end after %d pages", path, n)
		}
	}
}

// A user who may see few of many objects gets short pages and cursors: a
// request visits at most MaxScan entries, and following the cursors still
// lists every visible entry once.
func TestListingScanIsBounded(t *testing.T) {
	b := mgmttest.StartWith(t, server.DefaultConfig(), []mgmttest.User{
		{Name: "admin", Password: "admin-pw", Tags: []string{access.TagAdministrator}, Permissions: map[string]access.Permissions{"/": mgmttest.AllPermissions}},
		{Name: "few", Password: "few-pw", Tags: []string{access.TagManagement}, Permissions: map[string]access.Permissions{"/": {Configure: "zz.*", Write: "zz.*|x", Read: "zz.*|x"}}},
	}, mgmt.Options{MaxScan: 5})
	var qs []string
	for i := range 23 {
		qs = append(qs, fmt.Sprintf("q%02d", i))
	}
	declare(t, b, append(qs, "zz1")...)

	names, requests := follow(t, b, "few", "/api/queues", "name")
	if !slices.Equal(names, []string{"zz1"}) {
		t.Fatalf("few's queues: %v", names)
	}
	if requests < 5 {
		t.Fatalf("%d requests for %d queues with MaxScan 5: the scan was not bounded", requests, len(qs)+3)
	}
	names, _ = follow(t, b, "few", "/api/bindings", "destination")
	if !slices.Equal(names, []string{"zz1"}) {
		t.Fatalf("few's bindings: %v", names)
	}
	// The administrator sees every queue once across the short pages.
	names, _ = follow(t, b, "admin", "/api/queues", "name")
	var want []string
	b.Server.Admin(func(core *broker.Core, _ time.Time) {
		core.EachQueue("", func(q broker.QueueStats) bool { want = append(want, q.Name); return true })
	})
	if !slices.Equal(names, want) {
		t.Fatalf("admin's queues:\n%v\nwant\n%v", names, want)
	}
	names, _ = follow(t, b, "admin", "/api/bindings", "destination")
	var bs []string
	b.Server.Admin(func(core *broker.Core, _ time.Time) {
		core.EachBinding("", "", "", func(bi broker.BindingInfo) bool { bs = append(bs, bi.Queue); return true })
	})
	if !slices.Equal(names, bs) {
		t.Fatalf("admin's bindings:\n%v\nwant\n%v", names, bs)
	}
	var xs []string
	b.Server.Admin(func(core *broker.Core, _ time.Time) {
		core.EachExchange("", func(e broker.ExchangeStats) bool { xs = append(xs, e.Name); return true })
	})
	names, _ = follow(t, b, "admin", "/api/exchanges", "name")
	if len(names) != len(xs) {
		t.Fatalf("admin's exchanges: %v, want %v", names, xs)
	}
}

// The overview's totals are reused for OverviewMaxAge per user, and each
// user's totals are its own.
func TestOverviewTotalsPerUserAndReused(t *testing.T) {
	b := mgmttest.StartWith(t, server.DefaultConfig(), []mgmttest.User{
		{Name: "admin", Password: "admin-pw", Tags: []string{access.TagAdministrator}, Permissions: map[string]access.Permissions{"/": mgmttest.AllPermissions}},
		{Name: "few", Password: "few-pw", Tags: []string{access.TagManagement}, Permissions: map[string]access.Permissions{"/": {Read: "zz.*"}}},
	}, mgmt.Options{OverviewMaxAge: time.Hour})
	type ov struct {
		ObjectTotals map[string]int `json:"object_totals"`
	}
	queues := func(user string) int {
		var o ov
		wantStatus(t, call(t, b, user, "GET", "/api/overview", nil, &o), 200)
		return o.ObjectTotals["queues"]
	}
	declare(t, b, "a", "zz1")
	adminBefore, fewBefore := queues("admin"), queues("few")
	if fewBefore != 1 || adminBefore < 2 {
		t.Fatalf("queues seen: admin %d, few %d", adminBefore, fewBefore)
	}
	declare(t, b, "b", "zz2")
	if a, f := queues("admin"), queues("few"); a != adminBefore || f != fewBefore {
		t.Fatalf("totals recomputed within OverviewMaxAge: admin %d, few %d", a, f)
	}

	// Without reuse, every request sums again.
	b2 := mgmttest.StartWith(t, server.DefaultConfig(), nil, mgmt.Options{OverviewMaxAge: -1})
	before := queues2(t, b2)
	declare(t, b2, "c")
	if after := queues2(t, b2); after != before+1 {
		t.Fatalf("queues %d then %d after declaring one", before, after)
	}
}

func queues2(t *testing.T, b *mgmttest.Broker) int {
	var o struct {
		ObjectTotals map[string]int `json:"object_totals"`
	}
	wantStatus(t, call(t, b, "", "GET", "/api/overview", nil, &o), 200)
	return o.ObjectTotals["queues"]
}
