//go:build !linux

package dropreason

import (
	"errors"
	"net/netip"
)

// Watch is not available outside Linux.
type Watch struct{}

// Start fails outside Linux.
func Start([]netip.Addr) (*Watch, error) { return nil, errors.New("eBPF: Linux only") }

// Counts is empty outside Linux.
func (*Watch) Counts() map[string]uint64 { return map[string]uint64{} }

// Close does nothing.
func (*Watch) Close() {}
