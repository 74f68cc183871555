package realworld_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/ciphermq/ciphermq/broker/access"
	"github.com/ciphermq/ciphermq/internal/testutil"
	"github.com/ciphermq/ciphermq/internal/tlsgen"
	"github.com/ciphermq/ciphermq/internal/userfile"
)

// SAN URIs of the client certificates: aliceURI is a user with every
// permission on vhost "/", nobodyURI a user without any.
const (
	aliceURI  = "spiffe://ciphermq.test/alice"
	nobodyURI = "spiffe://ciphermq.test/nobody"
)

// freeLoopbackPort returns a port that was free on 127.0.0.1 a moment ago.
func freeLoopbackPort() string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	Expect(err).NotTo(HaveOccurred())
	defer l.Close()
	_, port, err := net.SplitHostPort(l.Addr().String())
	Expect(err).NotTo(HaveOccurred())
	return port
}

// serverProc is a running `ciphermq server` child.
type serverProc struct {
	cmd    *exec.Cmd
	log    *testutil.SyncBuffer
	exited chan struct{}
}

// startServerProc starts `ciphermq server args...` and stops it (SIGTERM)
// when the spec ends.
func startServerProc(args ...string) *serverProc {
	p := &serverProc{cmd: exec.Command(bin, append([]string{"server", "--in-memory"}, args...)...), log: &testutil.SyncBuffer{}, exited: make(chan struct{})}
	p.cmd.Stdout, p.cmd.Stderr = p.log, p.log
	Expect(p.cmd.Start()).To(Succeed())
	go func() { p.cmd.Wait(); close(p.exited) }()
	DeferCleanup(func() {
		p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.exited:
		case <-time.After(10 * time.Second):
			p.cmd.Process.Kill()
			<-p.exited
		}
		AddReportEntry("broker log", p.log.String())
	})
	return p
}

// waitListening waits until addr accepts connections, failing at once if
// the server exits.
func (p *serverProc) waitListening(ctx context.Context, addr string) {
	Eventually(func() error {
		select {
		case <-p.exited:
			StopTrying("the broker exited:\n" + p.log.String()).Now()
		default:
		}
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
		}
		return err
	}).WithContext(ctx).WithTimeout(15 * time.Second).Should(Succeed())
}

// authBroker is a `ciphermq server` child with a users file and only a
// mutual-TLS listener, plus what its clients need: certificates naming
// alice and nobody by SAN URI, alice's password files, and end-to-end keys.
type authBroker struct {
	*serverProc
	addr                       string
	dir                        string
	ca                         string
	alice, nobody              tlsgen.Files
	rightPassword, badPassword string
}

func startAuthBroker(ctx context.Context) *authBroker {
	b := &authBroker{dir: GinkgoT().TempDir()}
	ca, err := tlsgen.NewCA("realworld auth CA")
	Expect(err).NotTo(HaveOccurred())
	srv, err := ca.LocalServer()
	Expect(err).NotTo(HaveOccurred())
	server, err := tlsgen.WriteFiles(b.dir, "server", ca, srv)
	Expect(err).NotTo(HaveOccurred())
	b.ca = server.CA
	for _, c := range []struct {
		files *tlsgen.Files
		name  string
		uri   string
	}{{&b.alice, "alice", aliceURI}, {&b.nobody, "nobody", nobodyURI}} {
		leaf, err := ca.Issue(tlsgen.LeafOptions{CommonName: c.name + "-cn", URIs: []string{c.uri}})
		Expect(err).NotTo(HaveOccurred())
		*c.files, err = tlsgen.WriteFiles(b.dir, c.name, ca, leaf)
		Expect(err).NotTo(HaveOccurred())
	}

	// Passwords: alice's real one and a wrong one, in files.
	b.rightPassword = filepath.Join(b.dir, "right.txt")
	b.badPassword = filepath.Join(b.dir, "wrong.txt")
	Expect(os.WriteFile(b.rightPassword, []byte("correct horse battery staple\n"), 0o600)).To(Succeed())
	Expect(os.WriteFile(b.badPassword, []byte("Tr0ub4dor&3\n"), 0o600)).To(Succeed())
	salt := make([]byte, access.DefaultArgon2Params.SaltLen)
	rand.Read(salt)
	hash, err := access.HashPassword([]byte("correct horse battery staple"), salt, access.DefaultArgon2Params)
	Expect(err).NotTo(HaveOccurred())
	all := map[string]access.Permissions{"/": {Configure: ".*", Write: ".*", Read: ".*"}}
	users := filepath.Join(b.dir, "users.json")
	Expect(userfile.Save(users, &access.File{Version: access.FileVersion, Users: []access.User{
		{Name: "alice", PasswordHash: hash, Permissions: all},
		{Name: aliceURI, Permissions: all},
		{Name: nobodyURI}, // in the file, allowed nothing
	}})).To(Succeed())

	b.addr = "127.0.0.1:" + freeLoopbackPort()
	b.serverProc = startServerProc("--listen", "off", "--users", users, "--tls-listen", b.addr,
		"--tls-cert", server.Cert, "--tls-key", server.Key, "--tls-ca", server.CA,
		"--tls-client-auth", "require", "--tls-identity-from", "auto")
	b.waitListening(ctx, b.addr)

	out, err := exec.Command(bin, "keygen", "--dir", b.dir).CombinedOutput()
	Expect(err).NotTo(HaveOccurred(), string(out))
	return b
}

// client returns the arguments that connect a send or recv to the broker
// over mutual TLS with the given certificate.
func (b *authBroker) client(cert tlsgen.Files, extra ...string) []string {
	return append([]string{"--broker", b.addr, "--tls-ca", b.ca, "--tls-cert", cert.Cert, "--tls-key", cert.Key}, extra...)
}

// send runs `ciphermq send` to completion and returns its combined output.
func (b *authBroker) send(ctx context.Context, args ...string) (string, error) {
	args = append([]string{"send", "--to-key", filepath.Join(b.dir, "receiver.pub"),
		"--sign-key", filepath.Join(b.dir, "sender.key"), "--timeout", "20s"}, args...)
	out, err := exec.CommandContext(ctx, bin, args...).CombinedOutput()
	return string(out), err
}

var _ = Describe("ciphermq with a users file over mutual TLS (real processes)", func() {
	It("authenticates EXTERNAL by the certificate's SAN URI, refuses a certificate without permissions and a wrong password, and changes nothing for them", func(ctx SpecContext) {
		b := startAuthBroker(ctx)

		By("EXTERNAL: send acts as the certificate's SAN URI user")
		out, err := b.send(ctx, b.client(b.alice, "--auth", "external", "--id-prefix", "ext", "hello over external")...)
		Expect(err).NotTo(HaveOccurred(), out)
		Eventually(b.log.String).WithTimeout(10 * time.Second).Should(MatchRegexp(`msg=authenticated .*user=` + regexp.QuoteMeta(aliceURI) + ` vhost=/ mechanism=EXTERNAL`))

		By("EXTERNAL with a certificate naming a user without permissions: refused, non-zero exit, a clear reason")
		out, err = b.send(ctx, b.client(b.nobody, "--auth", "external", "--id-prefix", "nobody", "from nobody")...)
		Expect(err).To(HaveOccurred(), out)
		Expect(out).To(MatchRegexp(`code 60[01]`))
		Expect(out).To(ContainSubstring(nobodyURI))
		Expect(out).To(ContainSubstring("no permissions"))

		By("PLAIN with a wrong password: authentication failed (600), non-zero exit; the server logs the remote address")
		out, err = b.send(ctx, b.client(b.alice, "--user", "alice", "--password-file", b.badPassword, "--id-prefix", "bad", "wrong password")...)
		Expect(err).To(HaveOccurred(), out)
		Expect(out).To(ContainSubstring("authentication failed"))
		Expect(out).To(ContainSubstring("600"))
		Eventually(b.log.String).WithTimeout(10 * time.Second).Should(MatchRegexp(`msg="authentication failed" .*remote=127\.0\.0\.1:\d+ user=alice`))

		By("PLAIN with the right password over the same transport works (the refusal was the password)")
		out, err = b.send(ctx, b.client(b.alice, "--user", "alice", "--password-file", b.rightPassword, "--id-prefix", "marker", "last one")...)
		Expect(err).NotTo(HaveOccurred(), out)

		By("EXTERNAL recv: default_queue holds exactly the two accepted messages, in order")
		recvOut := filepath.Join(b.dir, "received.jsonl")
		recv := exec.Command(bin, append([]string{"recv", "--key", filepath.Join(b.dir, "receiver.key"),
			"--trust", filepath.Join(b.dir, "sender.pub"), "--out", recvOut, "--print"},
			b.client(b.alice, "--auth", "external")...)...)
		stdout := &testutil.SyncBuffer{}
		recv.Stdout, recv.Stderr = stdout, stdout
		Expect(recv.Start()).To(Succeed())
		var recvErr error
		recvDone := make(chan struct{})
		go func() { recvErr = recv.Wait(); close(recvDone) }()
		DeferCleanup(func() {
			recv.Process.Kill()
			<-recvDone
		})
		// The queue is FIFO with one consumer: once the marker (sent last)
		// is delivered, everything enqueued before it has been too.
		Eventually(stdout.String).WithContext(ctx).WithTimeout(20 * time.Second).Should(ContainSubstring("last one"))
		Expect(recv.Process.Signal(syscall.SIGTERM)).To(Succeed())
		Eventually(recvDone).WithTimeout(15*time.Second).Should(BeClosed(), stdout.String())
		Expect(recvErr).NotTo(HaveOccurred(), stdout.String())
		data, err := os.ReadFile(recvOut)
		Expect(err).NotTo(HaveOccurred())
		lines := strings.Split(strings.TrimSpace(string(data)), "\n")
		Expect(lines).To(HaveLen(2), string(data))
		Expect(lines[0]).To(ContainSubstring("hello over external"))
		Expect(lines[1]).To(ContainSubstring("last one"))
		Expect(string(data)).NotTo(ContainSubstring("wrong password"))
		Expect(string(data)).NotTo(ContainSubstring("from nobody"))
	}, SpecTimeout(2*time.Minute))

	It("reloads the users file on SIGHUP: a user added by `ciphermq user add` logs in after the signal, and is refused again after `user delete` and another one", func(ctx SpecContext) {
		b := startAuthBroker(ctx)
		users := filepath.Join(b.dir, "users.json")
		user := func(stdin string, args ...string) {
			cmd := exec.CommandContext(ctx, bin, append([]string{"user"}, append(args, "--file", users)...)...)
			cmd.Stdin = strings.NewReader(stdin)
			out, err := cmd.CombinedOutput()
			Expect(err).NotTo(HaveOccurred(), string(out))
		}
		hup := func(n int) {
			Expect(b.cmd.Process.Signal(syscall.SIGHUP)).To(Succeed())
			Eventually(func() int { return strings.Count(b.log.String(), "reload on SIGHUP done") }).
				WithContext(ctx).WithTimeout(15 * time.Second).Should(Equal(n))
		}
		carol := b.client(b.alice, "--user", "carol", "--password-file", b.rightPassword)

		By("user add and grant without SIGHUP: the broker does not know carol yet (600)")
		user("correct horse battery staple\n", "add", "carol", "--password-stdin")
		user("", "grant", "carol", "--vhost", "/", "--write", "default_exchange")
		out, err := b.send(ctx, append(carol, "--id-prefix", "carol-a", "before the reload")...)
		Expect(err).To(HaveOccurred(), out)
		Expect(out).To(ContainSubstring("code 600"))

		By("SIGHUP: carol logs in and publishes")
		hup(1)
		out, err = b.send(ctx, append(carol, "--id-prefix", "carol-b", "after the reload")...)
		Expect(err).NotTo(HaveOccurred(), out)
		Expect(out).To(ContainSubstring("confirmed 1"))

		By("user delete and SIGHUP: carol is refused again")
		user("", "delete", "carol")
		hup(2)
		out, err = b.send(ctx, append(carol, "--id-prefix", "carol-c", "after the delete")...)
		Expect(err).To(HaveOccurred(), out)
		Expect(out).To(ContainSubstring("code 600"))
	}, SpecTimeout(2*time.Minute))

	It("refuses to start anonymous on 0.0.0.0 without --users, and starts with --allow-anonymous", func(ctx SpecContext) {
		port := freeLoopbackPort()
		By("without --users: a clear refusal and a non-zero exit, before serving")
		cmd := exec.CommandContext(ctx, bin, "server", "--in-memory", "--listen", "0.0.0.0:"+port)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		err := cmd.Run()
		Expect(err).To(HaveOccurred(), out.String())
		Expect(out.String()).To(ContainSubstring("--allow-anonymous"))
		Expect(out.String()).To(ContainSubstring("--users"))

		By("with --allow-anonymous: it serves (reached via 127.0.0.1 only)")
		p := startServerProc("--listen", "0.0.0.0:"+port, "--allow-anonymous")
		p.waitListening(ctx, "127.0.0.1:"+port)
		dir := GinkgoT().TempDir()
		kout, err := exec.Command(bin, "keygen", "--dir", dir).CombinedOutput()
		Expect(err).NotTo(HaveOccurred(), string(kout))
		sout, err := exec.CommandContext(ctx, bin, "send", "--broker", "127.0.0.1:"+port, "--to-key", filepath.Join(dir, "receiver.pub"),
			"--sign-key", filepath.Join(dir, "sender.key"), "--timeout", "20s", "anonymous hello").CombinedOutput()
		Expect(err).NotTo(HaveOccurred(), string(sout))
	}, SpecTimeout(time.Minute))
})
