package redisproc

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// BuildStructD builds cmd/structd of the module the go command finds from
// the working directory into a new temporary directory named after pattern
// (as os.MkdirTemp), for the benchmarks in bench/, which run from anywhere
// inside the module. It returns the directory, which the caller removes,
// and the binary's path.
func BuildStructD(ctx context.Context, pattern string) (dir, bin string, err error) {
	if dir, err = os.MkdirTemp("", pattern); err != nil {
		return "", "", err
	}
	bin = filepath.Join(dir, "structd")
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/structd")
	build.Dir, build.Stdout, build.Stderr = moduleRoot(), os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		os.RemoveAll(dir)
		return "", "", fmt.Errorf("go build ./cmd/structd: %w", err)
	}
	return dir, bin, nil
}

// moduleRoot is the directory of the go.mod the go command finds from the
// working directory, or "." outside a module.
func moduleRoot() string {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	gomod := strings.TrimSpace(string(out))
	if err != nil || gomod == "" || gomod == os.DevNull {
		return "."
	}
	return filepath.Dir(gomod)
}
