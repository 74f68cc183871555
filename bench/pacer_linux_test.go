package bench

import (
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
	"time"
)

// osThreads is the process's OS thread count, from /proc/self/status.
func osThreads(t *testing.T) int {
	t.Helper()
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.SplitSeq(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "Threads:"); ok {
			n, err := strconv.Atoi(strings.TrimSpace(v))
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatal("no Threads line in /proc/self/status")
	return 0
}

// An open-loop run with more publishers than maxPacingThreads locks no
// thread per publisher: under a thread limit it could not otherwise stay
// inside, the run completes. (Over the limit the runtime kills the whole
// process: this test then fails by crashing.)
func TestOpenLoopWithManyPublishersStaysInsideTheThreadLimit(t *testing.T) {
	tg := openInproc(t)
	const publishers = 4 * maxPacingThreads
	limit := osThreads(t) + publishers/2
	defer debug.SetMaxThreads(debug.SetMaxThreads(limit))
	res := runOrFail(t, tg, Config{Duration: 300 * time.Millisecond, Rate: 2000, Publishers: publishers})
	if !res.OK() || res.Confirmed == 0 {
		t.Fatalf("open-loop run with %d publishers: %+v error %q", publishers, res.Tally, res.Error)
	}
}
