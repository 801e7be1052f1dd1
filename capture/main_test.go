package capture

import "github.com/rawkit/rawkit/rawsock"

// The engine's unit tests read fake sources and files, under the race
// detector too (a cgo build, where capabilities cannot be dropped): there
// is nothing to drop. The lab tests of cmd/sniff check the real drop.
func init() { rawsock.DisableDropForTest() }
