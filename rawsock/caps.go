package rawsock

import "errors"

// ErrCannotDrop is DropPrivileges' answer in a binary built with cgo,
// where the capability set of every thread cannot be changed at once.
var ErrCannotDrop = errors.New("capabilities cannot be dropped from every thread of a cgo build; build with CGO_ENABLED=0")

// dropDisabled turns DropPrivileges into a no-op for the unit tests of
// engines run on fake connections, which hold nothing to drop and run
// under the race detector (cgo). Only tests set it, with DisableDropForTest.
var dropDisabled bool

// DisableDropForTest makes DropPrivileges do nothing, for unit tests of
// engines on fake connections; it must never be called outside tests.
func DisableDropForTest() { dropDisabled = true }
