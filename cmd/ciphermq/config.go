package main

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/ciphermq/ciphermq/clients"
)

// Client settings come from four places; the first that has a value wins:
// a flag given on the command line, an environment variable, the config
// file, the built-in default. Defaults match the reference system's names.
const (
	defaultBroker     = "127.0.0.1:5672"
	defaultExchange   = "default_exchange"
	defaultRoutingKey = "default_key"
	defaultQueue      = "default_queue"
	defaultFormat     = "modern"

	envConfig = "CIPHERMQ_CONFIG"
)

// fileConfig is the JSON config file. Every field is optional. Paths are
// relative to the file's directory.
type fileConfig struct {
	Broker     string   `json:"broker,omitempty"`
	Exchange   string   `json:"exchange,omitempty"`
	RoutingKey string   `json:"routing_key,omitempty"`
	Queue      string   `json:"queue,omitempty"`
	Format     string   `json:"format,omitempty"`
	Key        string   `json:"key,omitempty"`      // receiver private key (recv)
	Trust      []string `json:"trust,omitempty"`    // trusted sender public keys (recv)
	Out        string   `json:"out,omitempty"`      // receiver output file (recv)
	ToKey      []string `json:"to_key,omitempty"`   // recipient public keys (send)
	SignKey    string   `json:"sign_key,omitempty"` // sender signing key (send)

	TLSCA         string `json:"tls_ca,omitempty"`          // CA bundle of the broker's certificate
	TLSCert       string `json:"tls_cert,omitempty"`        // client certificate (mutual TLS)
	TLSKey        string `json:"tls_key,omitempty"`         // client key (mutual TLS)
	TLSServerName string `json:"tls_server_name,omitempty"` // name expected in the broker's certificate

	User         string `json:"user,omitempty"`          // broker user (PLAIN, or the identity EXTERNAL expects)
	PasswordFile string `json:"password_file,omitempty"` // file holding the user's password (first line)
	Vhost        string `json:"vhost,omitempty"`         // virtual host (default /)
	Auth         string `json:"auth,omitempty"`          // plain or external
}

// setting describes one resolvable value: its flag, its variable and how
// to read it from the file.
type setting struct {
	flag string
	env  string
	file func(*fileConfig) []string
	def  []string
}

var (
	setBroker     = setting{"broker", "CIPHERMQ_BROKER", func(c *fileConfig) []string { return one(c.Broker) }, []string{defaultBroker}}
	setExchange   = setting{"exchange", "CIPHERMQ_EXCHANGE", func(c *fileConfig) []string { return one(c.Exchange) }, []string{defaultExchange}}
	setRoutingKey = setting{"routing-key", "CIPHERMQ_ROUTING_KEY", func(c *fileConfig) []string { return one(c.RoutingKey) }, []string{defaultRoutingKey}}
	setQueue      = setting{"queue", "CIPHERMQ_QUEUE", func(c *fileConfig) []string { return one(c.Queue) }, []string{defaultQueue}}
	setFormat     = setting{"format", "CIPHERMQ_FORMAT", func(c *fileConfig) []string { return one(c.Format) }, []string{defaultFormat}}
	setKey        = setting{"key", "CIPHERMQ_KEY", func(c *fileConfig) []string { return one(c.Key) }, nil}
	setTrust      = setting{"trust", "CIPHERMQ_TRUST", func(c *fileConfig) []string { return c.Trust }, nil}
	setOut        = setting{"out", "CIPHERMQ_OUT", func(c *fileConfig) []string { return one(c.Out) }, nil}
	setToKey      = setting{"to-key", "CIPHERMQ_TO_KEY", func(c *fileConfig) []string { return c.ToKey }, nil}
	setSignKey    = setting{"sign-key", "CIPHERMQ_SIGN_KEY", func(c *fileConfig) []string { return one(c.SignKey) }, nil}

	setTLSCA         = setting{"tls-ca", "CIPHERMQ_TLS_CA", func(c *fileConfig) []string { return one(c.TLSCA) }, nil}
	setTLSCert       = setting{"tls-cert", "CIPHERMQ_TLS_CERT", func(c *fileConfig) []string { return one(c.TLSCert) }, nil}
	setTLSKey        = setting{"tls-key", "CIPHERMQ_TLS_KEY", func(c *fileConfig) []string { return one(c.TLSKey) }, nil}
	setTLSServerName = setting{"tls-server-name", "CIPHERMQ_TLS_SERVER_NAME", func(c *fileConfig) []string { return one(c.TLSServerName) }, nil}

	setUser         = setting{"user", "CIPHERMQ_USER", func(c *fileConfig) []string { return one(c.User) }, nil}
	setPasswordFile = setting{"password-file", "CIPHERMQ_PASSWORD_FILE", func(c *fileConfig) []string { return one(c.PasswordFile) }, nil}
	setVhost        = setting{"vhost", "CIPHERMQ_VHOST", func(c *fileConfig) []string { return one(c.Vhost) }, nil}
	setAuth         = setting{"auth", "CIPHERMQ_AUTH", func(c *fileConfig) []string { return one(c.Auth) }, nil}
)

// envPassword carries a password without a file; there is deliberately no
// --password flag (command lines are visible to every local user).
const envPassword = "CIPHERMQ_PASSWORD"

func one(s string) []string {
	if s == "" {
		return nil
	}
	return []string{s}
}

// clientConfig resolves settings for one command run.
type clientConfig struct {
	cmd  *cobra.Command
	file *fileConfig
	dir  string // directory of the config file, for relative paths
	path string // the config file used, "" if none
}

// addConfigFlag registers --config on a client command.
func addConfigFlag(cmd *cobra.Command) {
	cmd.Flags().String("config", "", "JSON config file (default: $"+envConfig+", else ~/.config/ciphermq/config.json if it exists)")
}

// loadClientConfig reads the config file named by --config or
// CIPHERMQ_CONFIG (which must exist), or the default file if it exists.
func loadClientConfig(cmd *cobra.Command) (*clientConfig, error) {
	c := &clientConfig{cmd: cmd, file: &fileConfig{}}
	// fix says what to do when the file cannot be read, by where its path
	// came from: a default file that exists but cannot be read is not the
	// fault of a --config the user never gave.
	path, explicit, fix := "", false, ""
	if f := cmd.Flags().Lookup("config"); f != nil && f.Value.String() != "" {
		path, explicit, fix = f.Value.String(), true, "fix the path given by --config"
	} else if v := os.Getenv(envConfig); v != "" {
		path, explicit, fix = v, true, "fix the path in $"+envConfig
	} else if dir, err := os.UserConfigDir(); err == nil {
		path = filepath.Join(dir, "ciphermq", "config.json")
		fix = "this is the default config file, read when it exists: fix or remove it, or name another file with --config or $" + envConfig
	}
	if path == "" {
		return c, nil
	}
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) && !explicit {
		return c, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read config file: %w: %s", err, fix)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(c.file); err != nil {
		return nil, fmt.Errorf("config file %s: %w: it must be one JSON object with the keys "+
			"broker, exchange, routing_key, queue, format, key, trust, out, to_key, sign_key, tls_ca, tls_cert, tls_key, tls_server_name", path, err)
	}
	c.path = path
	c.dir = filepath.Dir(path)
	return c, nil
}

// values resolves a setting: flag > environment > file > default. List
// settings take comma-separated environment values.
func (c *clientConfig) values(s setting) []string {
	if f := c.cmd.Flags().Lookup(s.flag); f != nil && f.Changed {
		if sv, ok := f.Value.(interface{ GetSlice() []string }); ok {
			return sv.GetSlice()
		}
		return []string{f.Value.String()}
	}
	if v := os.Getenv(s.env); v != "" {
		var out []string
		for _, p := range strings.Split(v, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
		return out
	}
	if v := s.file(c.file); len(v) > 0 {
		return v
	}
	return s.def
}

// value resolves a single-valued setting ("" if unset everywhere).
func (c *clientConfig) value(s setting) string {
	if v := c.values(s); len(v) > 0 {
		return v[len(v)-1]
	}
	return ""
}

// pathValues resolves a path setting; paths from the config file are taken
// relative to the file's directory.
func (c *clientConfig) pathValues(s setting) []string {
	v := c.values(s)
	if f := c.cmd.Flags().Lookup(s.flag); (f == nil || !f.Changed) && os.Getenv(s.env) == "" && len(s.file(c.file)) > 0 {
		out := make([]string, len(v))
		for i, p := range v {
			if !filepath.IsAbs(p) {
				p = filepath.Join(c.dir, p)
			}
			out[i] = p
		}
		return out
	}
	return v
}

func (c *clientConfig) pathValue(s setting) string {
	if v := c.pathValues(s); len(v) > 0 {
		return v[len(v)-1]
	}
	return ""
}

// describe says where a setting can be given, for error messages.
func describe(s setting) string {
	return fmt.Sprintf("pass --%s or set %s (or %q in the config file)", s.flag, s.env, jsonName(s))
}

func jsonName(s setting) string { return strings.ReplaceAll(s.flag, "-", "_") }

// envHint names a setting's environment variable in flag help.
func envHint(s setting) string { return " [$" + s.env + "]" }

// addTLSFlags registers the TLS flags of a command that connects to a
// broker. TLS is on when any of them (or its variable or config key) is
// given.
func addTLSFlags(cmd *cobra.Command) {
	f := cmd.Flags()
	addTLSFileFlags(f, "--broker")
	f.String("user", "", "broker user to authenticate as (PLAIN; the password comes from --password-file or $"+envPassword+")"+envHint(setUser))
	f.String("password-file", "", "file whose first line is the --user's password"+envHint(setPasswordFile))
	f.String("vhost", "", "virtual host to act in (default /)"+envHint(setVhost))
	f.String("auth", "", "authentication: plain (default with --user) or external (the TLS client certificate names the user)"+envHint(setAuth))
}

// addTLSFileFlags registers --tls-ca, --tls-cert, --tls-key and
// --tls-server-name; target names the flag whose host the server name
// defaults to.
func addTLSFileFlags(f *pflag.FlagSet, target string) {
	f.String("tls-ca", "", "connect with TLS; CA bundle (PEM) that signs the broker's certificate (default: the system's roots)"+envHint(setTLSCA))
	f.String("tls-cert", "", "connect with TLS; client certificate (PEM) for brokers that require one"+envHint(setTLSCert))
	f.String("tls-key", "", "connect with TLS; the client certificate's private key (PEM)"+envHint(setTLSKey))
	f.String("tls-server-name", "", "connect with TLS; name expected in the broker's certificate (default: the "+target+" host)"+envHint(setTLSServerName))
}

// credentials fills the authentication options from the settings.
func (c *clientConfig) credentials(o *clients.Options) error {
	o.User = c.value(setUser)
	o.Vhost = c.value(setVhost)
	switch mech := strings.ToLower(c.value(setAuth)); mech {
	case "":
	case "plain":
		o.Mechanism = "PLAIN"
	case "external":
		o.Mechanism = "EXTERNAL"
	default:
		return fmt.Errorf("--auth %q: use plain or external", mech)
	}
	if o.Mechanism == "EXTERNAL" {
		return nil
	}
	if path := c.pathValue(setPasswordFile); path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return fmt.Errorf("reading the password file: %w", err)
		}
		line, _, _ := strings.Cut(string(b), "\n")
		o.Password = strings.TrimSuffix(line, "\r")
	} else {
		o.Password = os.Getenv(envPassword)
	}
	if o.User == "" && o.Password != "" {
		return fmt.Errorf("a password was given without a user: %s", describe(setUser))
	}
	if o.User != "" && o.Password == "" && o.Mechanism != "EXTERNAL" {
		return fmt.Errorf("user %q has no password: pass --password-file or set $%s", o.User, envPassword)
	}
	return nil
}

// tlsConfig is the client TLS configuration the settings ask for, or nil
// (plain TCP) when none of the TLS settings is given.
func (c *clientConfig) tlsConfig() (*tls.Config, error) {
	files := clients.TLSFiles{
		CAFile:     c.pathValue(setTLSCA),
		CertFile:   c.pathValue(setTLSCert),
		KeyFile:    c.pathValue(setTLSKey),
		ServerName: c.value(setTLSServerName),
	}
	if files == (clients.TLSFiles{}) {
		return nil, nil
	}
	cfg, err := clients.TLSConfig(files)
	if err != nil {
		return nil, fmt.Errorf("%w (TLS settings: --tls-ca, --tls-cert, --tls-key, --tls-server-name or $CIPHERMQ_TLS_*)", err)
	}
	return cfg, nil
}

// dialOptions are the connection options of a client command: its name,
// logger and the TLS settings.
func (c *clientConfig) dialOptions(name string, logger *slog.Logger) (clients.Options, error) {
	cfg, err := c.tlsConfig()
	if err != nil {
		return clients.Options{}, err
	}
	o := clients.Options{ClientName: name, Logger: logger, TLS: cfg}
	return o, c.credentials(&o)
}

// connectError explains a failed first connection with the hint that fits
// its cause.
func connectError(addr string, err error) error {
	switch {
	case clients.IsAuthFailed(err):
		return fmt.Errorf("connect to broker %s: %w: check --user and its password (--password-file or $%s), or --auth external with a client certificate", addr, err, envPassword)
	case clients.IsAccessRefused(err):
		return fmt.Errorf("connect to broker %s: %w: ask the operator to grant the user permissions on the vhost (ciphermq user grant)", addr, err)
	case isTLSRefusal(err):
		return fmt.Errorf("connect to broker %s: %w: check the TLS settings (--tls-ca, --tls-cert, --tls-key, --tls-server-name or $CIPHERMQ_TLS_*)", addr, err)
	}
	var be *clients.BrokerError
	if errors.As(err, &be) {
		return fmt.Errorf("connect to broker %s: %w", addr, err)
	}
	return fmt.Errorf("connect to broker %s: %w (if the broker is elsewhere, pass --broker or set CIPHERMQ_BROKER)", addr, err)
}

// isTLSRefusal reports whether a connection failed in TLS: the broker's
// certificate did not verify, or the broker sent an alert (it refused the
// client certificate, or has none it accepts). The broker was reached, so
// the "is it elsewhere?" hint would mislead.
func isTLSRefusal(err error) bool {
	var ve *tls.CertificateVerificationError
	var oe *net.OpError
	return errors.As(err, &ve) || (errors.As(err, &oe) && oe.Op == "remote error")
}
