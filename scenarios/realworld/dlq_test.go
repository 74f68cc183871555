package realworld_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/ciphermq/ciphermq/internal/testutil"
)

// Rejected messages are kept and replayed, with real processes: a receiver
// with the wrong trust set rejects everything to default_queue.dlq and
// exits 5; `ciphermq dlq list` shows the messages, `ciphermq dlq move`
// puts them back, and the receiver with the right trust set ends with
// every confirmed message stored exactly once.
var _ = Describe("dead-lettered messages", func() {
	It("are replayed after the receiver's trust set is fixed, each stored exactly once", func(ctx SpecContext) {
		const n = 200
		dir := GinkgoT().TempDir()
		env := append(cleanEnvForSpec(), "HOME="+dir, "XDG_CONFIG_HOME="+filepath.Join(dir, ".config"))
		run := func(args ...string) (string, int) {
			cmd := exec.CommandContext(ctx, bin, args...)
			cmd.Env, cmd.Dir = env, dir
			out, err := cmd.CombinedOutput()
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				return string(out), ee.ExitCode()
			}
			Expect(err).NotTo(HaveOccurred(), string(out))
			return string(out), 0
		}
		start := func(args ...string) (*exec.Cmd, *testutil.SyncBuffer, chan struct{}) {
			cmd := exec.Command(bin, args...)
			cmd.Env, cmd.Dir = env, dir
			log := &testutil.SyncBuffer{}
			cmd.Stdout, cmd.Stderr = log, log
			Expect(cmd.Start()).To(Succeed())
			exited := make(chan struct{})
			go func() { cmd.Wait(); close(exited) }()
			DeferCleanup(func() {
				cmd.Process.Kill()
				<-exited
			})
			return cmd, log, exited
		}
		stop := func(cmd *exec.Cmd, exited chan struct{}) int {
			Expect(cmd.Process.Signal(syscall.SIGINT)).To(Succeed())
			Eventually(exited).WithTimeout(30 * time.Second).Should(BeClosed())
			return cmd.ProcessState.ExitCode()
		}

		l, err := net.Listen("tcp", "127.0.0.1:0")
		Expect(err).NotTo(HaveOccurred())
		addr := l.Addr().String()
		l.Close()
		_, brokerLog, brokerExited := start("server", "--listen", addr)
		Eventually(func() error {
			select {
			case <-brokerExited:
				StopTrying("the broker exited:\n" + brokerLog.String()).Now()
			default:
			}
			c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
			if err == nil {
				c.Close()
			}
			return err
		}).WithContext(ctx).WithTimeout(15 * time.Second).Should(Succeed())

		for _, k := range []string{"good", "other"} {
			out, code := run("keygen", "--dir", filepath.Join(dir, k))
			Expect(code).To(Equal(0), out)
		}
		key := filepath.Join(dir, "good", "receiver.key")
		out := filepath.Join(dir, "received.jsonl")

		wrong, wrongLog, wrongExited := start("recv", "--broker", addr, "--key", key, "--trust", filepath.Join(dir, "other", "sender.pub"), "--out", out)
		Eventually(wrongLog.String).WithTimeout(15 * time.Second).Should(ContainSubstring("Ctrl-C to stop"))
		sendOut, code := run("send", "--broker", addr, "--to-key", filepath.Join(dir, "good", "receiver.pub"),
			"--sign-key", filepath.Join(dir, "good", "sender.key"), "--count", fmt.Sprint(n), "--id-prefix", "m")
		Expect(code).To(Equal(0), sendOut)
		Expect(sendOut).To(ContainSubstring(fmt.Sprintf("confirmed %d", n)))
		Eventually(func() int { return strings.Count(wrongLog.String(), "rejected a message") }).
			WithTimeout(30 * time.Second).Should(Equal(n))
		Expect(stop(wrong, wrongExited)).To(Equal(5), wrongLog.String())
		Expect(wrongLog.String()).To(ContainSubstring(fmt.Sprintf("rejected %d to dead-letter queue default_queue.dlq", n)))
		Expect(wrongLog.String()).To(ContainSubstring(fmt.Sprintf("%d untrusted-sender", n)))

		list, code := run("dlq", "list", "--broker", addr, "--json")
		Expect(code).To(Equal(0), list)
		ids := map[string]bool{}
		for _, line := range strings.Split(strings.TrimSpace(list), "\n") {
			var e struct {
				ID       string `json:"id"`
				Format   string `json:"format"`
				Sender   string `json:"sender"`
				SigValid bool   `json:"signature_valid"`
			}
			Expect(json.Unmarshal([]byte(line), &e)).To(Succeed(), line)
			Expect(e.Format).To(Equal("cmq1"))
			Expect(e.Sender).NotTo(BeEmpty())
			Expect(e.SigValid).To(BeTrue())
			ids[e.ID] = true
		}
		Expect(ids).To(HaveLen(n))

		moved, code := run("dlq", "move", "--broker", addr)
		Expect(code).To(Equal(0), moved)
		Expect(moved).To(ContainSubstring(fmt.Sprintf("moved %d of %d", n, n)))

		fixed, fixedLog, fixedExited := start("recv", "--broker", addr, "--key", key, "--trust", filepath.Join(dir, "good", "sender.pub"), "--out", out)
		Eventually(func() int { return len(storedIDs(out)) }).WithTimeout(30 * time.Second).Should(Equal(n))
		Expect(stop(fixed, fixedExited)).To(Equal(0), fixedLog.String())
		stored := storedIDs(out)
		Expect(stored).To(HaveLen(n))
		for i := 1; i <= n; i++ {
			Expect(stored[fmt.Sprintf("m-%d", i)]).To(Equal(1), "m-%d stored %d times", i, stored[fmt.Sprintf("m-%d", i)])
		}
		empty, code := run("dlq", "list", "--broker", addr)
		Expect(code).To(Equal(0), empty)
		Expect(empty).To(ContainSubstring("default_queue.dlq is empty"))
	}, SpecTimeout(3*time.Minute))
})

// storedIDs counts the records per message id in a receiver's output file.
func storedIDs(path string) map[string]int {
	raw, _ := os.ReadFile(path)
	ids := map[string]int{}
	for _, line := range strings.Split(string(raw), "\n") {
		var r struct {
			ID string `json:"message_id"`
		}
		if json.Unmarshal([]byte(line), &r) == nil && r.ID != "" {
			ids[r.ID]++
		}
	}
	return ids
}

func cleanEnvForSpec() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "CIPHERMQ_") && !strings.HasPrefix(kv, "HOME=") && !strings.HasPrefix(kv, "XDG_CONFIG_HOME=") {
			env = append(env, kv)
		}
	}
	return env
}
