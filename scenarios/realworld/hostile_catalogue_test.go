package realworld

import (
	"context"
	"testing"
	"time"
)

// TestHostileCatalogue runs the short variant of every hostile-client
// catalogue entry against a real broker process with a canary beside it
// (docs/testing.md, "Hostile-client catalogue"). The long variants run
// through `ciphermq scenario hostile run NAME --long`.
func TestHostileCatalogue(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: builds the ciphermq binary and runs real broker processes for tens of seconds; .ci/run runs it without -short")
	}
	bctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	bin, err := BuildBinary(bctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range HostileCatalogue() {
		t.Run(a.Name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
			defer cancel()
			res, err := RunHostile(ctx, a, HostileConfig{Binary: bin, Dir: t.TempDir()})
			t.Log("\n" + res.Describe())
			if err != nil {
				t.Fatalf("%v\nbroker log:\n%s", err, res.BrokerLog)
			}
			if err := a.Check(res); err != nil {
				t.Fatalf("%v\nbroker log:\n%s", err, res.BrokerLog)
			}
		})
	}
}
