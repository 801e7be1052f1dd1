//go:build linux

package netlab

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"os"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// The kernel here has no netem, so a lab delays packets itself: the first
// router hands every IP packet it forwards to an NFQUEUE (netfilter's
// queue to user space, nfnetlink_queue) that this process reads, and
// gives each its verdict (accept) only after a delay drawn for it. The
// netlink messages are few and fixed (include/uapi/linux/netfilter/
// nfnetlink_queue.h), so they are built here rather than with a library.

const (
	nfnlSubsysQueue = 3
	nfqnlMsgPacket  = 0
	nfqnlMsgVerdict = 1
	nfqnlMsgConfig  = 2
	nfqaCfgCmd      = 1
	nfqaCfgParams   = 2
	nfqaPacketHdr   = 1
	nfqaVerdictHdr  = 2
	nfqnlCfgCmdBind = 1
	nfqnlCopyMeta   = 1
	nfAccept        = 1
	delayQueueNum   = 7
	nlmsgHdrLen     = 16
	nfgenMsgLen     = 4
	nlaHdrLen       = 4
)

// delayer holds an NFQUEUE socket opened in a router's namespace.
type delayer struct {
	fd       int
	min, max time.Duration
	mu       sync.Mutex // one writer of verdicts at a time
	done     chan struct{}
	closed   sync.Once
}

// startDelay delays every packet router n forwards by a time drawn
// uniformly from [min, max], each packet on its own, so round trips vary
// from packet to packet as on a real path.
func (l *Lab) startDelay(n *Node, min, max time.Duration) error {
	d := &delayer{min: min, max: max, done: make(chan struct{})}
	err := inNamespace(n.NS, func() error {
		fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_NETFILTER)
		if err != nil {
			return os.NewSyscallError("socket NETLINK_NETFILTER", err)
		}
		d.fd = fd
		// Reads wake up now and then to see whether the lab is closing:
		// closing a netlink socket does not end a read blocked on it.
		tv := unix.NsecToTimeval((200 * time.Millisecond).Nanoseconds())
		if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
			return os.NewSyscallError("setsockopt SO_RCVTIMEO", err)
		}
		return unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK})
	})
	if err != nil {
		if d.fd > 0 {
			unix.Close(d.fd)
		}
		return err
	}
	// Bind the queue, then copy only the packet's metadata: a verdict
	// needs its id, nothing of its bytes.
	bind := make([]byte, 4)
	bind[0] = nfqnlCfgCmdBind
	params := make([]byte, 5)
	binary.BigEndian.PutUint32(params, 0)
	params[4] = nfqnlCopyMeta
	for _, msg := range [][]byte{
		d.message(nfqnlMsgConfig, unix.AF_UNSPEC, attr(nfqaCfgCmd, bind)),
		d.message(nfqnlMsgConfig, unix.AF_UNSPEC, attr(nfqaCfgParams, params)),
	} {
		if err := unix.Sendto(d.fd, msg, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
			unix.Close(d.fd)
			return os.NewSyscallError("sendto nfqueue config", err)
		}
	}
	for _, ipt := range []string{"iptables", "ip6tables"} {
		if err := l.Run(n, ipt, "-I", "FORWARD", "-j", "NFQUEUE", "--queue-num", fmt.Sprint(delayQueueNum)); err != nil {
			unix.Close(d.fd)
			return err
		}
	}
	go d.run()
	l.closers = append(l.closers, d)
	return nil
}

// message builds a netlink message of the queue subsystem for our queue.
func (d *delayer) message(typ uint16, family uint8, attrs ...[]byte) []byte {
	size := nlmsgHdrLen + nfgenMsgLen
	for _, a := range attrs {
		size += len(a)
	}
	b := make([]byte, nlmsgHdrLen+nfgenMsgLen, size)
	ne := binary.NativeEndian
	ne.PutUint32(b[0:], uint32(size))
	ne.PutUint16(b[4:], nfnlSubsysQueue<<8|typ)
	ne.PutUint16(b[6:], unix.NLM_F_REQUEST)
	b[16] = family
	b[17] = 0 // NFNETLINK_V0
	binary.BigEndian.PutUint16(b[18:], delayQueueNum)
	for _, a := range attrs {
		b = append(b, a...)
	}
	return b
}

// attr is one netlink attribute, padded to four bytes.
func attr(typ uint16, payload []byte) []byte {
	n := nlaHdrLen + len(payload)
	b := make([]byte, (n+3)&^3)
	binary.NativeEndian.PutUint16(b[0:], uint16(n))
	binary.NativeEndian.PutUint16(b[2:], typ)
	copy(b[nlaHdrLen:], payload)
	return b
}

// run reads queued packets and accepts each after its delay.
func (d *delayer) run() {
	buf := make([]byte, 65536)
	for {
		n, _, err := unix.Recvfrom(d.fd, buf, 0)
		if err != nil {
			select {
			case <-d.done:
				return
			default:
			}
			if err == unix.EINTR || err == unix.ENOBUFS || err == unix.EAGAIN {
				continue
			}
			return
		}
		for b := buf[:n]; len(b) >= nlmsgHdrLen; {
			size := int(binary.NativeEndian.Uint32(b[0:]))
			if size < nlmsgHdrLen || size > len(b) {
				break
			}
			typ := binary.NativeEndian.Uint16(b[4:])
			if typ == nfnlSubsysQueue<<8|nfqnlMsgPacket {
				if id, ok := packetID(b[nlmsgHdrLen+nfgenMsgLen : size]); ok {
					delay := d.min
					if d.max > d.min {
						delay += rand.N(d.max - d.min)
					}
					time.AfterFunc(delay, func() { d.accept(id) })
				}
			}
			b = b[(size+3)&^3:]
		}
	}
}

// packetID finds NFQA_PACKET_HDR's packet id among the attributes.
func packetID(attrs []byte) (uint32, bool) {
	for len(attrs) >= nlaHdrLen {
		n := int(binary.NativeEndian.Uint16(attrs[0:]))
		typ := binary.NativeEndian.Uint16(attrs[2:]) & 0x7fff
		if n < nlaHdrLen || n > len(attrs) {
			return 0, false
		}
		if typ == nfqaPacketHdr && n >= nlaHdrLen+4 {
			return binary.BigEndian.Uint32(attrs[nlaHdrLen:]), true
		}
		attrs = attrs[(n+3)&^3:]
	}
	return 0, false
}

func (d *delayer) accept(id uint32) {
	v := make([]byte, 8)
	binary.BigEndian.PutUint32(v[0:], nfAccept)
	binary.BigEndian.PutUint32(v[4:], id)
	msg := d.message(nfqnlMsgVerdict, unix.AF_UNSPEC, attr(nfqaVerdictHdr, v))
	d.mu.Lock()
	defer d.mu.Unlock()
	select {
	case <-d.done:
		return
	default:
	}
	unix.Sendto(d.fd, msg, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK})
}

// Close stops the delayer; packets still queued are dropped with the
// namespace.
func (d *delayer) Close() error {
	d.closed.Do(func() {
		d.mu.Lock()
		close(d.done)
		d.mu.Unlock()
		// The reader sees done within its read timeout; the socket is
		// closed after it, never under it.
		time.AfterFunc(time.Second, func() { unix.Close(d.fd) })
	})
	return nil
}
