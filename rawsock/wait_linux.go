package rawsock

import (
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// pollOp is a ppoll(2) of the socket, bound once (see sock).
type pollOp struct {
	fds   [1]unix.PollFd
	ts    unix.Timespec
	ready bool
	err   error
	now   func(uintptr)
}

func (p *pollOp) once(fd uintptr) {
	p.fds[0] = unix.PollFd{Fd: int32(fd), Events: unix.POLLIN}
	n, err := unix.Ppoll(p.fds[:], &p.ts, nil)
	p.ready, p.err = n > 0, err
	if err == unix.EINTR {
		p.err = nil
	}
}

// WaitReadable waits at most d until a packet, or an error-queue message,
// can be read, in a ppoll(2) of the calling thread rather than the
// runtime's poller; it reports whether one can. A loop that reads one
// answer per probe, and whose answers come within microseconds (a flood),
// spends less here than parking its goroutine and waking a thread for
// each answer, as iputils' blocking recvmsg does. It returns early, not
// ready, when a signal interrupts it; Close waits until it returns, so d
// should be short.
func (c *conn) WaitReadable(d time.Duration) (bool, error) {
	if c.closed.Load() {
		return false, os.ErrClosed
	}
	s := c.s
	s.pmu.Lock()
	defer s.pmu.Unlock()
	p := &s.po
	p.ts = unix.NsecToTimespec(max(int64(d), 0))
	if err := s.rc.Control(p.now); err != nil {
		return false, err
	}
	if p.err != nil {
		return false, os.NewSyscallError("ppoll", p.err)
	}
	return p.ready, nil
}
