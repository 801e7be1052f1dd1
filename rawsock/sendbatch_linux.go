package rawsock

import (
	"net/netip"
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// sendBatchMax is the most datagrams one sendmmsg of WriteBatch sends.
const sendBatchMax = 64

// sendBatch is a sendmmsg's arguments, kept with the socket (made on its
// first use) and bound once, like the other operations.
type sendBatch struct {
	hdrs [sendBatchMax]mmsghdr
	iovs [sendBatchMax]unix.Iovec
	sa4  [sendBatchMax]unix.RawSockaddrInet4
	sa6  [sendBatchMax]unix.RawSockaddrInet6
	k    int // the datagrams set up
	n    int // sent by the last call
	err  unix.Errno
	now  func(uintptr)
}

func (b *sendBatch) once(fd uintptr) {
	n, _, errno := unix.RawSyscall6(unix.SYS_SENDMMSG, fd, uintptr(unsafe.Pointer(&b.hdrs[0])), uintptr(b.k), 0, 0, 0)
	b.n, b.err = int(n), errno
	if errno != 0 {
		b.n = 0
	}
}

// WriteBatch sends pkts[i] to dsts[i], in order, in as few system calls
// as the kernel allows (sendmmsg(2), up to 64 datagrams a call). It
// returns how many it sent; when that is fewer than len(pkts), err is
// the error of the next, which was not sent (a full send buffer
// included: WriteToTTL waits for room). A scan sends tens of thousands
// of probes, each a system call's entry and exit otherwise.
func (c *conn) WriteBatch(pkts [][]byte, dsts []netip.Addr) (int, error) {
	s := c.s
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if s.sb == nil {
		s.sb = new(sendBatch)
		s.sb.now = s.sb.once
	}
	b := s.sb
	sent := 0
	for sent < len(pkts) {
		b.k = min(len(pkts)-sent, sendBatchMax)
		for i := range b.k {
			p, to := pkts[sent+i], dsts[sent+i]
			b.iovs[i] = unix.Iovec{}
			if len(p) > 0 {
				b.iovs[i].Base = &p[0]
				b.iovs[i].SetLen(len(p))
			}
			h := &b.hdrs[i].hdr
			*h = unix.Msghdr{Iov: &b.iovs[i]}
			h.SetIovlen(1)
			if to.Is4() || to.Is4In6() {
				b.sa4[i] = unix.RawSockaddrInet4{Family: unix.AF_INET, Addr: to.Unmap().As4()}
				h.Name, h.Namelen = (*byte)(unsafe.Pointer(&b.sa4[i])), unix.SizeofSockaddrInet4
			} else {
				b.sa6[i] = unix.RawSockaddrInet6{Family: unix.AF_INET6, Addr: to.As16()}
				h.Name, h.Namelen = (*byte)(unsafe.Pointer(&b.sa6[i])), unix.SizeofSockaddrInet6
			}
		}
		cerr := s.rc.Control(b.now)
		for i := range b.k {
			b.iovs[i].Base = nil // keep no buffer alive
		}
		if cerr != nil {
			return sent, c.opError("write", cerr)
		}
		sent += b.n
		if b.err == 0 && b.n == 0 {
			b.err = unix.EAGAIN // (a call that sent nothing said so)
		}
		if b.err != 0 {
			return sent, c.opError("write", os.NewSyscallError("sendmmsg", b.err))
		}
	}
	c.txKey += uint32(sent)
	return sent, nil
}
