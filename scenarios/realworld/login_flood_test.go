package realworld_test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/ciphermq/ciphermq/broker/access"
	"github.com/ciphermq/ciphermq/broker/wire"
	"github.com/ciphermq/ciphermq/clients"
	"github.com/ciphermq/ciphermq/internal/userfile"
)

// rssKiB reads a process's resident set (VmRSS) from /proc.
func rssKiB(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	Expect(err).NotTo(HaveOccurred())
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			n, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			Expect(err).NotTo(HaveOccurred())
			return n
		}
	}
	Fail("no VmRSS in /proc/" + strconv.Itoa(pid) + "/status")
	return 0
}

var _ = Describe("a flood of wrong-password logins (real process)", func() {
	It("is refused while the broker's RSS stays bounded by its verification pool and a canary keeps publishing", func(ctx SpecContext) {
		const attackers = 1000
		const workers = 2
		dir := GinkgoT().TempDir()
		// alice's hash has the production parameters (19 MiB each); the
		// canary's is cheap so that its own login is not what is measured.
		hash := func(pw string, p access.Argon2Params) string {
			h, err := access.HashPassword([]byte(pw), bytes.Repeat([]byte{1}, int(p.SaltLen)), p)
			Expect(err).NotTo(HaveOccurred())
			return h
		}
		all := map[string]access.Permissions{"/": {Configure: ".*", Write: ".*", Read: ".*"}}
		users := filepath.Join(dir, "users.json")
		Expect(userfile.Save(users, &access.File{Version: access.FileVersion, Users: []access.User{
			{Name: "alice", PasswordHash: hash("right", access.DefaultArgon2Params), Permissions: all},
			{Name: "canary", PasswordHash: hash("canary-pw", access.Argon2Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}), Permissions: all},
		}})).To(Succeed())
		addr := "127.0.0.1:" + freeLoopbackPort()
		// Every attacker comes from 127.0.0.1: the per-source bounds are
		// opened wide so that the pool itself is what the flood meets.
		p := startServerProc("--listen", addr, "--users", users, "--auth-workers", strconv.Itoa(workers),
			"--auth-per-source", "100000", "--auth-failure-limit", "100000000", "--handshake-timeout", "2m",
			"--max-connections", "5000", "--log-level", "error",
			// All 1,000 attackers and the canary come from 127.0.0.1: the
			// per-source connection limit (default 1,000) would refuse
			// one of them before the pool ever sees it.
			"--max-connections-per-source", "5000")
		p.waitListening(ctx, addr)

		canary, err := clients.Dial(ctx, addr, clients.Options{ClientName: "canary", User: "canary", Password: "canary-pw"})
		Expect(err).NotTo(HaveOccurred())
		defer canary.Close()
		pub, err := canary.NewPublisher(clients.PublisherOptions{Exchange: "default_exchange", RoutingKey: "default_key"})
		Expect(err).NotTo(HaveOccurred())
		base := rssKiB(p.cmd.Process.Pid)

		var refused, other atomic.Int64
		var wg sync.WaitGroup
		for range attackers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				nc, err := net.Dial("tcp", addr)
				if err != nil {
					other.Add(1)
					return
				}
				defer nc.Close()
				b := wire.AppendHello(wire.AppendPreamble(nil), &wire.Hello{Version: wire.ProtocolVersion, Features: wire.FeatureAuth})
				nc.Write(wire.AppendAuth(b, &wire.Auth{Mechanism: "PLAIN", Response: wire.PlainResponse("alice", "wrong")}))
				nc.SetReadDeadline(time.Now().Add(3 * time.Minute))
				typ, payload, err := wire.NewReader(nc, 0).ReadFrame()
				var e wire.Error
				if err == nil && typ == wire.FrameError && wire.DecodeErrorFrame(payload, &e) == nil && e.Code == 600 {
					refused.Add(1)
					return
				}
				other.Add(1)
			}()
		}
		done := make(chan struct{})
		go func() { wg.Wait(); close(done) }()

		peak, confirmed := base, 0
		for flooding := true; flooding; {
			select {
			case <-done:
				flooding = false
			default:
			}
			c, err := pub.Publish(ctx, fmt.Sprint("canary-", confirmed), []byte("b"))
			Expect(err).NotTo(HaveOccurred())
			wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			Expect(c.Wait(wctx)).To(Succeed(), "a canary publish was not confirmed within 10 s during the flood")
			cancel()
			confirmed++
			peak = max(peak, rssKiB(p.cmd.Process.Pid))
		}
		Expect(refused.Load()).To(BeEquivalentTo(attackers), "every wrong-password login answered 600 (%d other outcomes)", other.Load())
		// Each connection costs its goroutines and a 64 KiB read buffer;
		// the verifications cost at most workers x 19 MiB, twice over for
		// garbage the GC has not reclaimed yet. Without the pool bound the
		// same flood could run 1,000 verifications at once: 19 GiB.
		boundKiB := int64(attackers)*128 + 2*workers*int64(access.DefaultArgon2Params.Memory) + 64<<10
		AddReportEntry("login flood", fmt.Sprintf("%d wrong-password logins, %d auth workers: RSS %d MiB before, %d MiB peak (+%d MiB; bound +%d MiB); canary confirmed %d publishes meanwhile",
			attackers, workers, base>>10, peak>>10, (peak-base)>>10, boundKiB>>10, confirmed))
		GinkgoWriter.Printf("login flood: RSS +%d MiB (bound +%d MiB), canary confirmed %d\n", (peak-base)>>10, boundKiB>>10, confirmed)
		Expect(peak-base).To(BeNumerically("<", boundKiB), "RSS grew by %d MiB during the flood", (peak-base)>>10)
		Expect(confirmed).To(BeNumerically(">", 0))
	}, SpecTimeout(5*time.Minute))
})
