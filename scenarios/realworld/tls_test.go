package realworld_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/ciphermq/ciphermq/internal/testutil"
	"github.com/ciphermq/ciphermq/internal/tlsgen"
)

// opensslPath is where the CI image has openssl (.ci/run installs it).
const opensslPath = "/usr/bin/openssl"

// tlsBroker is a `ciphermq server` child with only a mutual-TLS listener.
type tlsBroker struct {
	addr   string
	dir    string
	ca     *tlsgen.CA
	server tlsgen.Files
	client tlsgen.Files
	leaf   *tlsgen.Leaf // the client's certificate
	cmd    *exec.Cmd
	log    *testutil.SyncBuffer
	exited chan struct{}
}

func startTLSBroker(ctx context.Context) *tlsBroker { return startTLSBrokerWithCRL(ctx, "") }

// startTLSBrokerWithCRL is startTLSBroker with --tls-crl crlPath (an empty
// CRL of the broker's CA is written there first) unless crlPath is "".
func startTLSBrokerWithCRL(ctx context.Context, crlPath string) *tlsBroker {
	b := &tlsBroker{dir: GinkgoT().TempDir(), log: &testutil.SyncBuffer{}, exited: make(chan struct{})}
	var err error
	b.ca, err = tlsgen.NewCA("realworld TLS CA")
	Expect(err).NotTo(HaveOccurred())
	srv, err := b.ca.LocalServer()
	Expect(err).NotTo(HaveOccurred())
	b.server, err = tlsgen.WriteFiles(b.dir, "server", b.ca, srv)
	Expect(err).NotTo(HaveOccurred())
	cli, err := b.ca.Issue(tlsgen.LeafOptions{CommonName: "realworld-client"})
	Expect(err).NotTo(HaveOccurred())
	b.leaf = cli
	b.client, err = tlsgen.WriteFiles(b.dir, "client", b.ca, cli)
	Expect(err).NotTo(HaveOccurred())

	l, err := net.Listen("tcp", "127.0.0.1:0")
	Expect(err).NotTo(HaveOccurred())
	b.addr = l.Addr().String()
	l.Close()
	b.cmd = exec.Command(bin, "server", "--in-memory", "--listen", "off", "--tls-listen", b.addr,
		"--tls-cert", b.server.Cert, "--tls-key", b.server.Key, "--tls-ca", b.server.CA,
		"--tls-client-auth", "require", "--log-level", "debug")
	if crlPath != "" {
		crl, err := b.ca.CRLPEM()
		Expect(err).NotTo(HaveOccurred())
		Expect(tlsgen.WriteAtomic(crlPath, crl, 0o600)).To(Succeed())
		b.cmd.Args = append(b.cmd.Args, "--tls-crl", crlPath)
	}
	b.cmd.Stdout, b.cmd.Stderr = b.log, b.log
	Expect(b.cmd.Start()).To(Succeed())
	go func() { b.cmd.Wait(); close(b.exited) }()
	DeferCleanup(func() {
		b.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-b.exited:
		case <-time.After(10 * time.Second):
			b.cmd.Process.Kill()
			<-b.exited
		}
		AddReportEntry("broker log", b.log.String())
	})
	Eventually(func() error {
		select {
		case <-b.exited:
			StopTrying("the broker exited:\n" + b.log.String()).Now()
		default:
		}
		c, err := net.DialTimeout("tcp", b.addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
		}
		return err
	}).WithContext(ctx).WithTimeout(15 * time.Second).Should(Succeed())
	return b
}

// servedSerial is the serial of the certificate a new TLS client sees.
func (b *tlsBroker) servedSerial() *big.Int {
	pool := x509.NewCertPool()
	pool.AddCert(b.ca.Cert)
	cert, err := tls.LoadX509KeyPair(b.client.Cert, b.client.Key)
	Expect(err).NotTo(HaveOccurred())
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", b.addr,
		&tls.Config{RootCAs: pool, ServerName: "localhost", Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS13})
	Expect(err).NotTo(HaveOccurred())
	defer c.Close()
	return c.ConnectionState().PeerCertificates[0].SerialNumber
}

// sClient runs openssl s_client against the broker, writes line, and
// returns the process with its combined output.
func (b *tlsBroker) sClient(line string, extra ...string) (*exec.Cmd, *testutil.SyncBuffer, chan struct{}) {
	args := append([]string{"s_client", "-connect", b.addr, "-CAfile", b.server.CA, "-servername", "localhost", "-quiet"}, extra...)
	cmd := exec.Command(opensslPath, args...)
	out := &testutil.SyncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	in, err := cmd.StdinPipe()
	Expect(err).NotTo(HaveOccurred())
	Expect(cmd.Start()).To(Succeed())
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	DeferCleanup(func() {
		in.Close()
		cmd.Process.Kill()
		<-done
	})
	io.WriteString(in, line+"\n")
	return cmd, out, done
}

var _ = Describe("ciphermq server with mutual TLS (real process)", func() {
	It("refuses openssl s_client without a client certificate and serves it with one", func(ctx SpecContext) {
		if _, err := os.Stat(opensslPath); err != nil {
			Skip("openssl is not installed at " + opensslPath + " (.ci/run installs it): " + err.Error())
		}
		b := startTLSBroker(ctx)

		By("no client certificate: the TLS 1.3 alert 'certificate required', and no reply")
		_, out, done := b.sClient("declare_queue refused")
		Eventually(done).WithTimeout(15 * time.Second).Should(BeClosed())
		Expect(out.String()).To(ContainSubstring("certificate required"))
		Expect(out.String()).NotTo(ContainSubstring("Queue declared"))
		Eventually(b.log.String).WithTimeout(10 * time.Second).Should(ContainSubstring("TLS handshake failed"))

		By("with the client certificate: the text protocol answers over TLS")
		_, out, _ = b.sClient("declare_queue accepted", "-cert", b.client.Cert, "-key", b.client.Key)
		Eventually(out.String).WithTimeout(15 * time.Second).Should(ContainSubstring("Queue declared"))
		Eventually(b.log.String).WithTimeout(10 * time.Second).Should(ContainSubstring("identity=realworld-client"))
	}, SpecTimeout(time.Minute))

	It("serves a replaced certificate after SIGHUP without restarting", func(ctx SpecContext) {
		b := startTLSBroker(ctx)
		first := b.servedSerial()
		next, err := b.ca.LocalServer()
		Expect(err).NotTo(HaveOccurred())
		Expect(next.Cert.SerialNumber).NotTo(Equal(first))
		_, err = tlsgen.WriteFiles(b.dir, "server", b.ca, next)
		Expect(err).NotTo(HaveOccurred())
		By("the files alone change nothing")
		Expect(b.servedSerial()).To(Equal(first))

		pid := b.cmd.Process.Pid
		Expect(b.cmd.Process.Signal(syscall.SIGHUP)).To(Succeed())
		Eventually(b.servedSerial).WithContext(ctx).WithTimeout(15 * time.Second).Should(Equal(next.Cert.SerialNumber))
		// The new material is served before the whole reload (TLS, then the
		// users file) returns and is logged.
		Eventually(b.log.String).WithTimeout(15 * time.Second).Should(ContainSubstring("reload on SIGHUP done"))
		Expect(b.exited).NotTo(BeClosed(), "the broker exited")
		Expect(b.cmd.Process.Pid).To(Equal(pid))

		By("a broken key: the reload fails, is logged, and the last good certificate stays")
		Expect(os.WriteFile(filepath.Join(b.dir, "server.key"), []byte("garbage"), 0o600)).To(Succeed())
		Expect(b.cmd.Process.Signal(syscall.SIGHUP)).To(Succeed())
		Eventually(b.log.String).WithTimeout(15 * time.Second).Should(ContainSubstring("reload on SIGHUP failed"))
		Expect(b.servedSerial()).To(Equal(next.Cert.SerialNumber))
	}, SpecTimeout(time.Minute))

	It("refuses a certificate revoked by a CRL reloaded on SIGHUP, on a resumed TLS session too", func(ctx SpecContext) {
		dir := GinkgoT().TempDir()
		crlPath := filepath.Join(dir, "ca.crl")
		b := startTLSBrokerWithCRL(ctx, crlPath) // an empty CRL of the broker's CA

		pool := x509.NewCertPool()
		pool.AddCert(b.ca.Cert)
		cert, err := tls.LoadX509KeyPair(b.client.Cert, b.client.Key)
		Expect(err).NotTo(HaveOccurred())
		cfg := &tls.Config{RootCAs: pool, ServerName: "localhost", Certificates: []tls.Certificate{cert},
			MinVersion: tls.VersionTLS13, ClientSessionCache: tls.NewLRUClientSessionCache(4)}
		// statsOnce runs one text command over TLS and reports the answer,
		// the error, and whether the session was resumed.
		statsOnce := func() (string, error, bool) {
			c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", b.addr, cfg)
			if err != nil {
				return "", err, false
			}
			defer c.Close()
			resumed := c.ConnectionState().DidResume
			c.SetDeadline(time.Now().Add(10 * time.Second))
			if _, err := io.WriteString(c, "stats\n"); err != nil {
				return "", err, resumed
			}
			buf := make([]byte, 4096)
			n, err := c.Read(buf)
			return string(buf[:n]), err, resumed
		}
		By("a first connection: a full handshake, whose session ticket the client keeps")
		out, err, _ := statsOnce()
		Expect(err).NotTo(HaveOccurred())
		Expect(out).To(HavePrefix("Stats:"))
		By("the second connection resumes it while the certificate is good")
		out, err, resumed := statsOnce()
		Expect(err).NotTo(HaveOccurred())
		Expect(out).To(HavePrefix("Stats:"))
		Expect(resumed).To(BeTrue(), "the client did not resume its TLS session")

		By("revoke the client certificate and send SIGHUP")
		crl, err := b.ca.CRLPEM(b.leaf.Cert)
		Expect(err).NotTo(HaveOccurred())
		Expect(tlsgen.WriteAtomic(crlPath, crl, 0o600)).To(Succeed())
		Expect(b.cmd.Process.Signal(syscall.SIGHUP)).To(Succeed())
		Eventually(b.log.String).WithTimeout(15 * time.Second).Should(ContainSubstring("reload on SIGHUP done"))

		By("a resumed session with the revoked certificate is refused")
		out, err, resumed = statsOnce()
		Expect(err).To(HaveOccurred(), "the revoked certificate was served: %q", out)
		Expect(resumed).To(BeTrue(), "the refused attempt was not a resumption, so it proves nothing about resumed sessions")
		Eventually(b.log.String).WithTimeout(10 * time.Second).Should(And(ContainSubstring("is revoked by the CRL"), ContainSubstring("resumed session")))
	}, SpecTimeout(time.Minute))
})
