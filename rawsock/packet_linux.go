package rawsock

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// PacketConn is a capture socket reading a TPACKET_V3 ring.
type PacketConn struct {
	fd        int
	file      *os.File // fd in the runtime's poller, for waiting
	rc        syscall.RawConn
	ring      []byte
	blockSize int
	blocks    int
	cur       int // the block being read
	pkt       int // packets of cur already read
	off       int // offset of the next packet in cur
	cooked    bool
	ifindex   int  // 0 on "any"
	downSeen  bool // the interface went down once: it may be removed next
	drops     uint64
	received  uint64
	closed    atomic.Bool
	// inNext is set while Next runs, so that Close, from another
	// goroutine, unmaps the ring only once Next is out of it. (Two atomic
	// stores a packet where a mutex and its deferred unlock cost three
	// times as much.)
	inNext atomic.Bool
}

const (
	tpStatusUser    = 1
	tpStatusKernel  = 0
	tpacket3HdrLen  = 48 // TPACKET_ALIGN(sizeof(struct tpacket3_hdr))
	blockStatusOff  = 8  // in struct tpacket_block_desc: version, offset_to_priv, then hdr.bh1
	blockNumPktsOff = 12
	blockFirstOff   = 16
)

// ListenPacket opens a capture socket as cfg describes. Without
// CAP_NET_RAW it returns a *PrivilegeError.
func ListenPacket(cfg PacketConfig) (*PacketConn, error) {
	cooked := cfg.Iface == "" || cfg.Iface == "any"
	typ := unix.SOCK_RAW
	if cooked {
		typ = unix.SOCK_DGRAM
	}
	proto := int(htons(unix.ETH_P_ALL))
	fd, err := unix.Socket(unix.AF_PACKET, typ|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, proto)
	if err != nil {
		err = os.NewSyscallError("socket", err)
		if isPermission(err) {
			return nil, &PrivilegeError{Op: "open a packet capture socket", Fix: FixRaw(), Err: err}
		}
		return nil, err
	}
	c := &PacketConn{fd: fd, cooked: cooked}
	if err := c.setup(cfg, proto); err != nil {
		unix.Close(fd)
		return nil, err
	}
	// Waiting goes through the runtime's poller: a goroutine parks rather
	// than a thread sitting in poll(2), which costs a P hand-off on every
	// wake-up.
	c.file = os.NewFile(uintptr(fd), "packet")
	rc, err := c.file.SyscallConn()
	if err != nil {
		c.Close()
		return nil, err
	}
	c.rc = rc
	return c, nil
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

func (c *PacketConn) setup(cfg PacketConfig, proto int) error {
	ifindex := 0
	if !c.cooked {
		ifi, err := net.InterfaceByName(cfg.Iface)
		if err != nil {
			return fmt.Errorf("rawsock: %w", err)
		}
		ifindex = ifi.Index
		c.ifindex = ifindex
	}
	if cfg.Filter != nil {
		if err := AttachFilter(c.fd, cfg.Filter); err != nil {
			return err
		}
	}
	if err := unix.SetsockoptInt(c.fd, unix.SOL_PACKET, unix.PACKET_VERSION, unix.TPACKET_V3); err != nil {
		return os.NewSyscallError("setsockopt PACKET_VERSION", err)
	}
	c.blockSize, c.blocks = cfg.BlockSize, cfg.Blocks
	if c.blockSize == 0 {
		c.blockSize = 1 << 20
	}
	if c.blocks == 0 {
		c.blocks = 4
	}
	snap := cfg.Snaplen
	if snap == 0 {
		snap = 262144
	}
	frame := 2048
	req := unix.TpacketReq3{
		Block_size: uint32(c.blockSize), Block_nr: uint32(c.blocks),
		Frame_size: uint32(frame), Frame_nr: uint32(c.blockSize / frame * c.blocks),
		Retire_blk_tov: uint32(BlockTimeout / time.Millisecond),
	}
	if err := unix.SetsockoptTpacketReq3(c.fd, unix.SOL_PACKET, unix.PACKET_RX_RING, &req); err != nil {
		return os.NewSyscallError("setsockopt PACKET_RX_RING", err)
	}
	ring, err := unix.Mmap(c.fd, 0, c.blockSize*c.blocks, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return os.NewSyscallError("mmap", err)
	}
	c.ring = ring
	if err := unix.Bind(c.fd, &unix.SockaddrLinklayer{Protocol: uint16(proto), Ifindex: ifindex}); err != nil {
		return os.NewSyscallError("bind", err)
	}
	if cfg.Promiscuous && ifindex != 0 {
		mreq := unix.PacketMreq{Ifindex: int32(ifindex), Type: unix.PACKET_MR_PROMISC}
		if err := unix.SetsockoptPacketMreq(c.fd, unix.SOL_PACKET, unix.PACKET_ADD_MEMBERSHIP, &mreq); err != nil {
			return os.NewSyscallError("setsockopt PACKET_ADD_MEMBERSHIP", err)
		}
	}
	return nil
}

// Cooked reports a capture on "any": packets start at the network header.
func (c *PacketConn) Cooked() bool { return c.cooked }

func (c *PacketConn) block(i int) []byte { return c.ring[i*c.blockSize : (i+1)*c.blockSize] }

func (c *PacketConn) status(b []byte) *uint32 {
	return (*uint32)(unsafe.Pointer(&b[blockStatusOff]))
}

// Next returns the next packet, waiting at most timeout; ok is false when
// none came in time or the socket is closed. p.Data points into the ring:
// it is valid until the next call of Next or Close. One goroutine reads;
// Close may come from another, and ends a waiting Next with os.ErrClosed.
func (c *PacketConn) Next(timeout time.Duration) (p Packet, ok bool, err error) {
	c.inNext.Store(true)
	ok, err = c.next(timeout, &p)
	c.inNext.Store(false)
	return p, ok, err
}

// NextBatch fills pkts with the next packets of one ring block, waiting
// at most timeout for the first; n is 0 when none came in time. Their
// Data stays valid until the next call of Next, NextBatch or Close: the
// block goes back to the kernel only then. One call costs what Next
// costs for one packet.
func (c *PacketConn) NextBatch(timeout time.Duration, pkts []Packet) (n int, err error) {
	if len(pkts) == 0 {
		return 0, nil
	}
	c.inNext.Store(true)
	defer c.inNext.Store(false)
	if ok, err := c.next(timeout, &pkts[0]); !ok {
		return 0, err
	}
	n = 1
	// The rest of this block only: the next block would give this one
	// back to the kernel while its packets are still being used.
	b := c.block(c.cur)
	for n < len(pkts) && c.pkt < int(binary.NativeEndian.Uint32(b[blockNumPktsOff:])) {
		if ok, _ := c.next(0, &pkts[n]); !ok {
			break
		}
		n++
	}
	return n, err
}

// next writes the next packet into *p: filled in place, not returned,
// as a copy of the struct per packet showed in profiles.
func (c *PacketConn) next(timeout time.Duration, p *Packet) (ok bool, err error) {
	var deadline time.Time // set when first needed: time.Now costs per packet
	for {
		if c.closed.Load() {
			return false, os.ErrClosed
		}
		b := c.block(c.cur)
		st := c.status(b)
		if atomic.LoadUint32(st)&tpStatusUser == 0 {
			if timeout <= 0 {
				return false, nil
			}
			if deadline.IsZero() {
				deadline = time.Now().Add(timeout)
			} else if !time.Now().Before(deadline) {
				return false, nil
			}
			c.file.SetReadDeadline(deadline)
			var sockErr error
			err := c.rc.Read(func(uintptr) bool {
				if atomic.LoadUint32(st)&tpStatusUser != 0 {
					return true
				}
				// A wake-up with no block ready may be the socket's
				// error (the interface went down or away): ask once.
				sockErr = c.socketError()
				return sockErr != nil
			})
			if sockErr != nil {
				return false, sockErr
			}
			if errors.Is(err, os.ErrDeadlineExceeded) {
				if c.downSeen && c.ifaceGone() {
					return false, ErrInterfaceGone
				}
				return false, nil
			}
			if err != nil {
				if c.closed.Load() {
					return false, os.ErrClosed
				}
				return false, err
			}
			continue
		}
		n := int(binary.NativeEndian.Uint32(b[blockNumPktsOff:]))
		if c.pkt == 0 {
			c.off = int(binary.NativeEndian.Uint32(b[blockFirstOff:]))
		}
		if c.pkt >= n {
			// Done with this block: give it back to the kernel.
			atomic.StoreUint32(st, tpStatusKernel)
			c.cur = (c.cur + 1) % c.blocks
			c.pkt = 0
			continue
		}
		h := b[c.off:]
		ne := binary.NativeEndian
		next := int(ne.Uint32(h[0:]))
		sec, nsec := ne.Uint32(h[4:]), ne.Uint32(h[8:])
		snap, wire := int(ne.Uint32(h[12:])), int(ne.Uint32(h[16:]))
		status := ne.Uint32(h[20:])
		mac := int(ne.Uint16(h[24:]))
		vlanTCI := ne.Uint32(h[32:])
		sll := h[tpacket3HdrLen:]
		*p = Packet{
			Data:     h[mac : mac+snap],
			Length:   wire,
			Time:     time.Unix(int64(sec), int64(nsec)),
			Protocol: htons(ne.Uint16(sll[2:])),
			Ifindex:  int(int32(ne.Uint32(sll[4:]))),
			HAType:   ne.Uint16(sll[8:]),
			PktType:  sll[10],
			HALen:    min(sll[11], 8),
			HAddr:    [8]byte(sll[12:20]),
			VLAN:     -1,
		}
		p.Outgoing = p.PktType == unix.PACKET_OUTGOING
		if status&unix.TP_STATUS_VLAN_VALID != 0 {
			p.VLAN = int(vlanTCI & 0xffff)
		}
		c.pkt++
		c.off += next
		c.received++
		return true, nil
	}
}

// socketError reads and clears the socket's pending error (SO_ERROR): the
// kernel sets ENETDOWN on a packet socket whose interface went down or
// was removed.
func (c *PacketConn) socketError() error {
	e, err := unix.GetsockoptInt(c.fd, unix.SOL_SOCKET, unix.SO_ERROR)
	if err != nil || e == 0 {
		return nil
	}
	if syscall.Errno(e) == unix.ENETDOWN && c.ifindex != 0 {
		if c.ifaceGone() {
			return ErrInterfaceGone
		}
		// Removal takes the interface down first and reports nothing
		// more: look again on each idle wait from now on.
		c.downSeen = true
		return ErrInterfaceDown
	}
	return os.NewSyscallError("packet socket", syscall.Errno(e))
}

// ifaceGone asks, through the socket itself (so in its own namespace),
// whether the interface still has a name.
func (c *PacketConn) ifaceGone() bool {
	ifr, err := unix.NewIfreq("")
	if err != nil {
		return false
	}
	ifr.SetUint32(uint32(c.ifindex))
	return unix.IoctlIfreq(c.fd, unix.SIOCGIFNAME, ifr) == unix.ENODEV
}

// Stats returns the packets the kernel handed to the socket and those it
// dropped for want of room in the ring, since the socket was opened.
func (c *PacketConn) Stats() (received, dropped uint64, err error) {
	s, err := unix.GetsockoptTpacketStatsV3(c.fd, unix.SOL_PACKET, unix.PACKET_STATISTICS)
	if err != nil {
		return c.received, c.drops, os.NewSyscallError("getsockopt PACKET_STATISTICS", err)
	}
	// The kernel resets its counters on each read: keep the sums.
	c.drops += uint64(s.Drops)
	return c.received, c.drops, nil
}

// Dropped returns the packets the kernel dropped for want of room in the
// ring since the socket was opened. Unlike Stats it reads nothing the
// ring's reader writes, so it may be called while another goroutine
// reads; not, though, beside Stats.
func (c *PacketConn) Dropped() (uint64, error) {
	s, err := unix.GetsockoptTpacketStatsV3(c.fd, unix.SOL_PACKET, unix.PACKET_STATISTICS)
	if err != nil {
		return c.drops, os.NewSyscallError("getsockopt PACKET_STATISTICS", err)
	}
	c.drops += uint64(s.Drops)
	return c.drops, nil
}

// Close releases the ring and the socket. A Next waiting in another
// goroutine returns os.ErrClosed; the ring is unmapped once it has.
func (c *PacketConn) Close() error {
	if c.closed.Swap(true) {
		return nil
	}
	var err error
	if c.file != nil {
		err = c.file.Close() // wakes a Next waiting in the poller
	} else {
		err = unix.Close(c.fd)
	}
	// Next sees closed, or Close sees it running: both flags are
	// sequentially consistent atomics. A Next waiting in the poller was
	// woken by the file's close and returns at once.
	for c.inNext.Load() {
		time.Sleep(100 * time.Microsecond)
	}
	if c.ring != nil {
		unix.Munmap(c.ring)
		c.ring = nil
	}
	return err
}
