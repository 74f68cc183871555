package realworld

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// mainPackage is the import path of the ciphermq binary.
const mainPackage = "github.com/ciphermq/ciphermq/cmd/ciphermq"

// BuildBinary compiles the ciphermq binary into dir (CGO_ENABLED=0, so it is
// a static binary like the one a release ships) and returns its path. It
// must run inside the module (the go tool finds it from the working
// directory); tests call it once per suite.
func BuildBinary(ctx context.Context, dir string) (string, error) {
	root, err := moduleRoot(ctx)
	if err != nil {
		return "", err
	}
	out := filepath.Join(dir, "ciphermq")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, mainPackage)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go build %s: %w\n%s", mainPackage, err, stderr.String())
	}
	return out, nil
}

// moduleRoot is the directory of the go.mod governing the working directory.
func moduleRoot(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w: is the go tool on PATH?", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", fmt.Errorf("not inside a Go module: run from the ciphermq source tree, or give the binary with Config.Binary")
	}
	return filepath.Dir(gomod), nil
}
