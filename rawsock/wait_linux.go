package rawsock

import (
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// pollOp is a ppoll(2) of the socket, bound once (see sock).
type pollOp struct {
	fds    [1]unix.PollFd
	ts     unix.Timespec
	events int16
	ready  bool
	err    error
	now    func(uintptr)
}

func (p *pollOp) once(fd uintptr) {
	p.fds[0] = unix.PollFd{Fd: int32(fd), Events: p.events}
	n, err := unix.Ppoll(p.fds[:], &p.ts, nil)
	p.ready, p.err = n > 0, err
	if err == unix.EINTR {
		p.err = nil
	}
}

// poll waits at most d for events on the socket, in a ppoll(2) of the
// calling thread; revents are those that came.
func (s *sock) poll(events int16, d time.Duration) (revents int16, err error) {
	s.pmu.Lock()
	defer s.pmu.Unlock()
	return s.pollWith(&s.po, events, d)
}

// pollWith is poll with the state p, which the caller holds.
func (s *sock) pollWith(p *pollOp, events int16, d time.Duration) (revents int16, err error) {
	p.ts = unix.NsecToTimespec(max(int64(d), 0))
	p.events = events
	if err := s.rc.Control(p.now); err != nil {
		return 0, err
	}
	if p.err != nil {
		return 0, os.NewSyscallError("ppoll", p.err)
	}
	if !p.ready {
		return 0, nil
	}
	return p.fds[0].Revents, nil
}

// sendUnpolled is the send of an unpolled socket (see Options.Unpolled),
// made holding wmu: when the send buffer is full it waits for room in
// ppoll, a slice at a time so that Close is noticed.
func (s *sock) sendUnpolled() error {
	for {
		if err := s.rc.Control(s.wr.now); err != nil {
			return err
		}
		if s.wr.err != unix.EAGAIN {
			return nil
		}
		if _, err := s.pollWith(&s.wpo, unix.POLLOUT, pollFallbackSlice); err != nil {
			return err
		}
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
	revents, err := c.s.poll(unix.POLLIN, d)
	return revents != 0, err
}
