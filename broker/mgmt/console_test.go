package mgmt_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/ciphermq/ciphermq/broker/mgmt/mgmttest"
	"github.com/ciphermq/ciphermq/broker/server"
)

// chromiumPath finds a Chromium (Debian's chromium package, which .ci/run
// installs) or Chrome.
func chromiumPath() string {
	if p := os.Getenv("CIPHERMQ_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// artifactDir is where screenshots go: $CIPHERMQ_ARTIFACTS/console, else a
// test temporary directory (named in the log).
func artifactDir(t *testing.T) string {
	dir := t.TempDir()
	if a := os.Getenv("CIPHERMQ_ARTIFACTS"); a != "" {
		dir = filepath.Join(a, "console")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("console screenshots in %s", dir)
	return dir
}

// TestConsoleInChromium drives the console in a real headless Chromium:
// the overview loads without console errors, the queues page shows the
// API's numbers after a scripted workload, the close button closes that
// connection (the client sees it), and each page is saved as a screenshot.
func TestConsoleInChromium(t *testing.T) {
	exe := chromiumPath()
	if exe == "" {
		t.Skip("no Chromium found (chromium, chromium-browser or google-chrome on PATH, or $CIPHERMQ_CHROMIUM): " +
			"install Debian's chromium package; .ci/run installs it so CI runs this test")
	}
	b := mgmttest.Start(t, server.DefaultConfig(), testUsers, nil)
	clientLog := &logCapture{}
	workload(t, b, clientLog)
	shots := artifactDir(t)

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe),
		chromedp.NoSandbox, // CI containers run as root
		chromedp.DisableGPU,
		chromedp.WindowSize(1280, 900),
	)
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelA()
	ctx, cancelC := chromedp.NewContext(actx)
	defer cancelC()
	ctx, cancelT := context.WithTimeout(ctx, time.Minute)
	defer cancelT()

	var (
		mu       sync.Mutex
		problems []string
	)
	// The first Run starts the browser and the tab; events are recorded
	// from then on.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Listen(ctx, func(ev any) {
		mu.Lock()
		defer mu.Unlock()
		switch e := ev.(type) {
		case *runtime.EventExceptionThrown:
			d := e.ExceptionDetails
			msg := d.Text
			if d.Exception != nil {
				msg += " " + d.Exception.Description
			}
			problems = append(problems, "exception: "+msg)
		case *runtime.EventConsoleAPICalled:
			if e.Type == runtime.ConsoleAPICalledTypeError || e.Type == runtime.ConsoleAPICalledTypeWarning {
				var args []string
				for _, a := range e.Args {
					args = append(args, string(a.Value)+a.Description)
				}
				problems = append(problems, fmt.Sprintf("console.%s: %s", e.Type, strings.Join(args, " ")))
			}
		case *log.EventEntryAdded:
			if e.Entry.Level == log.EntryLevelError {
				problems = append(problems, "log: "+e.Entry.Text+" "+e.Entry.URL)
			}
		}
	}); err != nil {
		t.Fatal(err)
	}
	checkClean := func(where string) {
		t.Helper()
		mu.Lock()
		defer mu.Unlock()
		if len(problems) > 0 {
			t.Fatalf("%s: browser console errors: %s", where, strings.Join(problems, "; "))
		}
	}
	shot := func(name string) chromedp.Action[chromedp.Void] {
		return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			png, err := chromedp.FullScreenshot(100)(ctx, tg)
			if err != nil {
				return err
			}
			return os.WriteFile(filepath.Join(shots, name+".png"), png, 0o644)
		})
	}
	run := func(steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, steps...); err != nil {
			t.Fatal(err)
		}
	}
	text := func(sel string) string {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	// The console is one page: later pages are hash changes, which load
	// nothing (chromedp.Navigate would wait for a load event forever).
	hash := func(h string) chromedp.Action[chromedp.Void] {
		return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := chromedp.Evaluate[string](fmt.Sprintf(`location.hash = %q`, h))(ctx, tg)
			return err
		})
	}
	creds := base64.StdEncoding.EncodeToString([]byte("admin:" + b.Users["admin"]))

	// Sign in the way the login form does (credentials in sessionStorage),
	// so the first API call is authenticated and logs no 401.
	run(chromedp.Navigate(b.URL + "/style.css"))
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](fmt.Sprintf(`sessionStorage.setItem("cmq-auth", %q), true`, creds))); err != nil {
		t.Fatal(err)
	}
	run(chromedp.Navigate(b.URL+"/#overview"),
		chromedp.WaitVisible(chromedp.ID("ov-ready")),
		chromedp.WaitVisible(chromedp.ID("health-table")),
		chromedp.WaitVisible(chromedp.ID("rates-chart")))
	ready, who := text("#ov-ready"), text("#who")
	run(shot("overview"))
	var ov struct {
		QueueTotals map[string]int `json:"queue_totals"`
	}
	call(t, b, "admin", "GET", "/api/overview", nil, &ov)
	if ready != fmt.Sprint(ov.QueueTotals["messages_ready"]) || !strings.Contains(who, "admin") {
		t.Fatalf("overview shows ready %q (API %d), user %q", ready, ov.QueueTotals["messages_ready"], who)
	}
	checkClean("overview")

	// The queues page shows the API's numbers.
	run(hash("#queues"), chromedp.WaitVisible(chromedp.CSS(`tr[data-name="orders.dlq"] td.ready`)))
	shown, err := chromedp.Run(ctx, chromedp.Evaluate[string](`JSON.stringify([...document.querySelectorAll("#queues-table tr[data-name]")].map(r => ({
		vhost: r.dataset.vhost, name: r.dataset.name, ready: +r.querySelector(".ready").textContent,
		unacked: +r.querySelector(".unacked").textContent, consumers: +r.querySelector(".consumers").textContent })))`))
	if err != nil {
		t.Fatal(err)
	}
	run(shot("queues"))
	var rows []struct {
		Vhost, Name               string
		Ready, Unacked, Consumers int
	}
	if err := json.Unmarshal([]byte(shown), &rows); err != nil {
		t.Fatal(err)
	}
	var api []queueView
	call(t, b, "admin", "GET", "/api/queues", nil, &api)
	if len(rows) != len(api) || len(rows) == 0 {
		t.Fatalf("queues page shows %d rows, API lists %d", len(rows), len(api))
	}
	for i, q := range api {
		r := rows[i]
		if r.Vhost != q.Vhost || r.Name != q.Name || r.Ready != q.Ready || r.Unacked != q.Unacked || r.Consumers != q.Consumers {
			t.Errorf("row %d: page %+v, API %+v", i, r, q)
		}
	}
	checkClean("queues")

	// A queue's detail: bindings, consumers, dead-lettered messages.
	run(hash("#queue/%2F/orders"), chromedp.WaitVisible(chromedp.ID("dead-letters")))
	dlRows, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("#dead-letters tr").length - 1`))
	if err != nil {
		t.Fatal(err)
	}
	run(shot("queue-detail"))
	if dlRows != 3 {
		t.Fatalf("queue detail lists %d dead-lettered messages, want 3", dlRows)
	}
	// The reason column: the workload rejected with no reason.
	reasons, err := chromedp.Run(ctx, chromedp.Evaluate[string](`Array.from(document.querySelectorAll("#dead-letters tr")).slice(1).map((r) => r.cells[2].textContent).join(",")`))
	if err != nil {
		t.Fatal(err)
	}
	if reasons != "unknown,unknown,unknown" {
		t.Fatalf("reason column %q, want unknown for each (rejected without a reason)", reasons)
	}
	checkClean("queue detail")

	// Health page.
	run(hash("#health"), chromedp.WaitVisible(chromedp.ID("health-table")), shot("health"))
	checkClean("health")

	// Connections: the close button closes the workload's connection.
	var conns []struct{ Name, User string }
	call(t, b, "admin", "GET", "/api/connections", nil, &conns)
	if len(conns) != 1 {
		t.Fatalf("connections %+v, want the workload's only", conns)
	}
	sel := fmt.Sprintf(`button.close-conn[data-conn="%s"]`, conns[0].Name)
	run(hash("#connections"), chromedp.WaitVisible(chromedp.CSS(sel)), shot("connections"), chromedp.Click(chromedp.CSS(sel)))
	if label := text(sel); label != "Confirm close" {
		t.Fatalf("after one click the button says %q, want a confirmation", label)
	}
	if clientLog.find("closed by administrator") {
		t.Fatal("one click closed the connection without confirmation")
	}
	run(chromedp.Click(chromedp.CSS(sel)))
	waitFor(t, "the client to see the close", func() bool { return clientLog.find("closed by administrator admin") })
	// The page drops the closed connection's row at its next refresh (the
	// client reconnects under a new name).
	run(chromedp.WaitNotPresent(chromedp.CSS(fmt.Sprintf(`tr[data-conn="%s"]`, conns[0].Name))), shot("connections-after-close"))
	checkClean("connections")
}
