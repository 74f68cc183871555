package sim

import (
	"testing"
)

// TestWorkloadDrawsApplyOnlyToUnsetFields: a swarm seed's drawn settings
// replace only what the caller left at zero, FixedWorkload and non-swarm
// runs keep the workload as given, and a seed draws the same settings
// every time.
func TestWorkloadDrawsApplyOnlyToUnsetFields(t *testing.T) {
	d := workloadDraw{prefetch: 3, maxLength: -1, maxBytes: 16 << 10, minBody: 256, maxBody: 2048, slowBatch: 0.05, durable: true}
	work := Workload{}.withDefaults()
	if !d.apply(Workload{}, &work) {
		t.Fatal("no draw applied to an empty workload")
	}
	// Slow and durable runs keep the default prefetch (slowMinPrefetch).
	if work.Prefetch != DefaultWorkload().Prefetch || work.MaxLength != -1 || work.MaxBytes != 16<<10 || work.MinBody != 256 ||
		work.MaxBody != 2048 || work.SlowBatch != 0.05 || !work.Durable {
		t.Fatalf("drawn workload %s", work.describe())
	}
	fast := d
	fast.slowBatch, fast.durable = 0, false
	work = Workload{}.withDefaults()
	if fast.apply(Workload{}, &work); work.Prefetch != 3 {
		t.Fatalf("prefetch %d, drew 3 without slow batches", work.Prefetch)
	}
	raw := Workload{Prefetch: 7, MaxLength: 30, MaxBytes: -1, MaxBody: 100, SlowBatch: 0.5, Durable: true}
	work = raw.withDefaults()
	if d.apply(raw, &work) {
		t.Fatalf("a draw replaced a field the caller set: %s", work.describe())
	}
	if work.Prefetch != 7 || work.MaxLength != 30 || work.MaxBytes != -1 || work.MaxBody != 100 || work.SlowBatch != 0.5 {
		t.Fatalf("caller's workload changed: %s", work.describe())
	}

	// Over many seeds every draw happens, and each seed replays its own.
	var bounded, unbounded, bytes, slow, durable, tiny, large, prefetch1 int
	for seed := uint64(1); seed <= 400; seed++ {
		a, b := drawConfig(seed, queueNames(2)).work, drawConfig(seed, queueNames(2)).work
		if a != b {
			t.Fatalf("seed %d drew %+v, then %+v", seed, a, b)
		}
		switch {
		case a.maxLength < 0:
			unbounded++
		case a.maxLength > 0:
			bounded++
		}
		count := func(c bool, n *int) {
			if c {
				*n++
			}
		}
		count(a.maxBytes > 0, &bytes)
		count(a.slowBatch > 0, &slow)
		count(a.durable, &durable)
		count(a.maxBody == 16, &tiny)
		count(a.maxBody == 2048, &large)
		count(a.prefetch == 1, &prefetch1)
	}
	for name, n := range map[string]int{"bounded": bounded, "unbounded": unbounded, "max bytes": bytes, "slow": slow,
		"durable": durable, "tiny bodies": tiny, "large bodies": large, "prefetch 1": prefetch1} {
		if n == 0 {
			t.Errorf("no seed of 1..400 drew %s", name)
		}
	}
}

// TestSwarmRunUsesItsDrawnWorkload: the run's workload is the drawn one in
// a swarm run, and the given one with FixedWorkload or a plan.
func TestSwarmRunUsesItsDrawnWorkload(t *testing.T) {
	var seed uint64
	for s := uint64(1); s < 200; s++ {
		if w := drawConfig(s, queueNames(2)).work; w.prefetch >= slowMinPrefetch && !w.durable && w.slowBatch == 0 {
			seed = s
			break
		}
	}
	if seed == 0 {
		t.Fatal("no seed of 1..199 draws a prefetch of 8 or more")
	}
	want := drawConfig(seed, queueNames(2)).work.prefetch
	if r := Run(Config{Seed: seed, Swarm: true, Workload: Workload{Messages: 20}}); r.Workload.Prefetch != want {
		t.Fatalf("seed %d: prefetch %d, drew %d", seed, r.Workload.Prefetch, want)
	}
	if r := Run(Config{Seed: seed, Swarm: true, FixedWorkload: true, Workload: Workload{Messages: 20}}); r.Workload.Prefetch != DefaultWorkload().Prefetch {
		t.Fatalf("seed %d with FixedWorkload: prefetch %d", seed, r.Workload.Prefetch)
	}
	calm := Calm()
	if r := Run(Config{Seed: seed, Plan: &calm, Workload: Workload{Messages: 20}}); r.Workload.Prefetch != DefaultWorkload().Prefetch {
		t.Fatalf("seed %d under a plan: prefetch %d", seed, r.Workload.Prefetch)
	}
}

func TestSmallPrefetchOnlyOnFastLinks(t *testing.T) {
	if !smallPrefetchFits([]string{"disconnect", "partition"}) || smallPrefetchFits([]string{"delay"}) || smallPrefetchFits([]string{"drop", "datagram"}) {
		t.Fatal("smallPrefetchFits: want true only without delay and datagram")
	}
	// Seed 1780 draws a small prefetch and a plan with delays: it runs
	// with the default.
	if r := Run(Config{Seed: 1780, Swarm: true, Workload: Workload{Messages: 10}}); r.Workload.Prefetch != DefaultWorkload().Prefetch {
		t.Fatalf("seed 1780: prefetch %d on plan %s", r.Workload.Prefetch, r.Plan.String())
	}
}
