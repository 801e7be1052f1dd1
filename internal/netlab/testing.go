//go:build linux

package netlab

import (
	"errors"
	"os"
	"testing"
)

// ForTest builds a lab for t and removes it when t ends. Without root it
// skips t with the reason — except in CI (CI=true), which runs as root
// and where a skipped lab test would hide a failure, so there it fails.
func ForTest(t testing.TB, spec Spec) *Lab {
	t.Helper()
	lab, err := New(spec)
	if errors.Is(err, ErrNotPermitted) && os.Getenv("CI") != "true" {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := lab.Close(); err != nil {
			t.Errorf("removing the lab: %v", err)
		}
	})
	return lab
}
