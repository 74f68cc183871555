package durable_test

import (
	"context"
	"os"
	"os/exec"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/ciphermq/ciphermq/internal/check"
	"github.com/ciphermq/ciphermq/scenarios/durable"
)

var _ = Describe("a durable queue on a broker in a container", Label("containers"), func() {
	It("loses no confirmed message through SIGKILL, pause and network cuts", func(ctx SpecContext) {
		if err := exec.CommandContext(ctx, "docker", "info").Run(); err != nil {
			Skip("Docker Engine not reachable (docker info: " + err.Error() + "): the container kill loop needs it; .ci/run runs where it is")
		}
		// No registry is reachable here, so testcontainers' reaper image
		// (ryuk) cannot be pulled; the spec removes its container itself.
		if _, set := os.LookupEnv("TESTCONTAINERS_RYUK_DISABLED"); !set {
			Expect(os.Setenv("TESTCONTAINERS_RYUK_DISABLED", "true")).To(Succeed())
			DeferCleanup(os.Unsetenv, "TESTCONTAINERS_RYUK_DISABLED")
		}
		b := &durable.ContainerBroker{Bin: bin}
		DeferCleanup(func(ctx SpecContext) { Expect(b.Terminate(ctx)).To(Succeed()) }, NodeTimeout(time.Minute))
		disrupt := func(ctx context.Context, step int) (string, error) {
			if step%4 == 1 {
				return "pause 2s", b.Pause(ctx, 2*time.Second)
			}
			return "network cut 3s", b.Cut(ctx, 3*time.Second)
		}
		res, err := durable.Run(ctx, b, durable.Config{Messages: 3000, Kills: 7, Seed: 11, Settle: 90 * time.Second, Disrupt: disrupt})
		Expect(err).NotTo(HaveOccurred())
		GinkgoWriter.Printf("container: %d kills at confirms %v, faults %v, %d confirmed, %d processed, %d redeliveries dropped, %d reconnects\n",
			res.Kills, res.ConfirmedAtKill, res.Disruptions, res.Confirmed, res.Processed, res.Redeliveries, res.Reconnects)
		Expect(res.Kills).To(BeNumerically(">=", 2), "the kills must land while messages flow")
		// How many faults land before the 3,000 messages are through depends
		// on the machine's speed (as for the kills): require both kinds.
		Expect(res.Disruptions).To(ContainElement(HavePrefix("pause")), "a pause must land while messages flow")
		Expect(res.Disruptions).To(ContainElement(HavePrefix("network cut")), "a network cut must land while messages flow")
		report := check.Check(res.History, check.Options{DurableQueues: []string{"durable-orders"}})
		Expect(report.OK()).To(BeTrue(), report.Summary())
		Expect(res.Processed).To(Equal(3000))
	}, NodeTimeout(5*time.Minute))
})
