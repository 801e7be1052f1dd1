//go:build !linux

package scan

import "os"

// readOnly is the content of the file at path.
func readOnly(path string) ([]byte, error) { return os.ReadFile(path) }
