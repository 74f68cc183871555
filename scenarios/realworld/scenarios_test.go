package realworld_test

import (
	"bytes"
	"context"
	"os"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/ciphermq/ciphermq/faults"
	"github.com/ciphermq/ciphermq/internal/check"
	"github.com/ciphermq/ciphermq/scenarios/realworld"
)

var _ = Describe("the scenario catalogue on real processes", func() {
	for _, sc := range realworld.Catalogue() {
		It(sc.Name+": "+sc.Description, func(ctx SpecContext) {
			res := run(ctx, sc, realworld.Config{Seed: suiteSeed()})
			r := res.Report
			By("the checker finding nothing lost, unexpected, duplicated or corrupted")
			Expect(r.Lost).To(BeEmpty(), res.Describe())
			Expect(r.Unexpected).To(BeEmpty(), res.Describe())
			Expect(r.Duplicated).To(BeEmpty(), res.Describe())
			Expect(r.Corrupted).To(BeEmpty(), res.Describe())
			By("every publish resolved and everything else clean")
			Expect(r.Pending).To(BeEmpty(), res.Describe())
			Expect(r.OK()).To(BeTrue(), res.Describe())
			Expect(r.Counts.Attempted).To(BeNumerically(">", 0), "the scenario published nothing")
			GinkgoWriter.Println(res.Describe())
		}, SpecTimeout(2*time.Minute))
	}

	It("runs a fault plan file (link faults, cuts, partitions as stalls) on every client link", func(ctx SpecContext) {
		pl, err := faults.Load("testdata/flaky-links.json")
		Expect(err).NotTo(HaveOccurred())
		sc, notes, err := realworld.PlanScenario(pl)
		Expect(err).NotTo(HaveOccurred())
		Expect(notes).To(BeEmpty())
		res := run(ctx, sc, realworld.Config{Seed: suiteSeed()})
		Expect(res.Report.OK()).To(BeTrue(), res.Describe())
		Expect(res.Report.Counts.Attempted).To(Equal(2 * sc.Messages))
		GinkgoWriter.Println(res.Describe())
	}, SpecTimeout(2*time.Minute))

	It("shows its own teeth: the broker restart's loss is excused only for what the broker held", func(ctx SpecContext) {
		sc, ok := realworld.Lookup("broker-restart")
		Expect(ok).To(BeTrue())
		res := run(ctx, sc, realworld.Config{Seed: suiteSeed()})
		Expect(res.Report.LegitimatelyLost).NotTo(BeEmpty(), "the broker held nothing: the scenario tested nothing")
		By("re-checking the same history as if the queues were durable: the held copies become lost")
		durable := res.Options
		for _, ev := range res.History.Events {
			if ev.Kind == check.KindBrokerRestart {
				for _, h := range ev.Held {
					durable.DurableQueues = append(durable.DurableQueues, h.Queue)
				}
			}
		}
		strict := check.Check(res.History, durable)
		Expect(strict.Lost).To(HaveLen(len(res.Report.LegitimatelyLost)))
	}, SpecTimeout(2*time.Minute))

	It("catches a receiver that loses acked records (mutation: the checker must fail)", func(ctx SpecContext) {
		const removed = 5
		broken := realworld.Scenario{
			Name:      "mutation-lost-acked-records",
			Receivers: 1, Messages: 400,
			Faults: func(ctx context.Context, e *realworld.Env) error {
				s, r := e.Senders()[0], e.Receivers()[0]
				if err := s.Wait(ctx); err != nil {
					return err
				}
				Eventually(r.Stored).WithContext(ctx).WithTimeout(30 * time.Second).Should(Equal(400))
				if err := e.KillReceiver(ctx, r); err != nil {
					return err
				}
				// Records this far from the end were acked long ago: at
				// most the prefetch (32) deliveries are ever unacked.
				dropLines(r.Out, 100, removed)
				return e.RestartReceiver(ctx, r)
			},
		}
		cfg := realworld.Config{Seed: suiteSeed(), Binary: bin, LivenessTimeout: 3 * time.Second}
		res, err := realworld.Run(ctx, broken, cfg)
		DeferCleanup(os.RemoveAll, res.Dir)
		Expect(err).To(HaveOccurred(), "the liveness phase waited for records that can never come back, and must say so")
		Expect(res.Report.OK()).To(BeFalse())
		Expect(res.Report.Lost).To(HaveLen(removed), res.Describe())
		for i, a := range res.Report.Lost {
			Expect(a.MessageID).To(Equal(realworld.MessageID("p1", 101+i)))
		}
	}, SpecTimeout(2*time.Minute))
})

var _ = Describe("a run that cannot converge", func() {
	It("says the broker died instead of waiting out the liveness deadline", func(ctx SpecContext) {
		dead := realworld.Scenario{
			Name: "broker-dies", Receivers: 1, Messages: 1000, Rate: 500,
			Faults: func(ctx context.Context, e *realworld.Env) error {
				if err := e.WaitAttempted(ctx, e.Senders()[0], 100); err != nil {
					return err
				}
				return e.Broker.Kill(ctx)
			},
		}
		res, err := realworld.Run(ctx, dead, realworld.Config{Seed: suiteSeed(), Binary: bin})
		DeferCleanup(os.RemoveAll, res.Dir)
		Expect(err).To(MatchError(ContainSubstring("the broker is not running at the liveness phase")))
		Expect(res.Kept).To(BeTrue(), "a failed run keeps its files")
		Expect(res.Describe()).To(ContainSubstring("RUN INCOMPLETE"))
		Expect(res.Logs).To(HaveKey("broker"))
	}, SpecTimeout(time.Minute))
})

// dropLines removes n lines of a file starting after line skip.
func dropLines(path string, skip, n int) {
	data, err := os.ReadFile(path)
	Expect(err).NotTo(HaveOccurred())
	lines := bytes.SplitAfter(data, []byte{'\n'})
	Expect(len(lines)).To(BeNumerically(">", skip+n))
	kept := append(append([][]byte{}, lines[:skip]...), lines[skip+n:]...)
	Expect(os.WriteFile(path, bytes.Join(kept, nil), 0o644)).To(Succeed())
}
