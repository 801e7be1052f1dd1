package rawsock

import (
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// batchSys is what recvmmsg needs beside the buffers.
type batchSys struct {
	hdrs  []mmsghdr
	iovs  []unix.Iovec
	names []unix.RawSockaddrAny
	oob   []byte
}

func newBatchSys(k int) batchSys {
	return batchSys{hdrs: make([]mmsghdr, k), iovs: make([]unix.Iovec, k), names: make([]unix.RawSockaddrAny, k), oob: make([]byte, k*batchOOB)}
}

// mmsghdr is struct mmsghdr: a msghdr and the length received.
type mmsghdr struct {
	hdr unix.Msghdr
	len uint32
	_   [unix.SizeofPtr - 4]byte
}

const batchOOB = 256 // control messages of one datagram: timestamp, TTL, TOS

// batchOp is a recvmmsg in progress, bound once to the socket.
type batchOp struct {
	b   *Batch
	n   int
	err error
	now func(uintptr)
}

func (r *batchOp) once(fd uintptr) {
	b, sys := r.b, &r.b.sys
	for i := range sys.hdrs {
		sys.iovs[i].Base = &b.Bufs[i][0]
		sys.iovs[i].SetLen(len(b.Bufs[i]))
		h := &sys.hdrs[i].hdr
		*h = unix.Msghdr{Name: (*byte)(unsafe.Pointer(&sys.names[i])), Namelen: unix.SizeofSockaddrAny, Iov: &sys.iovs[i],
			Control: &sys.oob[i*batchOOB]}
		h.SetIovlen(1)
		h.SetControllen(batchOOB)
	}
	n, _, errno := unix.RawSyscall6(unix.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&sys.hdrs[0])), uintptr(len(sys.hdrs)),
		unix.MSG_DONTWAIT, 0, 0)
	r.n, r.err = int(n), nil
	if errno != 0 {
		r.n, r.err = 0, errno
	}
}

// TryReadBatch reads the datagrams already queued, up to len(b.Bufs),
// without waiting: it returns how many, or ErrNoPacket when none is. A
// ping socket's ICMP errors (its error queue) come one at a time, as
// TryReadMsg gives them.
func (c *conn) TryReadBatch(b *Batch) (int, error) {
	if len(b.Bufs) == 0 {
		return 0, nil
	}
	if n, m, ok := c.popError(b.Bufs[0]); ok {
		b.N[0], b.Meta[0] = n, m
		return 1, nil
	}
	s := c.s
	s.bmu.Lock()
	s.br.b = b
	cerr := s.rc.Control(s.br.now)
	s.br.b = nil
	n, err := s.br.n, s.br.err
	s.bmu.Unlock()
	if cerr != nil {
		return 0, c.opError("read", cerr)
	}
	if err == unix.EAGAIN {
		if !c.raw {
			n, m, err := c.readMsg(b.Bufs[0], true) // the error queue
			if err != nil {
				return 0, err
			}
			b.N[0], b.Meta[0] = n, m
			return 1, nil
		}
		return 0, ErrNoPacket
	}
	if err != nil {
		return 0, c.opError("read", os.NewSyscallError("recvmmsg", err))
	}
	sys := &b.sys
	kept := 0
	for i := range n {
		m := Meta{TTL: -1}
		h := &sys.hdrs[i].hdr
		parseControl(sys.oob[i*batchOOB:i*batchOOB+int(h.Controllen)], &m)
		m.Src = rawSockaddrAddr(&sys.names[i]).Unmap()
		buf, size := b.Bufs[i], min(int(sys.hdrs[i].len), len(b.Bufs[i]))
		if c.raw && c.family == 4 {
			ihl := int(buf[0]&0x0f) * 4
			if size < 20 || ihl < 20 || ihl > size {
				continue // malformed: dropped, as ReadMsg's error would be
			}
			m.TTL = int(buf[8])
			size = copy(buf, buf[ihl:size])
		}
		// The datagrams read are moved to the front: a dropped one leaves
		// no gap.
		b.Bufs[kept], b.Bufs[i] = b.Bufs[i], b.Bufs[kept]
		b.N[kept], b.Meta[kept] = size, m
		kept++
	}
	if kept == 0 {
		return 0, ErrNoPacket
	}
	return kept, nil
}
