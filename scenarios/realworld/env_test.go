package realworld

import (
	"testing"
	"time"

	"github.com/ciphermq/ciphermq/faults/proxy"
)

func TestDescribeDirListsOnlyActiveFaults(t *testing.T) {
	if got := describeDir(proxy.DirFaults{}); got != "none" {
		t.Fatalf("zero faults = %q", got)
	}
	got := describeDir(proxy.DirFaults{Latency: 4 * time.Millisecond, Jitter: time.Millisecond, BlackHole: true, ResetProb: 0.01})
	if got != "latency=4ms±1ms reset=0.01 black-hole" {
		t.Fatalf("describe = %q", got)
	}
}
