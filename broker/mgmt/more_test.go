package mgmt_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/ciphermq/ciphermq/broker/access"
	"github.com/ciphermq/ciphermq/broker/mgmt"
	"github.com/ciphermq/ciphermq/broker/mgmt/mgmttest"
	"github.com/ciphermq/ciphermq/broker/server"
	"github.com/ciphermq/ciphermq/clients"
)

// Queues of another vhost are listed under their vhost and local names,
// addressed as /api/queues/{vhost}/{name}, and invisible to a user
// without permissions there.
func TestAPIVhosts(t *testing.T) {
	b := mgmttest.Start(t, server.DefaultConfig(), []mgmttest.User{
		{Name: "ops", Password: "ops-pw", Tags: []string{access.TagMonitoring},
			Permissions: map[string]access.Permissions{"/": mgmttest.AllPermissions, "shop": mgmttest.AllPermissions}},
		{Name: "root", Password: "root-pw", Tags: []string{access.TagMonitoring},
			Permissions: map[string]access.Permissions{"/": mgmttest.AllPermissions}},
	}, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	conn, err := clients.Dial(ctx, b.Addr, clients.Options{User: "ops", Password: "ops-pw", Vhost: "shop"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for _, q := range []string{"a", "b", "c"} {
		if err := conn.DeclareQueue(ctx, q, clients.QueueOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	var qs []queueView
	wantStatus(t, call(t, b, "ops", "GET", "/api/queues/shop", nil, &qs), 200)
	if len(qs) != 3 || qs[0].Vhost != "shop" || qs[0].Name != "a" || qs[2].Name != "c" {
		t.Fatalf("vhost shop: %+v", qs)
	}
	// Paging inside a vhost, through cursors holding the vhost separator.
	var names []string
	after := ""
	for range 5 {
		var page []queueView
		resp := call(t, b, "ops", "GET", "/api/queues/shop?page_size=2&after="+url.QueryEscape(after), nil, &page)
		wantStatus(t, resp, 200)
		for _, q := range page {
			names = append(names, q.Vhost+":"+q.Name)
		}
		if after = resp.Header.Get(mgmt.NextHeader); after == "" {
			break
		}
	}
	if strings.Join(names, ",") != "shop:a,shop:b,shop:c" {
		t.Fatalf("paged vhost listing %v", names)
	}
	// All of ops' vhosts: the default vhost's queues and shop's.
	wantStatus(t, call(t, b, "ops", "GET", "/api/queues", nil, &qs), 200)
	if len(qs) != 5 {
		t.Fatalf("ops sees %d queues, want default_queue and its dead-letter queue in / and 3 in shop: %+v", len(qs), qs)
	}
	var q queueView
	wantStatus(t, call(t, b, "ops", "GET", "/api/queues/shop/b", nil, &q), 200)
	if q.Vhost != "shop" || q.Name != "b" {
		t.Fatalf("queue shop/b: %+v", q)
	}
	// root has no permissions on shop: it does not exist for root.
	wantStatus(t, call(t, b, "root", "GET", "/api/queues/shop", nil, nil), 404)
	wantStatus(t, call(t, b, "root", "GET", "/api/queues/shop/b", nil, nil), 404)
	wantStatus(t, call(t, b, "root", "GET", "/api/queues", nil, &qs), 200)
	for _, q := range qs {
		if q.Vhost != "/" {
			t.Fatalf("root sees %+v", q)
		}
	}
	var conns []struct{ Vhost string }
	wantStatus(t, call(t, b, "root", "GET", "/api/connections", nil, &conns), 200)
	if len(conns) != 0 {
		t.Fatalf("root sees a connection of vhost shop: %+v", conns)
	}
	wantStatus(t, call(t, b, "ops", "GET", "/api/connections", nil, &conns), 200)
	if len(conns) != 1 || conns[0].Vhost != "shop" {
		t.Fatalf("ops sees connections %+v, want its one on vhost shop", conns)
	}
}

// Failed logins are throttled per address like broker logins.
func TestAPILoginThrottling(t *testing.T) {
	cfg := server.DefaultConfig()
	cfg.Auth.AuthFailureLimit = 2
	b := mgmttest.Start(t, cfg, []mgmttest.User{{Name: "u", Password: "pw", Tags: []string{access.TagMonitoring},
		Permissions: map[string]access.Permissions{"/": mgmttest.AllPermissions}}}, nil)
	status := func(pw string) int {
		req, _ := http.NewRequest("GET", b.URL+"/api/whoami", nil)
		req.SetBasicAuth("u", pw)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if s := status("pw"); s != 200 {
		t.Fatalf("good password: %d", s)
	}
	for range 2 {
		if s := status("wrong"); s != 401 {
			t.Fatalf("wrong password: %d", s)
		}
	}
	if s := status("pw"); s != 429 {
		t.Fatalf("after 2 failures even the good password should be throttled: %d", s)
	}
}

// The alarms check fails while the memory alarm is on.
func TestAPIAlarmsCheckFailsOnMemoryAlarm(t *testing.T) {
	cfg := server.DefaultConfig()
	cfg.MemoryHighWatermark, cfg.MemoryLowWatermark = 64<<10, 32<<10
	b := mgmttest.Start(t, cfg, nil, nil)
	var st map[string]any
	wantStatus(t, call(t, b, "", "GET", "/api/health/checks/alarms", nil, &st), 200)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	conn, err := clients.Dial(ctx, b.Addr, clients.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	pub, err := conn.NewPublisher(clients.PublisherOptions{Exchange: "default_exchange", RoutingKey: "default_key"})
	if err != nil {
		t.Fatal(err)
	}
	body := make([]byte, 16<<10)
	for i := 0; !b.Server.Health().MemoryAlarm; i++ {
		if i > 64 {
			t.Fatal("no memory alarm after 1 MiB of messages over a 64 KiB budget")
		}
		c, err := pub.Publish(ctx, "m"+string(rune('a'+i%26))+string(rune('a'+i/26)), body)
		if err != nil {
			t.Fatal(err)
		}
		select {
		case <-c.Done():
		case <-time.After(100 * time.Millisecond): // blocked by the alarm: check it
		}
	}
	wantStatus(t, call(t, b, "", "GET", "/api/health/checks/alarms", nil, &st), 503)
	if !strings.Contains(st["reason"].(string), "memory alarm") {
		t.Fatalf("alarms: %v", st)
	}
}

// Connections page by number, following the cursor.
func TestAPIConnectionPages(t *testing.T) {
	b := mgmttest.Start(t, server.DefaultConfig(), nil, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for range 3 {
		conn, err := clients.Dial(ctx, b.Addr, clients.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
	}
	waitFor(t, "three connections", func() bool { return b.Server.Stats().Connections == 3 })
	var names []string
	after := ""
	pages := 0
	for {
		var page []struct{ Name string }
		resp := call(t, b, "", "GET", "/api/connections?page_size=2&after="+url.QueryEscape(after), nil, &page)
		wantStatus(t, resp, 200)
		pages++
		for _, c := range page {
			names = append(names, c.Name)
		}
		if after = resp.Header.Get(mgmt.NextHeader); after == "" || pages > 5 {
			break
		}
	}
	if len(names) != 3 || pages != 2 || names[0] == names[1] || names[1] == names[2] {
		t.Fatalf("connections over %d pages: %v", pages, names)
	}
}
