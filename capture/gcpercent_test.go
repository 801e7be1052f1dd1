package capture

import (
	"runtime"
	"runtime/debug"
	"testing"
	"time"
)

// The collector's percent changes only once it has collected: a capture
// that allocates nothing keeps the default and never collects.
func TestGCPercentAfterFirstCollection(t *testing.T) {
	old := debug.SetGCPercent(100)
	defer debug.SetGCPercent(old)
	gcPercentAfterFirstCollection(37)
	if got := debug.SetGCPercent(100); got != 100 {
		t.Fatalf("percent %d before any collection, want 100", got)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		runtime.GC()
		time.Sleep(time.Millisecond) // the finalizer's goroutine runs
		got := debug.SetGCPercent(100)
		if got == 37 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("percent %d after collections, want 37", got)
		}
	}
}
