package testutil

import (
	"testing"
	"time"
)

func TestEventuallyWaitsForTheCondition(t *testing.T) {
	n := 0
	Eventually(t, "the third poll", time.Minute, func() bool { n++; return n == 3 })
	if n != 3 {
		t.Fatalf("polled %d times, want 3", n)
	}
}

// fatalRecorder records Fatalf instead of ending the test.
type fatalRecorder struct {
	testing.TB
	failed bool
}

func (f *fatalRecorder) Helper() {}
func (f *fatalRecorder) Fatalf(string, ...any) {
	f.failed = true
	panic(f)
}

func TestEventuallyFailsAtItsDeadline(t *testing.T) {
	r := &fatalRecorder{TB: t}
	func() {
		defer func() {
			if p := recover(); p != r {
				panic(p)
			}
		}()
		Eventually(r, "a condition that never holds", 10*time.Millisecond, func() bool { return false })
	}()
	if !r.failed {
		t.Fatal("Eventually returned without failing although the condition never held")
	}
}
