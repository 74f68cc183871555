package realworld_test

import (
	"os/exec"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/ciphermq/ciphermq/scenarios/realworld"
)

// The `ciphermq scenario` command, run as the real binary.
var _ = Describe("ciphermq scenario", func() {
	ciphermq := func(args ...string) (string, error) {
		out, err := exec.Command(bin, args...).CombinedOutput()
		return string(out), err
	}

	It("lists every catalogue scenario with its description", func() {
		out, err := ciphermq("scenario", "list")
		Expect(err).NotTo(HaveOccurred(), out)
		lines := strings.Split(strings.TrimSpace(out), "\n")
		cat := realworld.Catalogue()
		Expect(lines).To(HaveLen(len(cat)))
		for i, sc := range cat {
			Expect(strings.Fields(lines[i])[0]).To(Equal(sc.Name))
			Expect(lines[i]).To(ContainSubstring(sc.Description))
		}
	})

	It("refuses an unknown scenario and says where the list is", func() {
		out, err := ciphermq("scenario", "run", "no-such-scenario")
		Expect(err).To(HaveOccurred())
		Expect(out).To(ContainSubstring(`unknown scenario "no-such-scenario"`))
		Expect(out).To(ContainSubstring("scenario list"))
	})

	It("runs a scenario with itself as broker and clients and prints the report", func(ctx SpecContext) {
		cmd := exec.CommandContext(ctx, bin, "scenario", "run", "baseline", "--seed", "5")
		out, err := cmd.CombinedOutput()
		Expect(err).NotTo(HaveOccurred(), string(out))
		Expect(string(out)).To(ContainSubstring("scenario baseline seed 5"))
		Expect(string(out)).To(ContainSubstring("lost 0, unexpected 0, duplicated 0"))
		Expect(string(out)).To(ContainSubstring("PASS baseline"))
	}, SpecTimeout(2*time.Minute))

	It("lists the hostile-client catalogue, refuses an unknown attack, and runs one with a canary", func(ctx SpecContext) {
		out, err := ciphermq("scenario", "hostile", "list")
		Expect(err).NotTo(HaveOccurred(), out)
		lines := strings.Split(strings.TrimSpace(out), "\n")
		cat := realworld.HostileCatalogue()
		Expect(lines).To(HaveLen(len(cat)))
		for i, a := range cat {
			Expect(strings.Fields(lines[i])[0]).To(Equal(a.Name))
		}
		out, err = ciphermq("scenario", "hostile", "run", "no-such-attack")
		Expect(err).To(HaveOccurred())
		Expect(out).To(ContainSubstring(`unknown scenario "no-such-attack"`))
		o, err := exec.CommandContext(ctx, bin, "scenario", "hostile", "run", "text-consume-flood").CombinedOutput()
		Expect(err).NotTo(HaveOccurred(), string(o))
		Expect(string(o)).To(ContainSubstring("lost 0"))
		Expect(string(o)).To(ContainSubstring("PASS text-consume-flood"))
	}, SpecTimeout(2*time.Minute))
})
