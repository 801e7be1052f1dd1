//go:build !linux

package sockowner

import (
	"errors"
	"time"
)

// Table is unavailable off Linux.
type Table struct{}

// New fails off Linux: sock_diag and /proc are Linux's.
func New(netns string) (*Table, error) { return nil, errors.New("--process: Linux only") }

// Lookup knows nothing off Linux.
func (t *Table) Lookup(f Flow, now time.Time) (*Process, bool) { return nil, false }

// Mode says how processes are found.
func (t *Table) Mode() string { return "" }

// BPF reports whether eBPF is in use.
func (t *Table) BPF() bool { return false }

// Close does nothing.
func (t *Table) Close() {}
