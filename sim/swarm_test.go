package sim

import (
	"fmt"
	"testing"
)

func TestSwarmSeedsPass(t *testing.T) {
	fails := 0
	for seed := uint64(1); seed <= 60; seed++ {
		res := Run(Config{Seed: seed, Swarm: true})
		if res.Err != nil || !res.Report.OK() {
			fails++
			t.Errorf("seed %d: %v %s | %s | conv %v stats %+v", seed, res.Err, res.Report.Summary(), res.Plan.String(), res.Converged, res.Stats)
		}
	}
	fmt.Println("fails", fails)
}
