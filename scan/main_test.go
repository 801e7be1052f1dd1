package scan

import "github.com/rawkit/rawkit/rawsock"

// The engine's unit tests run on a simulated network, under the race
// detector too (a cgo build, where capabilities cannot be dropped): there
// is nothing to drop. The lab tests of cmd/portscan check the real drop.
func init() { rawsock.DisableDropForTest() }
