// Package shutdown turns the signals that ask a tool to stop (SIGINT,
// SIGTERM, SIGHUP) into two contexts: the first signal cancels the run's
// context, so the tool finishes what it holds (a capture drains its ring
// to the mark, ping prints its statistics); a second signal says "now",
// for the tool to stop at once, still closing its files and printing its
// tallies. SIGHUP counts as SIGTERM: a closed terminal ends a capture with
// its file complete, as tcpdump's does.
package shutdown

import (
	"context"
	"os"
	"os/signal"
	"syscall"
	"time"
)

type hurryKey struct{}

// Signals are those that stop a run.
var Signals = []os.Signal{os.Interrupt, syscall.SIGTERM, syscall.SIGHUP}

// ForceAfter is how long a run has, after the second signal, to end by
// itself before force is called: a write blocked on a pipe nobody reads
// cannot be hurried.
const ForceAfter = time.Second

// Notify returns a context cancelled by the first stop signal; Hurry on
// it is closed by the second, and force (if not nil) is called
// ForceAfter later, should the run still be going; it is expected to end
// the process. stop releases the signal handler.
func Notify(parent context.Context, force func()) (ctx context.Context, stop func()) {
	hurry := make(chan struct{})
	ctx, cancel := context.WithCancel(context.WithValue(parent, hurryKey{}, (<-chan struct{})(hurry)))
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, Signals...)
	quit := make(chan struct{})
	go func() {
		n := 0
		for {
			select {
			case <-sigs:
				n++
				switch n {
				case 1:
					cancel()
				case 2:
					close(hurry)
					if force != nil {
						time.AfterFunc(ForceAfter, force)
					}
				}
			case <-quit:
				return
			}
		}
	}()
	return ctx, func() {
		signal.Stop(sigs)
		close(quit)
		cancel()
	}
}

// WithHurry returns a context whose Hurry is h: for tests and callers
// that drive the two stages themselves.
func WithHurry(parent context.Context, h <-chan struct{}) context.Context {
	return context.WithValue(parent, hurryKey{}, h)
}

// Hurry is closed when the run must stop at once; nil (never ready) when
// ctx carries none.
func Hurry(ctx context.Context) <-chan struct{} {
	h, _ := ctx.Value(hurryKey{}).(<-chan struct{})
	return h
}
