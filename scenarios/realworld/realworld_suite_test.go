package realworld_test

import (
	"context"
	"os"
	"strconv"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/ciphermq/ciphermq/scenarios/realworld"
)

// TestRealWorld runs the real-process scenario specs under plain `go test`.
func TestRealWorld(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real broker, sender and receiver processes for about a minute; run without -short")
	}
	RegisterFailHandler(Fail)
	RunSpecs(t, "real-process scenarios")
}

// bin is the ciphermq binary every spec starts, built once per suite.
var bin string

var _ = BeforeSuite(func(ctx SpecContext) {
	dir, err := os.MkdirTemp("", "ciphermq-realworld-bin-")
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(os.RemoveAll, dir)
	bin, err = realworld.BuildBinary(ctx, dir)
	Expect(err).NotTo(HaveOccurred())
}, NodeTimeout(3*time.Minute))

// suiteSeed is the seed of every run: CIPHERMQ_SCENARIO_SEED to replay,
// otherwise ginkgo's random seed (printed at the top of the run).
func suiteSeed() uint64 {
	if s := os.Getenv("CIPHERMQ_SCENARIO_SEED"); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		Expect(err).NotTo(HaveOccurred(), "CIPHERMQ_SCENARIO_SEED must be an unsigned integer")
		return n
	}
	return uint64(GinkgoRandomSeed())
}

// run runs a scenario and removes its directory afterwards unless the spec
// failed (then the path is in the failure message).
func run(ctx context.Context, sc realworld.Scenario, cfg realworld.Config) realworld.Result {
	cfg.Binary = bin
	cfg.Keep = true // the spec decides below, once it knows its verdict
	res, err := realworld.Run(ctx, sc, cfg)
	DeferCleanup(func() {
		if !CurrentSpecReport().Failed() && res.Dir != "" {
			os.RemoveAll(res.Dir)
		}
	})
	AddReportEntry("replay", "ciphermq scenario run "+sc.Name+" --seed "+strconv.FormatUint(cfg.Seed, 10))
	if err != nil {
		// The report is still worth reading: say both.
		Fail("the run did not complete: " + err.Error() + "\n" + res.Describe())
	}
	return res
}
