package envelope

import (
	"bufio"
	"bytes"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// findPython returns an interpreter that can import Cryptodome (Debian's
// python3-pycryptodome), trying $CIPHERMQ_PYTHON, /usr/bin/python3, python3,
// or skips the test saying why and how to install it.
func findPython(t *testing.T) string {
	t.Helper()
	path, tried := pickPython([]string{os.Getenv("CIPHERMQ_PYTHON"), "/usr/bin/python3", "python3"})
	if path == "" {
		t.Skipf("no Python with PyCryptodome (module Cryptodome) found, so the reference-format interop test cannot run "+
			"(tried %s); install it with: apt-get install -y python3-pycryptodome (or set CIPHERMQ_PYTHON)", strings.Join(tried, "; "))
	}
	return path
}

// pickPython returns the first candidate that imports Cryptodome, and what
// went wrong with the others.
func pickPython(candidates []string) (string, []string) {
	var tried []string
	for _, c := range candidates {
		if c == "" {
			continue
		}
		path, err := exec.LookPath(c)
		if err != nil {
			tried = append(tried, c+": not found")
			continue
		}
		out, err := exec.Command(path, "-c", "import Cryptodome").CombinedOutput()
		if err == nil {
			return path, tried
		}
		tried = append(tried, fmt.Sprintf("%s: %s", path, strings.TrimSpace(string(out))))
	}
	return "", tried
}

// The skip path names every interpreter it tried and why it was refused.
func TestPickPythonExplainsRefusals(t *testing.T) {
	path, tried := pickPython([]string{"", "/nonexistent/python3", "/bin/false"})
	if path != "" {
		t.Fatalf("picked %q", path)
	}
	if len(tried) != 2 || !strings.Contains(tried[0], "/nonexistent/python3: not found") || !strings.HasPrefix(tried[1], "/bin/false") {
		t.Fatalf("refusals not explained: %q", tried)
	}
}

func interopScript(t *testing.T) string {
	_, file, _, _ := runtime.Caller(0)
	p := filepath.Join(filepath.Dir(file), "..", "..", "scripts", "interop", "seed_interop.py")
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("interop script missing: %v", err)
	}
	return p
}

func runPython(t *testing.T, python string, stdin string, args ...string) []string {
	t.Helper()
	cmd := exec.Command(python, append([]string{interopScript(t)}, args...)...)
	cmd.Stdin = strings.NewReader(stdin)
	// The plaintexts are UTF-8 whatever the CI machine's locale says.
	cmd.Env = append(os.Environ(), "PYTHONIOENCODING=utf-8", "PYTHONUTF8=1")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("python %v: %v\n%s", args, err, stderr.String())
	}
	var lines []string
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	return lines
}

// Plaintexts cover ASCII, the reference's stock message, multi-byte UTF-8
// and JSON-special characters.
var interopMessages = []string{
	"This is a test hybrid message.",
	"x",
	"héllo wörld — 日本語 😀",
	`quotes " and \ backslash {"json": true}`,
	strings.Repeat("long message ", 40),
}

// Python seals with a Python-generated key pair; Go reads the Python PEM
// files and opens every envelope; Go's re-encoding of the parsed fields is
// byte-identical to Python's json.dumps.
func TestInteropPythonSealsGoOpens(t *testing.T) {
	python := findPython(t)
	dir := t.TempDir()
	runPython(t, python, "", "genkey", dir)
	priv, err := readSeedPrivateKey(filepath.Join(dir, "receiver_private.pem"))
	if err != nil {
		t.Fatalf("Go cannot read Python's private key: %v", err)
	}
	pub, err := readSeedPublicKey(filepath.Join(dir, "receiver_public.pem"))
	if err != nil || !pub.Equal(&priv.PublicKey) {
		t.Fatalf("Go cannot read Python's public key: %v", err)
	}
	o, err := NewSeedOpener(priv)
	if err != nil {
		t.Fatal(err)
	}
	lines := runPython(t, python, strings.Join(interopMessages, "\n")+"\n", "seal", filepath.Join(dir, "receiver_public.pem"))
	if len(lines) != len(interopMessages) {
		t.Fatalf("python sealed %d envelopes, want %d", len(lines), len(interopMessages))
	}
	for i, line := range lines {
		f, err := parseSeed([]byte(line), DefaultMaxEnvelopeSize)
		if err != nil {
			t.Fatalf("envelope %d: %v", i, err)
		}
		got, _, err := o.Open(nil, f.messageID, []byte(line), t0)
		if err != nil {
			t.Fatalf("Go cannot open Python envelope %d: %v\n%s", i, err, line)
		}
		if string(got) != interopMessages[i] {
			t.Fatalf("envelope %d: got %q, want %q", i, got, interopMessages[i])
		}
		if again := appendSeedJSON(nil, f.messageID, f.encKey, f.nonce, f.tag, f.cipher); string(again) != line {
			t.Fatalf("Go's encoding differs from json.dumps:\nGo:     %s\nPython: %s", again, line)
		}
	}
}

// Go generates and writes the key files and seals; Python reads Go's PEM
// files and opens every envelope from the broker's push line, and its
// json.dumps of the parsed envelope equals Go's bytes.
func TestInteropGoSealsPythonOpens(t *testing.T) {
	python := findPython(t)
	dir := t.TempDir()
	privPath, pubPath := filepath.Join(dir, "receiver_private.pem"), filepath.Join(dir, "receiver_public.pem")
	k, _ := seedKeys(t)
	if err := writeSeedKeyFiles(privPath, pubPath, k); err != nil {
		t.Fatal(err)
	}
	pub, err := readSeedPublicKey(pubPath)
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewSeedSealer(pub, nil)
	if err != nil {
		t.Fatal(err)
	}
	var in strings.Builder
	ids := make([]string, len(interopMessages))
	for i, m := range interopMessages {
		ids[i] = fmt.Sprintf("7c9e6679-7425-40de-944b-e07fc1f9%04d", i)
		switch i { // ids that exercise json.dumps's ensure_ascii escaping
		case 2:
			ids[i] = "ünï-cødé-ид-😀"
		case 3:
			ids[i] = `q"uote\back\slash`
		}
		env := mustSeal(t, s, ids[i], []byte(m), t0)
		fmt.Fprintf(&in, "Message: %s %s\n", ids[i], env)
	}
	lines := runPython(t, python, in.String(), "open", privPath)
	if len(lines) != len(interopMessages) {
		t.Fatalf("python opened %d envelopes, want %d", len(lines), len(interopMessages))
	}
	for i, line := range lines {
		var res struct {
			MessageID      string `json:"message_id"`
			Message        string `json:"message"`
			DumpsIdentical bool   `json:"dumps_identical"`
			Error          string `json:"error"`
		}
		if err := json.Unmarshal([]byte(line), &res); err != nil {
			t.Fatalf("python output %q: %v", line, err)
		}
		if res.Error != "" {
			t.Fatalf("Python cannot open Go envelope %d: %s", i, res.Error)
		}
		if res.MessageID != ids[i] || res.Message != interopMessages[i] {
			t.Fatalf("envelope %d: python got %q/%q", i, res.MessageID, res.Message)
		}
		if !res.DumpsIdentical {
			t.Fatalf("envelope %d: json.dumps of Go's envelope differs from Go's bytes", i)
		}
	}
}

// The Python opener is a real check: it reports a tampered envelope as an error.
func TestInteropPythonRejectsTampering(t *testing.T) {
	python := findPython(t)
	dir := t.TempDir()
	privPath, pubPath := filepath.Join(dir, "p.pem"), filepath.Join(dir, "q.pem")
	k, _ := seedKeys(t)
	if err := writeSeedKeyFiles(privPath, pubPath, k); err != nil {
		t.Fatal(err)
	}
	s, _ := NewSeedSealer(&k.PublicKey, nil)
	env := mustSeal(t, s, "id", []byte("hello"), t0)
	var m map[string]string
	json.Unmarshal(env, &m)
	m["tag"] = "AAAAAAAAAAAAAAAAAAAAAA=="
	bad, _ := json.Marshal(m)
	lines := runPython(t, python, "Message: id "+string(bad)+"\n", "open", privPath)
	if len(lines) != 1 || !strings.Contains(lines[0], `"error"`) {
		t.Fatalf("python accepted a tampered envelope: %v", lines)
	}
}

// The file helpers of the interop tests (key files proper live in
// clients/keyfile, which imports this package).

func readSeedPrivateKey(path string) (*rsa.PrivateKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return ParseSeedPrivateKey(data)
}

func readSeedPublicKey(path string) (*rsa.PublicKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return ParseSeedPublicKey(data)
}

func writeSeedKeyFiles(privPath, pubPath string, k *rsa.PrivateKey) error {
	pub, err := MarshalSeedPublicKey(&k.PublicKey)
	if err != nil {
		return err
	}
	return errors.Join(os.WriteFile(privPath, MarshalSeedPrivateKey(k), 0o600), os.WriteFile(pubPath, pub, 0o644))
}
