package scan

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/rawkit/rawkit/rawsock"
)

// runConnect scans with the kernel's connect(): no privilege needed, a
// full handshake per open port (closed at once), Concurrency at a time.
func (s *scanner) runConnect(ctx context.Context, resume *resumeState, stderr io.Writer) error {
	timeout := s.opts.Wait
	if timeout == 0 {
		timeout = time.Second
	}
	progress := newProgress(s, stderr)
	defer progress.stop()
	work := make(chan uint64)
	var wg sync.WaitGroup
	ready := make(chan error, s.opts.Concurrency)
	for range s.opts.Concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// With --netns each worker's thread lives in the namespace,
			// where its connect() calls open their sockets.
			err := rawsock.EnterNetnsForGood(s.opts.Netns)
			ready <- err
			if err != nil {
				return
			}
			d := net.Dialer{Timeout: timeout}
			if s.opts.Source.IsValid() {
				d.LocalAddr = &net.TCPAddr{IP: s.opts.Source.AsSlice()}
			}
			for idx := range work {
				dst, port := s.probeOf(idx)
				s.sent.Add(1)
				start := time.Now()
				c, err := d.DialContext(ctx, "tcp", net.JoinHostPort(dst.String(), strconv.Itoa(int(port))))
				r := connectResult(err)
				if c != nil {
					c.Close()
				}
				if r.State == Unknown {
					continue // interrupted: unknown, not filtered
				}
				s.mu.Lock()
				if s.probed != nil {
					s.probed.set(idx)
				}
				s.mu.Unlock()
				r.RTT = time.Since(start)
				s.record(dst, port, r, time.Now())
			}
		}()
	}
	var startErr error
	for range s.opts.Concurrency {
		if err := <-ready; err != nil && startErr == nil {
			startErr = err
		}
	}
	if startErr == nil {
		// connect() needs no capability: none is kept from here on.
		if err := rawsock.DropPrivileges(); err != nil {
			startErr = fmt.Errorf("dropping capabilities: %w", err)
		}
	}
	if startErr != nil {
		close(work)
		wg.Wait()
		return startErr
	}
	pace := newPace(s.opts)
	j0 := s.opts.Shard.I
	if resume != nil {
		j0 = resume.Next
	}
	for j := j0; j < s.n && ctx.Err() == nil; j += s.opts.Shard.N {
		idx := s.perm.At(j)
		if s.answered(idx) {
			continue
		}
		for now := int64(time.Since(s.start)); !pace.may(now, true, true); now = int64(time.Since(s.start)) {
			time.Sleep(pace.wait(now))
		}
		pace.sent(int64(time.Since(s.start)))
		select {
		case work <- idx:
		case <-ctx.Done():
		}
	}
	close(work)
	wg.Wait()
	return nil
}

// connectResult maps a connect() outcome to nmap's state and reason.
func connectResult(err error) Result {
	var errno syscall.Errno
	switch {
	case err == nil:
		return Result{State: Open, Reason: "syn-ack"}
	case errors.Is(err, context.Canceled):
		return Result{}
	case errors.As(err, &errno):
		switch errno {
		case syscall.ECONNREFUSED:
			return Result{State: Closed, Reason: "conn-refused"}
		case syscall.EHOSTUNREACH:
			return Result{State: Filtered, Reason: "host-unreach"}
		case syscall.ENETUNREACH:
			return Result{State: Filtered, Reason: "net-unreach"}
		case syscall.EACCES, syscall.EPERM:
			return Result{State: Filtered, Reason: "admin-prohibited"}
		case syscall.ETIMEDOUT:
			return Result{State: Filtered, Reason: "no-response"}
		}
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return Result{State: Filtered, Reason: "no-response"}
	}
	return Result{State: Filtered, Reason: "error"}
}
