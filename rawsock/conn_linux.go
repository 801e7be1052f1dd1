package rawsock

import (
	"net/netip"
	"os"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// conn is what every socket of this package shares: reads with the
// kernel's metadata, sends with a per-packet TTL and a transmit
// timestamp, the error queue, deadlines and Close.
type conn struct {
	s      *sock
	family int
	raw    bool
	proto  int
	// txKey counts sends: the kernel numbers transmit timestamps the same
	// way (SOF_TIMESTAMPING_OPT_ID), so a late one is not taken for ours.
	txKey    uint32
	txStamps bool
	// chainKey numbers a chain's transmit timestamps (WriteChain), which
	// name their own number (SCM_TS_OPT_ID) and leave the kernel's count
	// as it was; it starts at 2^31, apart from that count.
	chainKey uint32

	errMu        sync.Mutex // serializes error-queue reads, guards errBuf
	errBuf       []byte
	mu           sync.Mutex
	errs         []queued     // ICMP errors from a ping socket's error queue
	nerrs        atomic.Int32 // len(errs), read without mu
	readDeadline atomic.Value // time.Time, for the poll(2) fallback
	closed       atomic.Bool
}

// configureCommon sets what every socket of this package has: kernel
// receive and transmit timestamps, the received TTL, and the Options. It
// binds to the source address, or to the unspecified one when bind is set.
func (c *conn) configureCommon(cfg Options, bind bool) error {
	s := c.s
	if err := s.setInt(unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1, "SO_TIMESTAMPNS"); err != nil {
		return err
	}
	// Software transmit timestamps, so an RTT starts when the packet
	// leaves for the wire rather than when we asked the kernel to send
	// it. Optional: without them the caller's clock is used.
	tx := unix.SOF_TIMESTAMPING_TX_SOFTWARE | unix.SOF_TIMESTAMPING_SOFTWARE |
		unix.SOF_TIMESTAMPING_OPT_TSONLY | unix.SOF_TIMESTAMPING_OPT_ID
	c.txStamps = !cfg.NoTxTimestamps && unix.SetsockoptInt(s.fd, unix.SOL_SOCKET, unix.SO_TIMESTAMPING, tx) == nil
	if c.family == 4 {
		// A raw IPv4 socket reads the IP header, TTL and all: a control
		// message would repeat it, at a cost on every packet.
		if !c.raw {
			if err := s.setInt(unix.IPPROTO_IP, unix.IP_RECVTTL, 1, "IP_RECVTTL"); err != nil {
				return err
			}
		}
	} else if err := s.setInt(unix.IPPROTO_IPV6, unix.IPV6_RECVHOPLIMIT, 1, "IPV6_RECVHOPLIMIT"); err != nil {
		return err
	}
	if cfg.RecvBuffer > 0 {
		// SO_RCVBUFFORCE passes rmem_max with CAP_NET_ADMIN; without it
		// the plain option is capped by the sysctl, which is still better.
		if unix.SetsockoptInt(s.fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, cfg.RecvBuffer) != nil {
			_ = unix.SetsockoptInt(s.fd, unix.SOL_SOCKET, unix.SO_RCVBUF, cfg.RecvBuffer)
		}
	}
	if cfg.Iface != "" {
		if err := bindToDevice(s.fd, cfg.Iface); err != nil {
			return err
		}
	}
	flags := []struct {
		on    bool
		level int
		opt   int
		value int
		name  string
	}{
		{cfg.Broadcast, unix.SOL_SOCKET, unix.SO_BROADCAST, 1, "SO_BROADCAST"},
		{cfg.DontRoute, unix.SOL_SOCKET, unix.SO_DONTROUTE, 1, "SO_DONTROUTE"},
		{cfg.Debug, unix.SOL_SOCKET, unix.SO_DEBUG, 1, "SO_DEBUG"},
		{cfg.SendBuffer > 0, unix.SOL_SOCKET, unix.SO_SNDBUF, cfg.SendBuffer, "SO_SNDBUF"},
		{cfg.NoMulticastLoop && c.family == 4, unix.IPPROTO_IP, unix.IP_MULTICAST_LOOP, 0, "IP_MULTICAST_LOOP"},
		{cfg.NoMulticastLoop && c.family == 6, unix.IPPROTO_IPV6, unix.IPV6_MULTICAST_LOOP, 0, "IPV6_MULTICAST_LOOP"},
	}
	for _, f := range flags {
		if f.on {
			if err := s.setInt(f.level, f.opt, f.value, f.name); err != nil {
				return err
			}
		}
	}
	if cfg.Mark != 0 {
		if err := s.setInt(unix.SOL_SOCKET, unix.SO_MARK, cfg.Mark, "SO_MARK"); err != nil {
			return err
		}
	}
	if cfg.TTL > 0 {
		if err := c.SetTTL(cfg.TTL); err != nil {
			return err
		}
	}
	if cfg.TOS != 0 {
		var err error
		if c.family == 4 {
			err = s.setInt(unix.IPPROTO_IP, unix.IP_TOS, cfg.TOS, "IP_TOS")
		} else {
			err = s.setInt(unix.IPPROTO_IPV6, unix.IPV6_TCLASS, cfg.TOS, "IPV6_TCLASS")
		}
		if err != nil {
			return err
		}
	}
	if cfg.PMTU != "" {
		if err := c.setPMTU(cfg.PMTU); err != nil {
			return err
		}
	}
	if cfg.Source.IsValid() || bind {
		src := cfg.Source
		if !src.IsValid() {
			src = netip.IPv4Unspecified()
			if c.family == 6 {
				src = netip.IPv6Unspecified()
			}
		}
		if err := unix.Bind(s.fd, sockaddr(src, 0)); err != nil {
			return os.NewSyscallError("bind "+src.String(), err)
		}
	}
	return nil
}
