package testutil

import (
	"testing"
	"time"
)

// Eventually polls cond until it holds, failing the test if it does not
// within timeout. The pause between polls is only the polling interval:
// correctness rests on the condition, never on how long a test slept.
func Eventually(t testing.TB, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}
