package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/ciphermq/ciphermq/broker/server"
	"github.com/ciphermq/ciphermq/internal/testbroker"
	"github.com/ciphermq/ciphermq/internal/tlsgen"
)

// mutualTLSFiles writes into dir a CA, a broker certificate for localhost
// and 127.0.0.1 ("server-*") and a client certificate named cn
// ("client-*"), all from that CA.
func mutualTLSFiles(t *testing.T, dir, cn string) (server, client tlsgen.Files) {
	t.Helper()
	ca, err := tlsgen.NewCA(cn + " test CA")
	if err != nil {
		t.Fatal(err)
	}
	srvLeaf, err := ca.LocalServer()
	if err != nil {
		t.Fatal(err)
	}
	if server, err = tlsgen.WriteFiles(dir, "server", ca, srvLeaf); err != nil {
		t.Fatal(err)
	}
	cliLeaf, err := ca.Issue(tlsgen.LeafOptions{CommonName: cn})
	if err != nil {
		t.Fatal(err)
	}
	if client, err = tlsgen.WriteFiles(dir, "client", ca, cliLeaf); err != nil {
		t.Fatal(err)
	}
	return server, client
}

// TLS settings reach send (and every client command through the same
// plumbing) from flags, environment variables and the config file.
func TestSendOverMutualTLSFromFlagsEnvAndConfigFile(t *testing.T) {
	home := isolate(t)
	dir := t.TempDir()
	sf, cf := mutualTLSFiles(t, dir, "cli")
	cfg := server.DefaultConfig()
	cfg.TLS.Listen = "127.0.0.1:0"
	cfg.TLS.CertFile, cfg.TLS.KeyFile, cfg.TLS.CAFile, cfg.TLS.ClientAuth = sf.Cert, sf.Key, sf.CA, server.ClientAuthRequire
	srv, addr := testbroker.StartTLS(t, cfg)
	keys := t.TempDir()
	if _, err := keygen(t, "--dir", keys); err != nil {
		t.Fatal(err)
	}
	common := []string{"--broker", addr, "--to-key", filepath.Join(keys, "receiver.pub"), "--sign-key", filepath.Join(keys, "sender.key")}

	// Flags.
	out, _, err := runSendCmd(t, "", append(common, "--tls-ca", cf.CA, "--tls-cert", cf.Cert, "--tls-key", cf.Key, "--tls-server-name", "localhost", "by flags")...)
	if err != nil || !strings.Contains(out, "confirmed 1") {
		t.Fatalf("send with TLS flags: %v\n%s", err, out)
	}
	// Plain TCP to the TLS port fails.
	if out, _, err := runSendCmd(t, "", append(common, "plain")...); err == nil {
		t.Fatalf("plain TCP to a TLS listener succeeded:\n%s", out)
	}
	// Without the client certificate the broker refuses the TLS session,
	// and without the CA the broker's certificate does not verify: the
	// error points at the TLS settings, not at the address.
	for name, args := range map[string][]string{
		"no client certificate": {"--tls-ca", cf.CA, "--tls-server-name", "localhost"},
		"no CA":                 {"--tls-cert", cf.Cert, "--tls-key", cf.Key, "--tls-server-name", "localhost"},
	} {
		_, _, err := runSendCmd(t, "", append(append(common, args...), name)...)
		if err == nil || !strings.Contains(err.Error(), "check the TLS settings") || strings.Contains(err.Error(), "elsewhere") {
			t.Errorf("send with %s: %v, want the TLS settings hint", name, err)
		}
	}
	// A certificate without its key is refused before connecting.
	if _, _, err := runSendCmd(t, "", append(common, "--tls-cert", cf.Cert, "half")...); err == nil || !strings.Contains(err.Error(), "without its key") {
		t.Fatalf("--tls-cert alone: %v", err)
	}
	// Environment variables.
	t.Setenv(setTLSCA.env, cf.CA)
	t.Setenv(setTLSCert.env, cf.Cert)
	t.Setenv(setTLSKey.env, cf.Key)
	out, _, err = runSendCmd(t, "", append(common, "by env")...)
	if err != nil || !strings.Contains(out, "confirmed 1") {
		t.Fatalf("send with CIPHERMQ_TLS_*: %v\n%s", err, out)
	}
	for _, s := range []setting{setTLSCA, setTLSCert, setTLSKey} {
		t.Setenv(s.env, "")
	}
	// The config file, with paths relative to it.
	conf := filepath.Join(dir, "config.json")
	writeConfig(t, conf, `{"tls_ca": "client-ca.pem", "tls_cert": "client.pem", "tls_key": "client.key", "tls_server_name": "localhost"}`)
	out, _, err = runSendCmd(t, "", append(common, "--config", conf, "by file")...)
	if err != nil || !strings.Contains(out, "confirmed 1") {
		t.Fatalf("send with TLS config keys: %v\n%s", err, out)
	}
	if got := queueReady(srv, "default_queue"); got != 3 {
		t.Fatalf("default_queue holds %d, want 3", got)
	}
	_ = home
}
