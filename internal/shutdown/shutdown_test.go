package shutdown

import (
	"context"
	"os"
	"syscall"
	"testing"
	"time"
)

// The first signal cancels, the second hurries, and force follows.
func TestTwoStages(t *testing.T) {
	forced := make(chan struct{})
	ctx, stop := Notify(context.Background(), func() { close(forced) })
	defer stop()
	if Hurry(ctx) == nil {
		t.Fatal("no hurry channel")
	}
	syscall.Kill(os.Getpid(), syscall.SIGHUP)
	select {
	case <-ctx.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("SIGHUP did not cancel")
	}
	select {
	case <-Hurry(ctx):
		t.Fatal("one signal hurried")
	case <-time.After(50 * time.Millisecond):
	}
	syscall.Kill(os.Getpid(), syscall.SIGINT)
	select {
	case <-Hurry(ctx):
	case <-time.After(5 * time.Second):
		t.Fatal("the second signal did not hurry")
	}
	select {
	case <-forced:
	case <-time.After(ForceAfter + 5*time.Second):
		t.Fatal("force was not called")
	}
}

func TestNoHurryWithoutNotify(t *testing.T) {
	if Hurry(context.Background()) != nil {
		t.Fatal("a plain context hurries")
	}
	h := make(chan struct{})
	if Hurry(WithHurry(context.Background(), h)) == nil {
		t.Fatal("WithHurry lost its channel")
	}
}
