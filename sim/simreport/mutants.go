package simreport

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/ciphermq/ciphermq/sim"
)

// mutationSwitches maps the --mutate names onto sim.Mutations fields.
var mutationSwitches = map[string]func(*sim.Mutations){
	"receiver-no-dedup":           func(m *sim.Mutations) { m.ReceiverNoDedup = true },
	"broker-no-dedup":             func(m *sim.Mutations) { m.BrokerNoDedup = true },
	"no-requeue-on-disconnect":    func(m *sim.Mutations) { m.NoRequeueOnDisconnect = true },
	"confirm-before-enqueue":      func(m *sim.Mutations) { m.ConfirmBeforeEnqueue = true },
	"ack-before-fsync":            func(m *sim.Mutations) { m.AckBeforeFsync = true },
	"broker-confirm-before-fsync": func(m *sim.Mutations) { m.BrokerConfirmBeforeFsync = true },
	"prefetch-ignored":            func(m *sim.Mutations) { m.PrefetchIgnored = true },
	"prefix-id-reuse":             func(m *sim.Mutations) { m.PrefixIDReuse = true },
	"prefix-ref-wrong":            func(m *sim.Mutations) { m.PrefixRefWrong = true },
	"skip-publish-permission":     func(m *sim.Mutations) { m.SkipPublishPermission = true },
	"restore-forgets-dedup":       func(m *sim.Mutations) { m.RestoreForgetsDedup = true },
	"topic-hash-one-word":         func(m *sim.Mutations) { m.TopicHashOneWord = true },
	"conn-confirm-off-by-one":     func(m *sim.Mutations) { m.ConnConfirmOffByOne = true },
	"ack-multiple-overreach":      func(m *sim.Mutations) { m.AckMultipleOverreach = true },
	"dead-letter-drops":           func(m *sim.Mutations) { m.DeadLetterDrops = true },
	"restore-drops-newest":        func(m *sim.Mutations) { m.RestoreDropsNewest = true },
}

// MutationNames are the --mutate names, sorted.
func MutationNames() []string {
	names := make([]string, 0, len(mutationSwitches))
	for n := range mutationSwitches {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// SetMutation turns on the mutation called name (a --mutate name) in m.
func SetMutation(m *sim.Mutations, name string) error {
	set, ok := mutationSwitches[strings.TrimSpace(name)]
	if !ok {
		return fmt.Errorf("--mutate %q: unknown mutation: use one of %s", name, strings.Join(MutationNames(), ", "))
	}
	set(m)
	return nil
}

// Mutant is one entry of the mutation catalogue: a --mutate switch, the
// guarantee it breaks, the workload it needs to be reachable and the go
// test that must catch it.
type Mutant struct {
	Name      string
	Guarantee string
	Durable   bool // reachable only with durable queues
	Test      string
}

// MutantCatalogue lists every --mutate switch (TestMutantCatalogueIsComplete
// keeps it in step with MutationNames).
var MutantCatalogue = []Mutant{
	{"receiver-no-dedup", "receiver store dedup", false, "sim.TestCheckersCatchEveryMutation"},
	{"broker-no-dedup", "broker dedup window", false, "sim.TestCheckersCatchEveryMutation"},
	{"no-requeue-on-disconnect", "redelivery on disconnect", false, "sim.TestCheckersCatchEveryMutation"},
	{"confirm-before-enqueue", "confirm mapping", false, "sim.TestCheckersCatchEveryMutation"},
	{"ack-before-fsync", "receiver persistence", false, "sim.TestCheckersCatchEveryMutation"},
	{"broker-confirm-before-fsync", "broker persistence", true, "sim.TestCheckersCatchConfirmBeforeFsync, sim.TestCheckersCatchDurableMutationsUnderDraws"},
	{"prefetch-ignored", "prefetch bound", false, "sim.TestCheckersCatchEveryMutation"},
	{"prefix-id-reuse", "shared-prefix ids", false, "sim.TestCheckersCatchEveryMutation"},
	{"prefix-ref-wrong", "shared-prefix references", false, "sim.TestCheckersCatchEveryMutation"},
	{"skip-publish-permission", "publish permission", false, "sim.TestCheckersCatchEveryMutation"},
	{"restore-forgets-dedup", "dedup across restarts (replay)", true, "sim.TestExactlyOnceOracleCatchesRestoreForgettingDedup"},
	{"topic-hash-one-word", "topic routing", false, "sim.TestRoutingOracleCatchesTopicHashOneWord"},
	{"conn-confirm-off-by-one", "client confirm mapping (engine.Conn)", false, "sim.TestCheckersCatchEveryMutation"},
	{"ack-multiple-overreach", "delivery tags", false, "sim.TestCheckersCatchEveryMutation"},
	{"dead-letter-drops", "dead-lettering", false, "sim.TestCheckersCatchEveryMutation"},
	{"restore-drops-newest", "store replay (durable log recovery)", true, "sim.TestCheckersCatchDurableMutationsUnderDraws"},
}

// mutantChunk is how many seeds run between checks for a first failure.
const mutantChunk = 10

// MutantsRun is a run of the mutation catalogue (`ciphermq sim --mutants`).
type MutantsRun struct {
	Config  sim.Config // the template (its Mutations are replaced)
	First   uint64
	Seeds   int
	Workers int
}

// RunMutants prints the catalogue table of cat: for each mutant, the first
// seed of the range whose run fails with it on (the sweep stops there) and
// what it reported, and the go test that catches it. It fails when a
// mutant survives every seed.
func RunMutants(w io.Writer, o MutantsRun, cat []Mutant) error {
	first, n := o.First, o.Seeds
	tw := tabwriter.NewWriter(w, 2, 8, 2, ' ', 0)
	fmt.Fprintf(tw, "mutant\tguarantee\tsweep (seeds %d..%d)\tfinding\tgo test\n", first, first+uint64(n)-1)
	missed := 0
	for _, m := range cat {
		c := o.Config
		c.Mutations = sim.Mutations{}
		if err := SetMutation(&c.Mutations, m.Name); err != nil {
			return err
		}
		if m.Durable {
			c.Workload.Durable = true
		}
		caught, finding := "not caught", ""
		for done := 0; done < n && finding == ""; done += mutantChunk {
			res := sim.Sweep(sim.SweepConfig{Template: c, First: first + uint64(done), Seeds: min(mutantChunk, n-done), Workers: o.Workers, KeepFailures: 1})
			if len(res.Failures) > 0 {
				r := res.Failures[0]
				caught = fmt.Sprintf("seed %d (%d seeds)", r.Seed, r.Seed-first+1)
				finding = FirstFinding(r.Summary())
			}
		}
		if finding == "" {
			missed++
		}
		name := m.Name
		if m.Durable {
			name += " (durable)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", name, m.Guarantee, caught, finding, m.Test)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if missed > 0 {
		return fmt.Errorf("%d of %d mutants survived seeds %d..%d: widen the range or the weather", missed, len(cat), first, first+uint64(n)-1)
	}
	return nil
}

// FirstFinding shortens a failing run's summary to the name of what broke.
func FirstFinding(s string) string {
	for _, k := range []string{"ROUTING ORACLE VIOLATED", "BROKER EXACTLY-ONCE VIOLATED", "BROKER DEDUP VIOLATED",
		"INTEGRITY VIOLATED", "BROKER PROTOCOL VIOLATED", "ACCESS CONTROL VIOLATED", "PREFETCH EXCEEDED",
		"QUEUE BOUND EXCEEDED", "NOT CONVERGED"} {
		if strings.Contains(s, k) {
			return strings.ToLower(k)
		}
	}
	if i := strings.IndexAny(s, ":"); i > 0 {
		rest := s[i+1:]
		for _, k := range []string{"lost", "duplicated", "corrupted", "unexpected", "pending"} {
			if strings.Contains(rest, "; "+k+" ") {
				return k
			}
		}
		return strings.ToLower(s[:i])
	}
	return s
}
