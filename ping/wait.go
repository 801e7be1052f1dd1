package ping

import (
	"context"
	"errors"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rawkit/rawkit/rawsock"
)

// errStopped ends a wait when the run's context is done (Ctrl-C).
var errStopped = errors.New("ping: stopped")

// A waiter blocks the loop until a packet arrives, a duration passes, or
// the run is stopped; it hands arriving packets to the loop's handle.
type waiter interface {
	// wait waits at most d; got reports that a packet was handled.
	wait(d time.Duration) (got bool, err error)
	// takeQueued handles what has arrived without waiting.
	takeQueued()
	// interrupt ends the wait under way, or the next, early (a status
	// request): it may be called from any goroutine.
	interrupt()
	close()
}

// newWaiter picks how the loop waits. With one socket the loop reads it
// itself, with a read deadline: no goroutine hand-off on the hot path.
// With an IPv4 and an IPv6 socket a reader goroutine per socket feeds a
// channel the loop selects on.
func (p *pinger) newWaiter(ctx context.Context) waiter {
	if len(p.families) == 1 {
		f := p.families[0]
		return newSocketWaiter(ctx, p, f.family, f.c)
	}
	return newChannelWaiter(ctx, p)
}

// socketWaiter reads the one socket from the loop's goroutine.
type socketWaiter struct {
	ctx    context.Context
	p      *pinger
	family int
	c      Conn
	buf    []byte
	stop   func() bool
	// woken is set by interrupt: a wait that sets its deadline after
	// the interrupt's moved it to the past ends at once all the same.
	woken atomic.Bool
}

func newSocketWaiter(ctx context.Context, p *pinger, family int, c Conn) *socketWaiter {
	w := &socketWaiter{ctx: ctx, p: p, family: family, c: c, buf: make([]byte, 65536)}
	// Cancellation unblocks the read by moving its deadline to the past.
	w.stop = context.AfterFunc(ctx, func() { c.SetReadDeadline(time.Unix(1, 0)) })
	return w
}

func (w *socketWaiter) wait(d time.Duration) (bool, error) {
	if w.ctx.Err() != nil {
		return false, errStopped
	}
	if d <= pollUnder {
		return w.poll(d)
	}
	if err := w.c.SetReadDeadline(time.Now().Add(d)); err != nil {
		return false, err
	}
	// A cancellation or an interrupt between the first look and the new
	// deadline would have its past deadline overwritten: look again.
	if w.ctx.Err() != nil {
		return false, errStopped
	}
	if w.woken.Swap(false) {
		return false, nil
	}
	for {
		n, meta, err := w.c.ReadMsg(w.buf)
		at := time.Now()
		if err != nil {
			if w.ctx.Err() != nil {
				return false, errStopped
			}
			if errors.Is(err, os.ErrDeadlineExceeded) {
				return false, nil
			}
			return false, err
		}
		if a, ok := accept(w.family, w.c, w.buf[:n], meta, at); ok {
			w.p.handle(a)
			return true, nil
		}
	}
}

// pollUnder is the longest wait made in a ppoll of the loop's own thread
// (a flood's, between rounds at most 10 ms apart): its answer usually
// comes within microseconds, and the runtime's poller would park the
// goroutine and wake a thread for each. A stop is seen when it ends.
const pollUnder = 10 * time.Millisecond

// poll is wait for short waits: the socket polled, then read without
// waiting.
func (w *socketWaiter) poll(d time.Duration) (bool, error) {
	until := time.Now().Add(d)
	for {
		ready, err := w.c.WaitReadable(d)
		if w.ctx.Err() != nil {
			return false, errStopped
		}
		if err != nil {
			return false, err
		}
		for ready {
			n, meta, err := w.c.TryReadMsg(w.buf)
			if errors.Is(err, rawsock.ErrNoPacket) {
				break // an error-queue message that was not ours, say
			}
			if err != nil {
				return false, err
			}
			if a, ok := accept(w.family, w.c, w.buf[:n], meta, time.Now()); ok {
				w.p.handle(a)
				return true, nil
			}
		}
		if d = time.Until(until); d <= 0 {
			return false, nil
		}
	}
}

func (w *socketWaiter) takeQueued() {}

func (w *socketWaiter) interrupt() {
	w.woken.Store(true)
	w.c.SetReadDeadline(time.Unix(1, 0))
}
func (w *socketWaiter) close() { w.stop() }

// channelWaiter gets packets from a reader goroutine per socket.
type channelWaiter struct {
	ctx      context.Context
	cancel   context.CancelFunc
	p        *pinger
	arrivals chan arrival
	readErr  chan error
	woken    chan struct{} // interrupt's
	timer    *time.Timer
	readers  sync.WaitGroup
}

func newChannelWaiter(ctx context.Context, p *pinger) *channelWaiter {
	ctx, cancel := context.WithCancel(ctx)
	w := &channelWaiter{ctx: ctx, cancel: cancel, p: p,
		arrivals: make(chan arrival, 1024), readErr: make(chan error, len(p.families)), woken: make(chan struct{}, 1),
		timer: time.NewTimer(time.Hour)}
	for _, f := range p.families {
		w.readers.Add(1)
		go func() {
			defer w.readers.Done()
			w.read(f.family, f.c)
		}()
	}
	return w
}

// read passes every packet of c that may answer one of our probes to the
// loop, until c is closed or the run stops.
func (w *channelWaiter) read(family int, c Conn) {
	buf := make([]byte, 65536)
	for {
		n, meta, err := c.ReadMsg(buf)
		at := time.Now()
		if err != nil {
			if w.ctx.Err() != nil {
				err = nil
			}
			w.readErr <- err
			return
		}
		a, ok := accept(family, c, buf[:n], meta, at)
		if !ok {
			continue
		}
		select {
		case w.arrivals <- a:
		case <-w.ctx.Done():
			w.readErr <- nil
			return
		}
	}
}

func (w *channelWaiter) wait(d time.Duration) (bool, error) {
	w.timer.Reset(d)
	defer w.timer.Stop()
	select {
	case a := <-w.arrivals:
		w.p.handle(a)
		return true, nil
	case <-w.timer.C:
		return false, nil
	case <-w.woken:
		return false, nil
	case <-w.ctx.Done():
		return false, errStopped
	case err := <-w.readErr:
		if err == nil {
			return false, errStopped
		}
		return false, err
	}
}

func (w *channelWaiter) takeQueued() {
	for {
		select {
		case a := <-w.arrivals:
			w.p.handle(a)
		default:
			return
		}
	}
}

func (w *channelWaiter) interrupt() {
	select {
	case w.woken <- struct{}{}:
	default: // one is pending already
	}
}

// close stops the readers and waits for them: a read is unblocked by a
// deadline in the past, so no reader outlives the run.
func (w *channelWaiter) close() {
	w.cancel()
	for _, f := range w.p.families {
		f.c.SetReadDeadline(time.Unix(1, 0))
	}
	w.readers.Wait()
}
