//go:build !linux

package term

import (
	"errors"
	"os"
)

// IsTerminal is false off Linux: the full-screen views are Linux only.
func IsTerminal(*os.File) bool { return false }

// Size is zero off Linux.
func Size(*os.File) (cols, lines int) { return 0, 0 }

// Cbreak fails off Linux.
func Cbreak(*os.File) (func(), error) { return nil, errors.New("terminal modes: Linux only") }
