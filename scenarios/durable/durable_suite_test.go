package durable_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/ciphermq/ciphermq/internal/check"
	"github.com/ciphermq/ciphermq/scenarios/durable"
)

func TestDurable(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the broker and kills it repeatedly for about half a minute; run without -short")
	}
	RegisterFailHandler(Fail)
	RunSpecs(t, "durable queues under SIGKILL")
}

var bin string

var _ = BeforeSuite(func(ctx SpecContext) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	Expect(err).NotTo(HaveOccurred())
	root := filepath.Dir(strings.TrimSpace(string(out)))
	dir, err := os.MkdirTemp("", "ciphermq-durable-bin-")
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(os.RemoveAll, dir)
	bin, err = durable.BuildBinary(ctx, root, dir)
	Expect(err).NotTo(HaveOccurred())
}, NodeTimeout(3*time.Minute))

var _ = Describe("a durable queue on a broker killed with SIGKILL", func() {
	for _, tc := range []struct {
		seed  uint64
		after bool
	}{{1, false}, {2, false}, {3, true}} {
		seed := tc.seed
		It(fmt.Sprintf("loses no confirmed message (seed %d, consumer during kills: %v)", seed, !tc.after), func(ctx SpecContext) {
			dir := GinkgoT().TempDir()
			b := &durable.ProcessBroker{Bin: bin, DataDir: filepath.Join(dir, "data"), LogPath: filepath.Join(dir, "broker.log")}
			DeferCleanup(func() { _ = b.Stop(context.Background()) })
			res, err := durable.Run(ctx, b, durable.Config{Messages: 3000, Kills: 5, Seed: seed, Settle: 60 * time.Second, ReceiverAfterKills: tc.after})
			log, _ := os.ReadFile(b.LogPath)
			Expect(err).NotTo(HaveOccurred(), "broker log:\n%s", log)
			GinkgoWriter.Printf("seed %d: %d kills at confirms %v, %d confirmed, %d processed, %d redeliveries dropped, %d reconnects\n",
				seed, res.Kills, res.ConfirmedAtKill, res.Confirmed, res.Processed, res.Redeliveries, res.Reconnects)
			Expect(res.Kills).To(BeNumerically(">=", 3), "the kills must land while messages flow")
			report := check.Check(res.History, check.Options{DurableQueues: []string{"durable-orders"}, OrderedQueues: nil})
			Expect(report.OK()).To(BeTrue(), report.Summary())
			Expect(res.Processed).To(Equal(3000))
		}, NodeTimeout(3*time.Minute))
	}
})

// forgetfulBroker is the mutation: a broker whose restart loses its log
// (as a broker that confirmed before its records were durable would lose
// them on power loss). The same loop and checker must report the loss.
type forgetfulBroker struct {
	*durable.ProcessBroker
	started int
}

func (b *forgetfulBroker) Start(ctx context.Context) error {
	if b.started > 0 {
		if err := os.RemoveAll(b.DataDir); err != nil {
			return err
		}
	}
	b.started++
	return b.ProcessBroker.Start(ctx)
}

var _ = Describe("the kill loop's checker", func() {
	It("reports confirmed messages lost by a broker that forgets its log", func(ctx SpecContext) {
		dir := GinkgoT().TempDir()
		b := &forgetfulBroker{ProcessBroker: &durable.ProcessBroker{Bin: bin, DataDir: filepath.Join(dir, "data"), LogPath: filepath.Join(dir, "broker.log")}}
		DeferCleanup(func() { _ = b.Stop(context.Background()) })
		res, err := durable.Run(ctx, b, durable.Config{Messages: 500, Kills: 2, Seed: 3, Settle: 5 * time.Second, ReceiverAfterKills: true})
		Expect(err).To(HaveOccurred(), "the run settled although the broker lost its log")
		report := check.Check(res.History, check.Options{DurableQueues: []string{"durable-orders"}})
		Expect(report.Lost).NotTo(BeEmpty(), report.Summary())
		GinkgoWriter.Printf("mutation caught: %d lost\n", len(report.Lost))
	}, NodeTimeout(2*time.Minute))
})
