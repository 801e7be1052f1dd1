//go:build linux

// Package labtest runs a rawkit binary inside a netlab namespace for
// integration tests: it builds the tool once per test binary, runs it with
// a bounded wait, and returns what it printed and its exit status.
package labtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/rawkit/rawkit/internal/netlab"
)

// Result is one finished run of a tool.
type Result struct {
	Stdout, Stderr string
	Code           int
	Elapsed        time.Duration
}

// Build compiles ./cmd/<tool> as a static binary into a fresh directory
// that every user may read (tests run it as nobody too) and returns its
// path. The caller removes the directory.
func Build(tool string) (string, error) {
	dir, err := os.MkdirTemp("", "rawkit-"+tool+"-")
	if err != nil {
		return "", err
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		return "", err
	}
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(file), "..", "..")
	bin := filepath.Join(dir, tool)
	cmd := exec.Command("go", "build", "-tags", "urfave_cli_no_docs", "-o", bin, "./cmd/"+tool)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", errors.New(string(out))
	}
	return bin, nil
}

// Run runs argv in node's namespace, killing it after limit.
func Run(t testing.TB, lab *netlab.Lab, node *netlab.Node, limit time.Duration, argv ...string) Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	cmd := lab.Command(ctx, node, argv[0], argv[1:]...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	r := Result{Stdout: stdout.String(), Stderr: stderr.String(), Elapsed: time.Since(start)}
	if ctx.Err() != nil {
		t.Fatalf("%q did not end within %v\nstdout:\n%s\nstderr:\n%s", argv, limit, r.Stdout, r.Stderr)
	}
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		r.Code = exit.ExitCode()
	case err != nil:
		t.Fatalf("%q: %v", argv, err)
	}
	return r
}

// Main is the TestMain of a tool's lab tests: it builds the tool, stores
// its path in *bin, runs the tests and removes the build.
func Main(m *testing.M, tool string, bin *string) {
	b, err := Build(tool)
	if err != nil {
		fmt.Fprintf(os.Stderr, "building %s: %v\n", tool, err)
		os.Exit(1)
	}
	*bin = b
	code := m.Run()
	os.RemoveAll(filepath.Dir(b))
	os.Exit(code)
}

// Privileges reads the effective capability set and uid of a running
// process from /proc, for tests that check a tool gave up what it held.
func Privileges(pid int) (capEff, uid string, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return "", "", err
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) >= 2 && f[0] == "CapEff:":
			capEff = f[1]
		case len(f) >= 2 && f[0] == "Uid:":
			uid = f[1]
		}
	}
	return capEff, uid, nil
}

// HeldWhileRunning starts argv in node's namespace, waits until it has
// run for after, reads its effective capabilities, and waits for it to
// end (bounded by limit). The tool must have ended by itself.
func HeldWhileRunning(t testing.TB, lab *netlab.Lab, node *netlab.Node, after, limit time.Duration, argv ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	cmd := lab.Command(ctx, node, argv[0], argv[1:]...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(after)
	capEff, _, err := Privileges(cmd.Process.Pid)
	cmd.Wait()
	if err != nil {
		t.Fatalf("%q: %v (it ended before %v)", argv, err, after)
	}
	return capEff
}
